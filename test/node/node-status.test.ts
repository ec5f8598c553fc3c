/**
 * Node EPC capacity and labels against a local HTTP server that answers the
 * API paths the updater uses, with the patch bodies asserted exactly.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { NodeStatusUpdater, nodeFactsFor, parseQuantity } from '../../src/node/node-status.js';
import { discoverSgx } from '../../src/node/discovery.js';
import { startNodeAgent } from '../../src/nodeagent/agent.js';
import { ENCLAVE_RESOURCE } from '../../src/names.js';
import { makeFakeHost, tempDir, removeDir, MiB } from './fake-host.js';

interface Seen {
  method: string;
  path: string;
  contentType: string | undefined;
  auth: string | undefined;
  body: string;
}

interface FakeNode {
  metadata: { name: string; labels: Record<string, string> };
  status: { capacity: Record<string, string>; allocatable: Record<string, string> };
}

/** A tiny API server for one Node; it applies the patches it receives. */
class FakeApiServer {
  seen: Seen[] = [];
  node: FakeNode = { metadata: { name: 'n1', labels: {} }, status: { capacity: { cpu: '8' }, allocatable: { cpu: '8' } } };
  failNext = 0;
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const path = (req.url ?? '').split('?')[0];
        this.seen.push({ method: req.method ?? '', path, contentType: req.headers['content-type'], auth: req.headers.authorization, body });
        const send = (code: number, obj: unknown) => {
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(JSON.stringify(obj));
        };
        if (this.failNext > 0) {
          this.failNext--;
          return send(500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'etcd on fire', code: 500 });
        }
        if (path !== '/api/v1/nodes/n1' && path !== '/api/v1/nodes/n1/status') {
          return send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
        }
        if (req.method === 'GET') return send(200, { apiVersion: 'v1', kind: 'Node', ...this.node });
        if (req.method === 'PATCH' && path.endsWith('/status')) {
          for (const op of JSON.parse(body) as { op: string; path: string; value: string }[]) {
            const [, , field, key] = op.path.split('/');
            (this.node.status as Record<string, Record<string, string>>)[field][key.replace(/~1/g, '/').replace(/~0/g, '~')] = op.value;
          }
          return send(200, { apiVersion: 'v1', kind: 'Node', ...this.node });
        }
        if (req.method === 'PATCH') {
          const patch = JSON.parse(body) as { metadata: { labels: Record<string, string | null> } };
          for (const [k, v] of Object.entries(patch.metadata.labels)) {
            if (v === null) delete this.node.metadata.labels[k];
            else this.node.metadata.labels[k] = v;
          }
          return send(200, { apiVersion: 'v1', kind: 'Node', ...this.node });
        }
        send(405, {});
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  patches(): Seen[] {
    return this.seen.filter((s) => s.method === 'PATCH');
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

let dir: string;
let api: FakeApiServer;
let kubeconfig: string;

before(async () => {
  dir = await tempDir();
  api = new FakeApiServer();
  await api.start();
  kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: t\n  cluster:\n    server: ${api.url}\n    insecure-skip-tls-verify: true`, // client-node refuses plain HTTP otherwise (loopback test server)
      'users:',
      '- name: u\n  user:\n    token: test-token',
      'contexts:',
      '- name: c\n  context:\n    cluster: t\n    user: u',
      'current-context: c',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await api.close();
  await removeDir(dir);
});
beforeEach(() => {
  api.seen = [];
  api.node = { metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' } }, status: { capacity: { cpu: '8' }, allocatable: { cpu: '8' } } };
});

async function sgxHost(name: string) {
  const root = join(dir, name);
  await mkdir(root);
  return makeFakeHost(root, { epc: { 0: 64 * MiB, 1: 32 * MiB }, devices: ['dev/sgx_enclave', 'dev/sgx_provision'] });
}

describe('NodeStatusUpdater', () => {
  test('first sync: exact label merge patch and EPC JSON patch on the status subresource', async () => {
    const inv = await discoverSgx(await sgxHost('a'));
    const u = new NodeStatusUpdater({ nodeName: 'n1', kubeconfig });
    await u.setDesired(nodeFactsFor(inv));
    assert.equal(u.lastError, undefined);
    const p = api.patches();
    assert.equal(p.length, 2);
    assert.equal(p[0].path, '/api/v1/nodes/n1');
    assert.equal(p[0].contentType, 'application/merge-patch+json');
    assert.equal(
      p[0].body,
      JSON.stringify({
        metadata: {
          labels: {
            'sgx.intel.com/capable': 'true',
            'intel.feature.node.kubernetes.io/sgx': 'true',
            'kube-sgx.io/sgx-epc-mib': '96',
            'kube-sgx.io/sgx-flc': 'true',
          },
        },
      }),
    );
    assert.equal(p[1].path, '/api/v1/nodes/n1/status');
    assert.equal(p[1].contentType, 'application/json-patch+json');
    assert.equal(
      p[1].body,
      '[{"op":"add","path":"/status/capacity/sgx.intel.com~1epc","value":"100663296"},{"op":"add","path":"/status/allocatable/sgx.intel.com~1epc","value":"100663296"}]',
    );
    assert.equal(p[1].auth, 'Bearer test-token');
    assert.equal(api.node.status.capacity['sgx.intel.com/epc'], '100663296');
  });

  test('nothing to do → no patch; the API server\'s canonical "96Mi" counts as equal', async () => {
    const inv = await discoverSgx(await sgxHost('b'));
    const u = new NodeStatusUpdater({ nodeName: 'n1', kubeconfig });
    await u.setDesired(nodeFactsFor(inv));
    api.node.status.capacity['sgx.intel.com/epc'] = '96Mi';
    api.node.status.allocatable['sgx.intel.com/epc'] = '96Mi';
    api.seen = [];
    await u.sync();
    assert.deepEqual(api.seen.map((s) => s.method), ['GET']);
  });

  test('kubelet resets capacity → the periodic check patches it again', async () => {
    const inv = await discoverSgx(await sgxHost('c'));
    const u = new NodeStatusUpdater({ nodeName: 'n1', kubeconfig, intervalMs: 50 });
    await u.setDesired(nodeFactsFor(inv));
    u.start();
    try {
      delete api.node.status.capacity['sgx.intel.com/epc'];
      delete api.node.status.allocatable['sgx.intel.com/epc'];
      api.seen = [];
      // Polls every 50 ms; the deadline only turns a hang into a failure on a loaded machine.
      const t0 = Date.now();
      while (api.node.status.capacity['sgx.intel.com/epc'] === undefined && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
      assert.equal(api.node.status.capacity['sgx.intel.com/epc'], '100663296');
      assert.deepEqual(api.patches().map((s) => s.path), ['/api/v1/nodes/n1/status'], 'labels untouched');
    } finally {
      await u.stop();
    }
  });

  test('SGX lost: our labels removed, EPC set to 0', async () => {
    const u = new NodeStatusUpdater({ nodeName: 'n1', kubeconfig });
    await u.setDesired(nodeFactsFor(await discoverSgx(await sgxHost('d'))));
    api.seen = [];
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await u.setDesired(nodeFactsFor(await discoverSgx(await makeFakeHost(empty, { flags: ['fpu'] }))));
    const p = api.patches();
    assert.equal(
      p[0].body,
      JSON.stringify({ metadata: { labels: { 'sgx.intel.com/capable': null, 'intel.feature.node.kubernetes.io/sgx': null, 'kube-sgx.io/sgx-epc-mib': null, 'kube-sgx.io/sgx-flc': 'false' } } }),
    );
    assert.equal(p[1].body, '[{"op":"add","path":"/status/capacity/sgx.intel.com~1epc","value":"0"},{"op":"add","path":"/status/allocatable/sgx.intel.com~1epc","value":"0"}]');
    assert.deepEqual(api.node.metadata.labels, { 'kubernetes.io/hostname': 'n1', 'kube-sgx.io/sgx-flc': 'false' });
  });

  test('API errors are recorded, not thrown; the next sync succeeds', async () => {
    const u = new NodeStatusUpdater({ nodeName: 'n1', kubeconfig });
    api.failNext = 1;
    await u.setDesired(nodeFactsFor(await discoverSgx(await sgxHost('e'))));
    assert.equal(u.lastSyncOk, false);
    assert.ok(u.lastError);
    await u.sync();
    assert.equal(u.lastSyncOk, true);
    assert.equal(api.node.status.capacity['sgx.intel.com/epc'], '100663296');
  });

  test('bad configuration is a typed error', () => {
    assert.throws(() => new NodeStatusUpdater({ nodeName: '', kubeconfig }), { code: 'NODE_NAME_REQUIRED' });
    assert.throws(() => new NodeStatusUpdater({ nodeName: 'n1', kubeconfig: join(dir, 'missing') }), { code: 'KUBECONFIG_INVALID' });
  });

  test('parseQuantity', () => {
    assert.equal(parseQuantity('96Mi'), 96 * MiB);
    assert.equal(parseQuantity('100663296'), 100663296);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('2k'), 2000);
    assert.equal(parseQuantity('junk'), null);
    assert.equal(parseQuantity(undefined), null);
  });
});

describe('node agent and the Node', () => {
  test('agent patches labels and EPC; --no-node-update sends nothing', async () => {
    const hostRoot = await sgxHost('f');
    const kubeletDir = join(dir, 'kf');
    const agent = await startNodeAgent({ hostRoot, kubeletDir, nodeName: 'n1', kubeconfig, resources: [ENCLAVE_RESOURCE, 'sgx.intel.com/epc'] });
    try {
      assert.equal(api.node.status.capacity['sgx.intel.com/epc'], '100663296');
      assert.equal(api.node.metadata.labels['sgx.intel.com/capable'], 'true');
      assert.deepEqual(agent.status().nodeUpdate, { enabled: true, ok: true });
      api.seen = [];
      await agent.rediscover();
      assert.deepEqual(api.seen, [], 'an unchanged scan does not touch the API server');
      assert.match(await agent.metrics.registry.metrics(), /kube_sgx_node_api_patches_total 2/);
    } finally {
      await agent.stop();
    }
    api.seen = [];
    const quiet = await startNodeAgent({ hostRoot, kubeletDir, nodeUpdate: false, nodeName: 'n1', kubeconfig, resources: [ENCLAVE_RESOURCE] });
    await quiet.rediscover();
    await quiet.stop();
    assert.deepEqual(api.seen, []);
  });

  test('without sgx.intel.com/epc in --resources only labels are patched', async () => {
    const hostRoot = await sgxHost('g');
    const agent = await startNodeAgent({ hostRoot, kubeletDir: join(dir, 'kg'), nodeName: 'n1', kubeconfig, resources: [ENCLAVE_RESOURCE] });
    await agent.stop();
    assert.deepEqual(api.patches().map((p) => p.path), ['/api/v1/nodes/n1']);
  });
});
