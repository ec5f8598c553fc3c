/**
 * `kube-sgx webhook certs` never replaces a CA silently: an existing ca.crt +
 * ca.key is reused (the caBundle in the cluster stays valid), half a CA is
 * refused, and only --force makes a new one, keeping the old beside it.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, unlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, cliError } from '../cli/run.js';

const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-certs-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const read = (...p: string[]) => readFileSync(join(tmp, ...p), 'utf8');
const signedBy = (leafPem: string, caPem: string) => new X509Certificate(leafPem).verify(new X509Certificate(caPem).publicKey);
const errorCode = cliError;

describe('kube-sgx webhook certs and an existing CA', () => {
  test('a second run reuses the CA: new serving certificate, same ca.crt and ca.key', async () => {
    const first = await runCli(['webhook', 'certs', '--out', join(tmp, 'a'), '--dns-name', 'kube-sgx-webhook.kube-sgx.svc', '--key-type', 'rsa']);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    assert.equal((JSON.parse(first.stdout) as { ca: string }).ca, 'created');
    const [ca, caKey, leaf] = [read('a', 'ca.crt'), read('a', 'ca.key'), read('a', 'tls.crt')];
    // An RSA CA from the first run signs a P-256 serving certificate in the second.
    const second = await runCli(['webhook', 'certs', '--out', join(tmp, 'a'), '--dns-name', 'kube-sgx-webhook.kube-sgx.svc']);
    assert.equal(second.status, 0, second.stdout + second.stderr);
    assert.equal((JSON.parse(second.stdout) as { ca: string }).ca, 'reused');
    assert.equal(read('a', 'ca.crt'), ca);
    assert.equal(read('a', 'ca.key'), caKey);
    assert.notEqual(read('a', 'tls.crt'), leaf);
    assert.ok(signedBy(read('a', 'tls.crt'), ca));
    assert.equal(new X509Certificate(read('a', 'tls.crt')).publicKey.asymmetricKeyType, 'ec');
  });

  test('--ca-dir: the webhook and the attestation service certificates come from one CA', async () => {
    for (const [dir, name] of [['webhook', 'kube-sgx-webhook.kube-sgx.svc'], ['attestation', 'kube-sgx-attestation.kube-sgx.svc']]) {
      const r = await runCli(['webhook', 'certs', '--out', join(tmp, 'b', dir), '--ca-dir', join(tmp, 'b'), '--dns-name', name]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(existsSync(join(tmp, 'b', dir, 'ca.key')), false, 'the CA key stays in --ca-dir only');
    }
    const ca = read('b', 'ca.crt');
    assert.ok(signedBy(read('b', 'webhook', 'tls.crt'), ca));
    assert.ok(signedBy(read('b', 'attestation', 'tls.crt'), ca));
    assert.match(new X509Certificate(read('b', 'attestation', 'tls.crt')).subjectAltName ?? '', /kube-sgx-attestation\.kube-sgx\.svc/);
  });

  test('half a CA, a key that is not the certificate\'s, or a leaf as CA: refused, nothing replaced', async () => {
    const mk = async (dir: string) => assert.equal((await runCli(['webhook', 'certs', '--out', join(tmp, dir), '--dns-name', 'x.y.svc'])).status, 0);
    await mk('c');
    const ca = read('c', 'ca.crt');
    unlinkSync(join(tmp, 'c', 'ca.key'));
    const r = await runCli(['webhook', 'certs', '--out', join(tmp, 'c'), '--dns-name', 'x.y.svc']);
    assert.equal(r.status, 1);
    assert.equal(errorCode(r.stdout)?.code, 'WEBHOOK_CA_INCOMPLETE');
    assert.match(errorCode(r.stdout)?.message ?? '', /ca\.key is missing/);
    assert.equal(read('c', 'ca.crt'), ca);

    await mk('d');
    await mk('e');
    writeFileSync(join(tmp, 'd', 'ca.key'), read('e', 'ca.key'));
    const wrongKey = await runCli(['webhook', 'certs', '--out', join(tmp, 'd'), '--dns-name', 'x.y.svc']);
    assert.equal(errorCode(wrongKey.stdout)?.code, 'WEBHOOK_CA_INVALID');
    assert.match(errorCode(wrongKey.stdout)?.message ?? '', /not the key of ca\.crt/);

    writeFileSync(join(tmp, 'e', 'ca.crt'), read('e', 'tls.crt'));
    writeFileSync(join(tmp, 'e', 'ca.key'), read('e', 'tls.key'));
    const leafAsCa = await runCli(['webhook', 'certs', '--out', join(tmp, 'e'), '--dns-name', 'x.y.svc']);
    assert.equal(errorCode(leafAsCa.stdout)?.code, 'WEBHOOK_CA_INVALID');
    assert.match(errorCode(leafAsCa.stdout)?.message ?? '', /not a CA certificate/);
  });

  test('--force makes a new CA and keeps the old one as ca.previous.crt for the caBundle', async () => {
    assert.equal((await runCli(['webhook', 'certs', '--out', join(tmp, 'f'), '--dns-name', 'x.y.svc'])).status, 0);
    const old = read('f', 'ca.crt');
    const r = await runCli(['webhook', 'certs', '--out', join(tmp, 'f'), '--dns-name', 'x.y.svc', '--force']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { ca: string; previousCa: { caCert: string } };
    assert.equal(out.ca, 'created');
    assert.equal(out.previousCa.caCert, join(tmp, 'f', 'ca.previous.crt'));
    assert.equal(read('f', 'ca.previous.crt'), old);
    assert.notEqual(read('f', 'ca.crt'), old);
    assert.ok(signedBy(read('f', 'tls.crt'), read('f', 'ca.crt')));
  });
});
