/** startWebhook(): the composition root the CLI uses, and its options schema (the CLI's flags). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateWebhookCertificates, writeWebhookCertificates } from '../../src/webhook/certs.js';
import { parseWebhookOptions, startWebhook } from '../../src/webhook/start.js';
import { silentLogger } from '../../src/ops/log.js';
import { call, container, pod, review } from './helpers.js';
import { capturingLogger, heldPort, portIsFree } from '../ops/support.js';

/** A serving certificate for 127.0.0.1 in a temp dir; `cleanup` removes it. */
async function certFiles(): Promise<{ caCertPem: string; cert: string; key: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-webhook-life-'));
  const certs = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const files = await writeWebhookCertificates(dir, certs);
  return { caCertPem: certs.caCertPem, cert: files.cert!, key: files.key!, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A port nothing listens on now (bound and released at once). */
async function freePort(): Promise<number> {
  const p = await heldPort();
  await p.close();
  return p.port;
}

describe('startWebhook', () => {
  test('serves with a config object and an ops endpoint; stop() closes both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-webhook-start-'));
    try {
      const certs = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      const files = await writeWebhookCertificates(dir, certs);
      const w = await startWebhook({
        listen: '127.0.0.1:0',
        tlsCertFile: files.cert!,
        tlsKeyFile: files.key!,
        config: { maxEpcPerNode: '8Mi' },
        metricsAddr: '127.0.0.1:0',
        logger: silentLogger,
      });
      assert.equal(w.config.maxEpcPerNode, '8Mi');
      const r = await call(w.url, certs.caCertPem, '/validate', { body: JSON.stringify(review(pod([container('app', { 'sgx.intel.com/epc': '16Mi', 'sgx.intel.com/enclave': '1' })]))) });
      assert.match(r.body, /largest SGX node offers 8Mi/);
      const ready = await fetch(`${w.opsUrl!}/readyz`);
      assert.equal(ready.status, 200);
      const status = (await (await fetch(`${w.opsUrl!}/status`)).json()) as { maxEpcPerNode: string };
      assert.equal(status.maxEpcPerNode, '8Mi');
      await w.stop();
      await assert.rejects(fetch(`${w.opsUrl!}/readyz`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('options errors name the CLI flag; a bad config object names its field', async () => {
    assert.throws(() => parseWebhookOptions({}), { code: 'WEBHOOK_OPTIONS_INVALID', message: /^--tls-cert: --tls-cert and --tls-key are required/ });
    assert.throws(() => parseWebhookOptions({ tlsCertFile: 'a' }), { message: /^--tls-key:/ });
    assert.throws(() => parseWebhookOptions({ tlsCertFile: 'a', tlsKeyFile: 'b', listen: '' }), { message: /^--listen:/ });
    assert.throws(() => parseWebhookOptions({ tlsCertFile: 'a', tlsKeyFile: 'b', maxBodyBytes: 10 }), { message: /^maxBodyBytes: must be between 1024/ });
    assert.throws(() => parseWebhookOptions({ tlsCertFile: 'a', tlsKeyFile: 'b', config: { taints: [{ key: 'k', effect: 'Sometimes' }] } }), { message: /^config\.taints\.0\.effect:/ });
    assert.throws(() => parseWebhookOptions({ tlsCertFile: 'a', tlsKeyFile: 'b', config: {}, configFile: 'c.yaml' }), { message: /not both/ });
    await assert.rejects(startWebhook({ logger: silentLogger }), { code: 'WEBHOOK_OPTIONS_INVALID' });
  });

  test('the CLI reports a missing --tls-key as a usage error (exit 2) from the same schema', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'webhook', '--tls-cert', 'x.crt'], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /"code": "USAGE"/);
    assert.match(r.stdout, /--tls-key: --tls-cert and --tls-key are required/);
  });
});

describe('startWebhook start-up and stop (ops/lifecycle.ts)', () => {
  test('a --metrics-addr already taken: the listener\'s LISTEN_FAILED naming --metrics-addr, and the HTTPS port it had bound is free again', async () => {
    const files = await certFiles();
    const taken = await heldPort();
    const { log, lines } = capturingLogger();
    try {
      const httpsPort = await freePort();
      await assert.rejects(
        startWebhook({ listen: `127.0.0.1:${httpsPort}`, tlsCertFile: files.cert, tlsKeyFile: files.key, config: {}, metricsAddr: taken.addr, logger: log }),
        { code: 'LISTEN_FAILED', path: ['--metrics-addr'], message: `--metrics-addr ${taken.addr}: address already in use (EADDRINUSE)` },
      );
      assert.equal(await portIsFree(httpsPort), true, 'the HTTPS listener opened before the ops endpoint was closed');
      assert.equal(lines.filter((l) => l.msg === 'webhook serving').length, 0);
      assert.equal(lines.filter((l) => l.level === 40).length, 0, 'closing it raised no warning');
    } finally {
      await taken.close();
      await files.cleanup();
    }
  });

  test('a --listen already taken: LISTEN_FAILED naming --listen, and no ops endpoint left behind', async () => {
    const files = await certFiles();
    const taken = await heldPort();
    try {
      const opsPort = await freePort();
      await assert.rejects(
        startWebhook({ listen: taken.addr, tlsCertFile: files.cert, tlsKeyFile: files.key, config: {}, metricsAddr: `127.0.0.1:${opsPort}`, logger: silentLogger }),
        { code: 'LISTEN_FAILED', path: ['--listen'], message: `--listen ${taken.addr}: address already in use (EADDRINUSE)` },
      );
      assert.equal(await portIsFree(opsPort), true);
    } finally {
      await taken.close();
      await files.cleanup();
    }
  });

  test('the serving line names both URLs; stop() closes both listeners once and says so once', async () => {
    const files = await certFiles();
    const { log, lines } = capturingLogger();
    try {
      const w = await startWebhook({ listen: '127.0.0.1:0', tlsCertFile: files.cert, tlsKeyFile: files.key, config: {}, metricsAddr: '127.0.0.1:0', logger: log });
      assert.deepEqual(
        lines.filter((l) => l.msg === 'webhook serving').map((l) => [l.url, l.metrics]),
        [[w.url, w.opsUrl]],
      );
      const r = await call(w.url, files.caCertPem, '/healthz', { method: 'GET' });
      assert.equal(r.status, 200);
      await Promise.all([w.stop(), w.stop()]);
      await w.stop();
      assert.equal(await portIsFree(Number(new URL(w.url).port)), true);
      assert.equal(await portIsFree(Number(new URL(w.opsUrl!).port)), true);
      assert.deepEqual(
        lines.filter((l) => l.msg === 'webhook stopped').map((l) => l.url),
        [w.url],
      );
    } finally {
      await files.cleanup();
    }
  });
});
