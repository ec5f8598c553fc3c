/**
 * A Kubernetes API server on 127.0.0.1 answering exactly the Secret paths
 * the kubernetes store uses (create, read, replace with resourceVersion
 * conflicts, delete, list by label selector), with in-memory state.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

interface Obj {
  metadata: { name: string; namespace: string; resourceVersion: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface FakeKube {
  url: string;
  kubeConfig: KubeConfig;
  objects: Map<string, Obj>;
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeKube(): Promise<FakeKube> {
  const objects = new Map<string, Obj>();
  const requests: string[] = [];
  let rv = 1;
  const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(`${req.method} ${url.pathname}`);
      const send = (code: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.headers.authorization !== 'Bearer fake-token') return send(401, status(401, 'Unauthorized', 'no token'));
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(url.pathname);
      if (!m) return send(404, status(404, 'NotFound', `no path ${url.pathname}`));
      const ns = m[1]!;
      const name = m[2];
      const key = (n: string) => `${ns}/${n}`;
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj) : undefined;
      if (req.method === 'POST' && !name && body) {
        const n = body.metadata.name;
        if (objects.has(key(n))) return send(409, status(409, 'AlreadyExists', `secrets "${n}" already exists`));
        const obj = { ...body, metadata: { ...body.metadata, namespace: ns, resourceVersion: String(rv++) } };
        objects.set(key(n), obj);
        return send(201, obj);
      }
      if (req.method === 'GET' && !name) {
        const sel = (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((s) => s.split('='));
        const items = [...objects.values()].filter((o) => o.metadata.namespace === ns && sel.every(([k, v]) => o.metadata.labels?.[k!] === v));
        return send(200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
      }
      if (!name) return send(405, status(405, 'MethodNotAllowed', 'no'));
      const cur = objects.get(key(name));
      if (req.method === 'GET') return cur ? send(200, cur) : send(404, status(404, 'NotFound', `secrets "${name}" not found`));
      if (req.method === 'DELETE') {
        if (!cur) return send(404, status(404, 'NotFound', `secrets "${name}" not found`));
        objects.delete(key(name));
        return send(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
      if (req.method === 'PUT' && body) {
        if (!cur) return send(404, status(404, 'NotFound', `secrets "${name}" not found`));
        if (body.metadata.resourceVersion !== cur.metadata.resourceVersion) return send(409, status(409, 'Conflict', 'the object has been modified'));
        const obj = { ...body, metadata: { ...body.metadata, namespace: ns, resourceVersion: String(rv++) } };
        objects.set(key(name), obj);
        return send(200, obj);
      }
      send(405, status(405, 'MethodNotAllowed', 'no'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'fake-token' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u', namespace: 'kube-sgx' }],
    currentContext: 'c',
  });
  return {
    url,
    kubeConfig,
    objects,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
