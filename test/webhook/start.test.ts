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
