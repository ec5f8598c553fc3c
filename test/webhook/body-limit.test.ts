/**
 * Issue 15 §2: every review the API server can send is read, and a body over
 * the limit is answered 413 (never a reset the client sees as EPIPE), while
 * concurrent large bodies share a bounded buffer budget (429 beyond it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import type { WebhookCertBundle } from '../../src/webhook/certs.js';
import { MAX_REVIEW_BODY_BYTES, startWebhookServer, type WebhookServer } from '../../src/webhook/server.js';
import { parseWebhookConfig } from '../../src/webhook/index.js';
import { call, container, pod, review, testCertificates, type Obj } from './helpers.js';

/** A pod whose JSON is about `bytes` long: many env vars, as a large real pod would have. */
function bigPod(bytes: number): Obj {
  const env: Obj[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const e = { name: `VAR_${i}`, value: 'x'.repeat(200) };
    size += JSON.stringify(e).length + 1;
    env.push(e);
  }
  return pod([container('app', { 'sgx.intel.com/epc': '8Mi' }, undefined, { env })]);
}

describe('webhook review body limits', () => {
  let cleanup: () => Promise<void>;
  let certs: WebhookCertBundle;
  let big: WebhookServer;
  let small: WebhookServer;

  before(async () => {
    const t = await testCertificates('kube-sgx-webhook-body-');
    ({ certs, cleanup } = t);
    const files = { listen: '127.0.0.1:0', tlsCertFile: t.tlsCertFile, tlsKeyFile: t.tlsKeyFile, config: parseWebhookConfig({}) };
    big = await startWebhookServer(files);
    // The old 1 MiB limit, and a budget that fits one such body only.
    small = await startWebhookServer({ ...files, maxBodyBytes: 1024 * 1024, maxBufferedBytes: 1024 * 1024 });
  });
  after(async () => {
    await big.close();
    await small.close();
    await cleanup();
  });

  test('the default limit holds a pod at etcd’s 1.5 MiB and far beyond', () => {
    assert.ok(MAX_REVIEW_BODY_BYTES >= 4 * 1.5 * 1024 * 1024);
  });

  test('a 1.5 MiB pod (etcd’s request limit) is reviewed and patched, not refused', async () => {
    const body = JSON.stringify(review(bigPod(1.5 * 1024 * 1024)));
    assert.ok(body.length > 1.5 * 1024 * 1024);
    const r = await call(big.url, certs.caCertPem, '/mutate', { body });
    assert.equal(r.status, 200);
    const resp = (JSON.parse(r.body) as { response: { allowed: boolean; patch?: string } }).response;
    assert.equal(resp.allowed, true);
    assert.ok(resp.patch, 'the SGX pod got its patch');
    const v = await call(big.url, certs.caCertPem, '/validate', { body, chunked: true });
    assert.equal(v.status, 200);
  });

  test('20 concurrent 1.5 MiB bodies over a 1 MiB limit: every one gets 413, none a reset', async () => {
    const body = Buffer.alloc(1.5 * 1024 * 1024, 0x20);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => call(small.url, certs.caCertPem, '/mutate', { body })));
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.deepEqual(failures, [], 'no EPIPE/ECONNRESET');
    for (const r of results) {
      const reply = (r as PromiseFulfilledResult<{ status: number; body: string }>).value;
      // 413 for the size; a body admitted past the shared budget is 413 too (size is checked first).
      assert.equal(reply.status, 413);
      assert.equal((JSON.parse(reply.body) as { error: { code: string } }).error.code, 'WEBHOOK_REVIEW_TOO_LARGE');
    }
    const chunked = await call(small.url, certs.caCertPem, '/mutate', { body, chunked: true });
    assert.equal(chunked.status, 413);
    assert.match(chunked.body, /exceeds the 1048576-byte limit/);
    const m = await call(small.url, certs.caCertPem, '/metrics', { method: 'GET' });
    assert.match(m.body, /kube_sgx_webhook_reviews_total\{endpoint="mutate",outcome="too_large"\} 21/);
  });

  test('after a 413 the same connection serves the next request', async () => {
    const u = new URL(small.url);
    const text = await new Promise<string>((resolve, reject) => {
      const sock = connect({ host: u.hostname, port: Number(u.port), ca: certs.caCertPem }, () => {
        const body = Buffer.alloc(1.5 * 1024 * 1024, 0x20);
        sock.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
        sock.write(body);
        sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      let got = '';
      sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 413 /);
    assert.match(text, /HTTP\/1\.1 200 [\s\S]*ok\n$/);
  });

  test('large bodies beyond the shared budget wait for a retry (429), one always proceeds', async () => {
    const u = new URL(small.url);
    const size = 800 * 1024;
    // First client: declares 800 KiB and sends half, holding its reservation.
    const holder = connect({ host: u.hostname, port: Number(u.port), ca: certs.caCertPem });
    await new Promise<void>((resolve) => holder.once('secureConnect', () => resolve()));
    let holderReply = '';
    holder.on('data', (c: Buffer) => (holderReply += c.toString('latin1')));
    const holderDone = new Promise<void>((resolve) => holder.on('end', () => resolve()));
    holder.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${size}\r\n\r\n`);
    holder.write(Buffer.alloc(size / 2, 0x20));
    // Wait (by event, not time) until the server holds the first request's reservation.
    for (;;) {
      const m = await call(small.url, certs.caCertPem, '/metrics', { method: 'GET' });
      if (new RegExp(`kube_sgx_webhook_review_bytes_buffered ${size}\\b`).test(m.body)) break;
    }
    const second = await call(small.url, certs.caCertPem, '/mutate', { body: Buffer.alloc(size, 0x20) });
    assert.equal(second.status, 429);
    assert.equal((JSON.parse(second.body) as { error: { code: string } }).error.code, 'WEBHOOK_BUSY');
    // The first completes normally: its body is not JSON, a 400 about the body, not the budget.
    holder.write(Buffer.alloc(size / 2, 0x20));
    await holderDone;
    holder.destroy();
    assert.match(holderReply, /^HTTP\/1\.1 400 [\s\S]*not JSON/);
    // With the budget free again, the same size is read.
    const third = await call(small.url, certs.caCertPem, '/mutate', { body: Buffer.alloc(size, 0x20) });
    assert.equal(third.status, 400);
    assert.match(third.body, /not JSON/);
    const m = await call(small.url, certs.caCertPem, '/metrics', { method: 'GET' });
    assert.match(m.body, /kube_sgx_webhook_review_bytes_buffered 0\b/);
  });

  test('the server is healthy afterwards', async () => {
    assert.equal((await call(small.url, certs.caCertPem, '/healthz', { method: 'GET' })).status, 200);
    assert.equal((await call(big.url, certs.caCertPem, '/healthz', { method: 'GET' })).status, 200);
  });
});
