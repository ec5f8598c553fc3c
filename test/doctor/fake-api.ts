/** A local HTTP server on 127.0.0.1 answering the Kubernetes API paths a test routes, and a kubeconfig pointing at it. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export type Routes = Record<string, unknown>;

export const b64 = (s: string) => Buffer.from(s).toString('base64');
export const list = (kind: string, items: unknown[]) => ({ apiVersion: 'v1', kind, metadata: {}, items });

export function node(name: string, o: { labels?: Record<string, string>; taints?: unknown[]; capacity?: Record<string, string>; allocatable?: Record<string, string> }) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: { taints: o.taints ?? [] },
    status: { capacity: { cpu: '8', ...o.capacity }, allocatable: { cpu: '8', ...(o.allocatable ?? o.capacity) } },
  };
}
export async function fakeApi(routes: Routes): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const key = u.pathname + (u.searchParams.get('labelSelector') ? `?labelSelector=${u.searchParams.get('labelSelector')}` : '');
    seen.push(key);
    const body = routes[key] ?? routes[u.pathname];
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${u.pathname} not found` }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

export function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
    currentContext: 'fake',
  });
  return kc;
}
