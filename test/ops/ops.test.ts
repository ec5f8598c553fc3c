/** src/ops: the one listener, the health paths and the certificate-files loader, over real sockets and files. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { healthReply } from '../../src/ops/health.js';
import { listen } from '../../src/ops/listen.js';
import { silentLogger } from '../../src/ops/log.js';
import { startOpsServer } from '../../src/ops/server.js';
import { loadCertificateFiles } from '../../src/ops/tls-reload.js';
import { generateWebhookCertificates, writeWebhookCertificates } from '../../src/webhook/certs.js';
import { startWebhookServer } from '../../src/webhook/server.js';

interface Reply {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

function get(target: string | { socketPath: string }, path: string, opts: { ca?: string; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const base = typeof target === 'string' ? new URL(path, target) : undefined;
    const send = base?.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      base ? { hostname: base.hostname, port: base.port, path, method: opts.method ?? 'GET', agent: false, ...(opts.ca ? { ca: opts.ca } : {}) } : { socketPath: (target as { socketPath: string }).socketPath, path, method: opts.method ?? 'GET', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-sgx-ops-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('listen()', () => {
  test('serves HTTP on a unix socket with the file mode asked for; close() removes the socket', async () => {
    const path = join(dir, 'http.sock');
    const l = await listen({ address: { path, mode: 0o600 }, handler: (_req, res) => res.end('hi') });
    assert.equal(l.url, `unix:${path}`);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal((await get({ socketPath: path }, '/')).body, 'hi');
    await l.close();
    assert.throws(() => statSync(path), /ENOENT/);
  });

  test('a malformed address names the flag; a taken port rejects with the socket error', async () => {
    await assert.rejects(listen({ address: 'nonsense', flag: '--listen', handler: () => {} }), /--listen: expected HOST:PORT/);
    const a = await listen({ address: '127.0.0.1:0', handler: (_req, res) => res.end() });
    await assert.rejects(listen({ address: `127.0.0.1:${new URL(a.url).port}`, handler: () => {} }), /EADDRINUSE/);
    await a.close();
  });

  test('keep-alive is the parameter given', async () => {
    const l = await listen({ address: '127.0.0.1:0', handler: (_req, res) => res.end(), keepAliveTimeoutMs: 120_000 });
    assert.equal(l.server.keepAliveTimeout, 120_000);
    await l.close();
  });

  test('with a grace period, close() lets an in-flight request finish; without one it cuts it', async () => {
    const make = (graceMs: number) => {
      let release!: () => void;
      const inFlight = new Promise<void>((r) => (release = r));
      let arrived!: () => void;
      const arrivedP = new Promise<void>((r) => (arrived = r));
      return listen({
        address: '127.0.0.1:0',
        graceMs,
        handler: (_req, res) => {
          arrived();
          void inFlight.then(() => res.end('done'));
        },
      }).then((l) => ({ l, release, arrived: arrivedP }));
    };
    const graceful = await make(60_000);
    const reply = get(graceful.l.url, '/');
    await graceful.arrived;
    const closed = graceful.l.close();
    graceful.release();
    assert.equal((await reply).body, 'done');
    await closed;

    const abrupt = await make(0);
    const cut = get(abrupt.l.url, '/');
    await abrupt.arrived;
    await abrupt.l.close();
    await assert.rejects(cut, /socket hang up|ECONNRESET/);
    abrupt.release();
  });
});

describe('health paths', () => {
  test('/readyz says why not; /status failures are a 500, not a crash; other paths are not health paths', async () => {
    const registry = new Registry();
    const src = { registry, ready: () => ({ ready: false, reason: 'warming up' }), status: () => { throw new Error('boom'); } };
    assert.deepEqual(await healthReply('/readyz', src), { status: 503, contentType: 'text/plain; charset=utf-8', body: 'not ready: warming up\n' });
    assert.equal((await healthReply('/status', src))?.status, 500);
    assert.equal(healthReply('/mutate', src), undefined);
    assert.equal(healthReply('/status', { registry, ready: () => true }), undefined);
  });

  test('the ops server answers them over HTTP and refuses other methods', async () => {
    let ready = true;
    const ops = await startOpsServer({ listen: '127.0.0.1:0', registry: new Registry(), ready: () => ready, status: () => ({ a: 1 }) });
    try {
      assert.equal((await get(ops.url, '/healthz')).body, 'ok\n');
      assert.equal((await get(ops.url, '/readyz')).status, 200);
      ready = false;
      assert.deepEqual([(await get(ops.url, '/readyz')).status, (await get(ops.url, '/readyz')).body], [503, 'not ready\n']);
      assert.deepEqual(JSON.parse((await get(ops.url, '/status')).body), { a: 1 });
      assert.equal((await get(ops.url, '/metrics', { method: 'POST' })).status, 405);
      assert.equal((await get(ops.url, '/nope')).status, 404);
    } finally {
      await ops.close();
    }
  });
});

describe('certificate files', () => {
  test('a key that does not belong to the certificate is refused with the code the component documents, naming both files', async () => {
    const a = await writeWebhookCertificates(join(dir, 'a'), await generateWebhookCertificates({ dnsNames: ['localhost'] }));
    const b = await writeWebhookCertificates(join(dir, 'b'), await generateWebhookCertificates({ dnsNames: ['localhost'] }));
    await assert.rejects(
      loadCertificateFiles({ certFile: a.cert, keyFile: b.key, errorCode: 'CONFIG_INVALID', logger: silentLogger }),
      (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && e.message.includes(a.cert) && e.message.includes(b.key) && /mismatch|does not belong/.test(e.message),
    );
    const ok = await loadCertificateFiles({ certFile: a.cert, keyFile: a.key, errorCode: 'WEBHOOK_TLS_INVALID', logger: silentLogger });
    const registry = new Registry();
    ok.exportMetrics(registry, 'kube_sgx_test');
    assert.match(await registry.metrics(), new RegExp(`kube_sgx_test_certificate_not_after_seconds ${ok.notAfterSeconds}`));
    ok.close();
  });

  test('the webhook is not ready while serving an expired certificate', async () => {
    const now = new Date(Date.now() - 3 * 86_400_000);
    const bundle = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], now, days: 1 });
    const files = await writeWebhookCertificates(join(dir, 'expired'), bundle);
    const server = await startWebhookServer({ listen: '127.0.0.1:0', tlsCertFile: files.cert, tlsKeyFile: files.key });
    try {
      assert.deepEqual(server.ready(), { ready: false, reason: 'the serving certificate has expired' });
      const fresh = await writeWebhookCertificates(join(dir, 'fresh'), await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }));
      const ok = await startWebhookServer({ listen: '127.0.0.1:0', tlsCertFile: fresh.cert, tlsKeyFile: fresh.key });
      const probe = await get(ok.url, '/readyz', { ca: readFileSync(fresh.caCert, 'utf8') });
      assert.equal(probe.status, 200);
      const closing = ok.close();
      assert.deepEqual(ok.ready(), { ready: false, reason: 'shutting down' });
      await closing;
    } finally {
      await server.close();
    }
  });
});
