/**
 * The service's serving certificate follows --tls-cert/--tls-key: a rotated
 * pair is picked up without a restart (file watch or poll), a half-written
 * rotation (new certificate, old key) keeps the current pair, and a pair that
 * does not match at start-up is a typed error.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { startAttestationService } from '../../src/service/server.js';
import { generateTlsCertificate } from '../../src/service/certs.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-tls-');
after(() => tmp.cleanup());

/** The serial number of the certificate the server presents, verified against `ca`. */
function servedSerial(url: string, ca: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), ca }, () => {
      resolve(s.getPeerX509Certificate()!.serialNumber.toLowerCase());
      s.end();
    });
    s.on('error', reject);
  });
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

const verifier = { verify: async () => { throw new Error('not used'); } };

describe('attestation service TLS certificate rotation', () => {
  test('a rotated pair is served without a restart; a half-written one is not', async () => {
    const first = await generateTlsCertificate({ ips: ['127.0.0.1'] });
    const second = await generateTlsCertificate({ ips: ['127.0.0.1'] });
    const cert = join(tmp.dir, 'tls.crt');
    const key = join(tmp.dir, 'tls.key');
    await writeFile(cert, first.certificatePem);
    await writeFile(key, first.privateKeyPem);
    const svc = await startAttestationService({ listen: '127.0.0.1:0', tls: { certFile: cert, keyFile: key }, verifier, rateLimit: { rate: 0 }, certPollMs: 200 });
    try {
      const firstSerial = new X509Certificate(first.certificatePem).serialNumber.toLowerCase();
      assert.equal(await servedSerial(svc.url, first.certificatePem), firstSerial);
      // new certificate, old key: keep serving the first pair
      await writeAtomically(cert, second.certificatePem);
      assert.equal(await svc.reloadCertificates(), false);
      assert.equal(await servedSerial(svc.url, first.certificatePem), firstSerial);
      // the key follows: picked up by the watch or the poll, not by an explicit call
      await writeAtomically(key, second.privateKeyPem);
      const want = new X509Certificate(second.certificatePem).serialNumber.toLowerCase();
      const deadline = Date.now() + 30_000; // only turns a hang into a failure; the loop ends as soon as the new pair is served
      let served = '';
      while (Date.now() < deadline && served !== want) {
        served = await servedSerial(svc.url, second.certificatePem).catch(() => '');
        if (served !== want) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(served, want);
      await assert.rejects(servedSerial(svc.url, first.certificatePem), /certificate|self.signed|verify/i);
    } finally {
      await svc.close();
    }
  });

  test('a key that does not belong to the certificate is refused at start-up', async () => {
    const a = await generateTlsCertificate({ ips: ['127.0.0.1'] });
    const b = await generateTlsCertificate({ ips: ['127.0.0.1'] });
    const cert = join(tmp.dir, 'bad.crt');
    const key = join(tmp.dir, 'bad.key');
    await writeFile(cert, a.certificatePem);
    await writeFile(key, b.privateKeyPem);
    await assert.rejects(
      startAttestationService({ listen: '127.0.0.1:0', tls: { certFile: cert, keyFile: key }, verifier, rateLimit: { rate: 0 } }),
      (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID' && /mismatch|does not belong/.test((e as Error).message),
    );
    await assert.rejects(
      startAttestationService({ listen: '127.0.0.1:0', tls: { certFile: join(tmp.dir, 'missing.crt'), keyFile: key }, verifier, rateLimit: { rate: 0 } }),
      (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID',
    );
  });
});
