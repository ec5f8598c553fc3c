import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { generateWebhookCertificates } from '../../src/webhook/certs.js';
import { buildWebhookConfigurations, renderWebhookManifestsYaml, sgxPodCelExpression } from '../../src/webhook/manifests.js';
import { parseWebhookConfig } from '../../src/webhook/index.js';

type Obj = Record<string, unknown>;
type Hook = Obj & { clientConfig: { service: { path: string; namespace: string }; caBundle: string }; failurePolicy: string; matchConditions?: unknown[] };

function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('webhook configurations from code', () => {
  test('valid against the Kubernetes schemas; paths, caBundle, failurePolicy and scoping', async () => {
    const ca = await generateWebhookCertificates({ dnsNames: ['kube-sgx-webhook.kube-sgx.svc'] });
    const { mutating, validating } = buildWebhookConfigurations({ caBundlePem: ca.caCertPem, config: parseWebhookConfig({ skipNamespaces: ['kube-system', 'monitoring'] }) });
    new MutatingWebhookConfiguration(mutating as never).validate();
    new ValidatingWebhookConfiguration(validating as never).validate();
    const m = (mutating.webhooks as Hook[])[0]!;
    const v = (validating.webhooks as Hook[])[0]!;
    assert.equal(m.clientConfig.service.path, '/mutate');
    assert.equal(v.clientConfig.service.path, '/validate');
    assert.equal(m.failurePolicy, 'Fail');
    assert.equal(v.failurePolicy, 'Fail');
    assert.equal(m.reinvocationPolicy, 'IfNeeded');
    assert.equal(v.reinvocationPolicy, undefined);
    assert.ok(m.objectSelector, 'pods can opt out of mutation');
    assert.equal(v.objectSelector, undefined, 'but not of validation');
    assert.equal(m.sideEffects, 'None');
    assert.deepEqual((m.namespaceSelector as { matchExpressions: Array<{ values: string[] }> }).matchExpressions[0]!.values, ['kube-sgx', 'kube-system', 'monitoring']);
    const pem = Buffer.from(m.clientConfig.caBundle, 'base64').toString();
    assert.equal(new X509Certificate(pem).fingerprint256, new X509Certificate(ca.caCertPem).fingerprint256);
    assert.equal(m.matchConditions!.length, 1);
    const noMc = buildWebhookConfigurations({ caBundlePem: ca.caCertPem, matchConditions: false });
    assert.equal(((noMc.mutating.webhooks as Hook[])[0]!).matchConditions, undefined);
  });

  test('the CEL condition covers both name families, init containers and the annotation', () => {
    const cel = sgxPodCelExpression();
    assert.match(cel, /k\.startsWith\('sgx\.intel\.com\/'\)/);
    assert.match(cel, /kubernetes\.azure\.com\/sgx_epc_mem_in_MiB/);
    assert.match(cel, /object\.spec\.initContainers/);
    assert.match(cel, /'kube-sgx\.io\/quote-provider' in object\.metadata\.annotations/);
    // Balanced parentheses: a typo here would make the API server reject the configuration.
    let depth = 0;
    for (const ch of cel) {
      depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
      assert.ok(depth >= 0);
    }
    assert.equal(depth, 0);
  });

  test('an empty or broken CA bundle is refused', () => {
    assert.throws(() => buildWebhookConfigurations({ caBundlePem: 'nothing here' }), (e: unknown) => (e as { code?: string }).code === 'WEBHOOK_CA_BUNDLE_EMPTY');
    assert.throws(
      () => buildWebhookConfigurations({ caBundlePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }),
      (e: unknown) => (e as { code?: string }).code === 'WEBHOOK_CERT_INVALID',
    );
  });

  test('CLI: webhook certs then webhook manifests (one source of truth)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-certs-'));
    try {
      const a = await runCli(['webhook', 'certs', '--out', dir, '--dns-name', 'kube-sgx-webhook.kube-sgx.svc', '--dns-name', 'kube-sgx-webhook.kube-sgx.svc.cluster.local', '--key-type', 'rsa']);
      assert.equal(a.status, 0, a.stderr);
      const cert = new X509Certificate(await readFile(join(dir, 'tls.crt')));
      assert.match(cert.subjectAltName ?? '', /kube-sgx-webhook\.kube-sgx\.svc\.cluster\.local/);
      assert.equal(cert.publicKey.asymmetricKeyType, 'rsa');
      assert.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
      const b = await runCli(['webhook', 'manifests', '--ca-bundle', join(dir, 'ca.crt'), '--namespace', 'sgx-system']);
      assert.equal(b.status, 0, b.stderr);
      const docs = parseAllDocuments(b.stdout).map((d) => d.toJSON() as Obj);
      assert.deepEqual(docs.map((d) => d.kind), ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
      assert.equal(((docs[0]!.webhooks as Hook[])[0]!).clientConfig.service.namespace, 'sgx-system');
      new MutatingWebhookConfiguration(docs[0] as never).validate();
      const c = await runCli(['webhook', 'certs', '--out', dir]);
      assert.equal(c.status, 2, 'missing --dns-name is a usage error');
      const d = await runCli(['webhook', 'manifests', '--ca-bundle', join(dir, 'missing.crt')]);
      assert.equal(d.status, 2);
      assert.match(d.stdout, /cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('YAML rendering holds both documents', async () => {
    const ca = await generateWebhookCertificates({ dnsNames: ['x.y.svc'] });
    const docs = parseAllDocuments(renderWebhookManifestsYaml({ caBundlePem: ca.caCertPem }));
    assert.equal(docs.length, 2);
  });
});
