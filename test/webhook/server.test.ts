import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsonpatch from 'fast-json-patch';
import { generateWebhookCertificates, writeWebhookCertificates, type WebhookCertBundle } from '../../src/webhook/certs.js';
import { startWebhookServer, type WebhookServer } from '../../src/webhook/server.js';
import { defaultWebhookConfig, mutatePod, parseWebhookConfig } from '../../src/webhook/index.js';
import { call, container, pod, review, type Obj } from './helpers.js';

async function writeAtomically(file: string, data: string): Promise<void> {
  await writeFile(file + '.tmp', data);
  await rename(file + '.tmp', file);
}

describe('webhook HTTPS server', () => {
  let dir: string;
  let certs: WebhookCertBundle;
  let server: WebhookServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kube-sgx-webhook-'));
    certs = await generateWebhookCertificates({ dnsNames: ['kube-sgx-webhook.kube-sgx.svc', 'localhost'], ipAddresses: ['127.0.0.1'] });
    await writeWebhookCertificates(dir, certs);
    server = await startWebhookServer({
      listen: '127.0.0.1:0',
      tlsCertFile: join(dir, 'tls.crt'),
      tlsKeyFile: join(dir, 'tls.key'),
      config: parseWebhookConfig({ maxEpcPerNode: '64Mi' }),
      certPollMs: 200,
    });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('serves a certificate made by `webhook certs` with the service SAN', () => {
    const cert = new X509Certificate(certs.certPem);
    assert.match(cert.subjectAltName ?? '', /DNS:kube-sgx-webhook\.kube-sgx\.svc/);
    assert.ok(cert.checkIssued(new X509Certificate(certs.caCertPem)));
    assert.ok(cert.verify(new X509Certificate(certs.caCertPem).publicKey));
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test('/mutate end to end: the patch applies to the pod and re-review is empty', async () => {
    const p = pod([container('app', { 'kubernetes.azure.com/sgx_epc_mem_in_MiB': '16' })], { annotations: { 'kube-sgx.io/quote-provider': 'aesmd' } });
    const r = await call(server.url, certs.caCertPem, '/mutate', { body: JSON.stringify(review(p)) });
    assert.equal(r.status, 200);
    const resp = (JSON.parse(r.body) as { response: { allowed: boolean; patch: string; uid: string } }).response;
    assert.equal(resp.allowed, true);
    const ops = JSON.parse(Buffer.from(resp.patch, 'base64').toString()) as jsonpatch.Operation[];
    const out = jsonpatch.applyPatch(structuredClone(p), ops, true, false).newDocument as Obj;
    assert.deepEqual(mutatePod(out, defaultWebhookConfig), []);
    const again = await call(server.url, certs.caCertPem, '/mutate', { body: JSON.stringify(review(out)) });
    assert.equal((JSON.parse(again.body) as { response: Obj }).response.patch, undefined);
    const v = await call(server.url, certs.caCertPem, '/validate', { body: JSON.stringify(review(out)) });
    assert.equal((JSON.parse(v.body) as { response: { allowed: boolean } }).response.allowed, true);
  });

  test('/validate denies with a message', async () => {
    const p = pod([container('app', { 'sgx.intel.com/epc': '128Mi', 'sgx.intel.com/enclave': '1' })]);
    const r = await call(server.url, certs.caCertPem, '/validate', { body: JSON.stringify(review(p)) });
    assert.equal(r.status, 200);
    const resp = (JSON.parse(r.body) as { response: { allowed: boolean; status: { message: string } } }).response;
    assert.equal(resp.allowed, false);
    assert.match(resp.status.message, /largest SGX node offers 64Mi/);
  });

  test('bad input is 400 with a reason, and the server keeps serving', async () => {
    const cases: Array<[string | Buffer, RegExp, boolean?]> = [
      ['{"apiVersion":', /not JSON/],
      ['', /empty body/],
      [JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }), /apiVersion must be admission.k8s.io\/v1/],
      [JSON.stringify(review(pod([]), { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } })), /only handles pods/],
      [JSON.stringify(review(undefined)), /request.object is missing/],
      [Buffer.alloc(3 * 1024 * 1024, 0x20), /not JSON/, true],
    ];
    for (const [body, re, chunked] of cases) {
      const r = await call(server.url, certs.caCertPem, '/mutate', { body, chunked });
      assert.equal(r.status, 400, String(re));
      assert.match(r.body, re);
      assert.match((JSON.parse(r.body) as { error: { code: string } }).error.code, /WEBHOOK_BAD_REVIEW/);
    }
    assert.equal((await call(server.url, certs.caCertPem, '/mutate', { method: 'GET' })).status, 405);
    assert.equal((await call(server.url, certs.caCertPem, '/nope', { method: 'GET' })).status, 404);
    assert.equal((await call(server.url, certs.caCertPem, '/healthz', { method: 'GET' })).status, 200);
    assert.equal((await call(server.url, certs.caCertPem, '/readyz', { method: 'GET' })).status, 200);
    const m = await call(server.url, certs.caCertPem, '/metrics', { method: 'GET' });
    assert.match(m.body, /kube_sgx_webhook_reviews_total\{endpoint="mutate",outcome="bad_request"\} 6/);
    assert.match(m.body, /kube_sgx_webhook_certificate_not_after_seconds \d+/);
  });

  test('a client that disconnects mid-body does not wedge or crash the server', async () => {
    const { connect } = await import('node:tls');
    const u = new URL(server.url);
    await new Promise<void>((resolve, reject) => {
      const sock = connect({ host: u.hostname, port: Number(u.port), ca: certs.caCertPem }, () => {
        sock.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"apiVersion":');
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 50);
      });
      sock.on('error', reject);
    });
    const r = await call(server.url, certs.caCertPem, '/healthz', { method: 'GET' });
    assert.equal(r.status, 200);
    const m = await call(server.url, certs.caCertPem, '/metrics', { method: 'GET' });
    assert.match(m.body, /kube_sgx_webhook_reviews_total\{endpoint="mutate",outcome="bad_request"\} 7/, 'the aborted request was settled as a bad request');
  });

  test('certificate rotation is picked up without a restart; a half-written rotation is not', async () => {
    const oldSerial = (await call(server.url, certs.caCertPem, '/healthz', { method: 'GET' })).peerSerial;
    const next = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    // Half-written: new certificate, old key — must keep serving the old pair.
    await writeAtomically(join(dir, 'tls.crt'), next.certPem);
    assert.equal(await server.reloadCertificates(), false);
    assert.equal((await call(server.url, certs.caCertPem, '/healthz', { method: 'GET' })).peerSerial, oldSerial);
    await writeAtomically(join(dir, 'tls.key'), next.keyPem);
    // Picked up by the file watch / poll, not by an explicit call.
    const deadline = Date.now() + 30_000; // only turns a hang into a failure; the loop ends as soon as the new pair is served
    let serial = oldSerial;
    while (Date.now() < deadline) {
      try {
        serial = (await call(server.url, next.caCertPem, '/healthz', { method: 'GET' })).peerSerial;
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.notEqual(serial, oldSerial);
    assert.equal(serial.toLowerCase(), new X509Certificate(next.certPem).serialNumber.toLowerCase());
    await assert.rejects(call(server.url, certs.caCertPem, '/healthz', { method: 'GET' }), /certificate|self.signed|verify/i);
    const m = await call(server.url, next.caCertPem, '/metrics', { method: 'GET' });
    assert.match(m.body, /kube_sgx_webhook_certificate_reloads_total\{result="ok"\} 1/);
    certs = next;
  });
});

describe('webhook server start-up errors', () => {
  test('missing or mismatched cert/key is a typed error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-webhook-'));
    try {
      await assert.rejects(
        startWebhookServer({ listen: '127.0.0.1:0', tlsCertFile: join(dir, 'no.crt'), tlsKeyFile: join(dir, 'no.key') }),
        (e: unknown) => (e as { code?: string }).code === 'WEBHOOK_TLS_INVALID',
      );
      const a = await generateWebhookCertificates({ dnsNames: ['a'], keyType: 'rsa' });
      const b = await generateWebhookCertificates({ dnsNames: ['b'] });
      await writeFile(join(dir, 'tls.crt'), a.certPem);
      await writeFile(join(dir, 'tls.key'), b.keyPem);
      await assert.rejects(
        startWebhookServer({ listen: '127.0.0.1:0', tlsCertFile: join(dir, 'tls.crt'), tlsKeyFile: join(dir, 'tls.key') }),
        (e: unknown) => (e as { code?: string }).code === 'WEBHOOK_TLS_INVALID',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('kube-sgx webhook (CLI)', () => {
  test('serves until SIGTERM, then exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-webhook-cli-'));
    try {
      const certs = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      const files = await writeWebhookCertificates(dir, certs);
      await writeFile(join(dir, 'config.yaml'), 'maxEpcPerNode: 8Mi\n');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'webhook', '--listen', '127.0.0.1:0', '--tls-cert', files.cert!, '--tls-key', files.key!, '--config', join(dir, 'config.yaml'), '--metrics-addr', '127.0.0.1:0'],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' } },
      );
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no url logged: ${stderr}`)), 60_000);
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const m = /"url":"(https:\/\/[^"]+)"/.exec(stderr);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      const r = await call(url, certs.caCertPem, '/validate', { body: JSON.stringify(review(pod([container('app', { 'sgx.intel.com/epc': '16Mi', 'sgx.intel.com/enclave': '1' })]))) });
      assert.match(r.body, /largest SGX node offers 8Mi/, 'the --config file is in effect');
      const metricsUrl = /"metrics":"(http:\/\/[^"]+)"/.exec(stderr)![1]!;
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      assert.match(metrics, /kube_sgx_webhook_reviews_total\{endpoint="validate",outcome="denied"\} 1/);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('maxEpcPerNode: fromNodes with an unreadable kubeconfig: KUBECONFIG_INVALID naming the file, exit 1, nothing served', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-webhook-cli-'));
    try {
      const certs = await generateWebhookCertificates({ dnsNames: ['localhost'] });
      const files = await writeWebhookCertificates(dir, certs);
      await writeFile(join(dir, 'config.yaml'), 'maxEpcPerNode: fromNodes\n');
      const missing = join(dir, 'no-such-kubeconfig');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'webhook', '--listen', '127.0.0.1:0', '--tls-cert', files.cert!, '--tls-key', files.key!, '--config', join(dir, 'config.yaml'), '--kubeconfig', missing],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      assert.equal(code, 1, out);
      assert.match(out, /"code":\s*"KUBECONFIG_INVALID"/);
      assert.ok(out.includes(missing), out);
      assert.doesNotMatch(out, /webhook serving/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
