/**
 * Where Phala's dcap-qvl (@phala/dcap-qvl 0.3.9, run here on the same input)
 * and Intel's rules — which kube-sgx follows — part ways (reference dcap.md §5.4).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { verifyQuote } from '../../src/dcap/index.js';
import { pemCertificates } from '../../src/dcap/pem.js';
import { at, INTEL_SAMPLE_PCK_CHAIN, INTEL_SAMPLE_ROOT, intelSampleCollateral, phalaCollateral, readVector } from './helpers.js';
import { TestPki, type Forged } from './pki.js';

interface PhalaVerifier {
  verify(q: Uint8Array, c: unknown, nowSecs: number): { status: string; advisory_ids: string[] };
}
const phala = createRequire(import.meta.url)('@phala/dcap-qvl') as {
  QuoteVerifier: { newWithRootCa(der: Buffer): PhalaVerifier; newProd(): PhalaVerifier };
};

const NOW = at('2026-01-15T12:00:00Z');

describe('kube-sgx (Intel rules) vs @phala/dcap-qvl on the same input', () => {
  let forged: Forged;
  before(async () => {
    const pki = await TestPki.create();
    forged = await pki.forge({
      now: NOW,
      tcbInfo: (j) => (j.tcbLevels as Array<{ tcbStatus: string }>).forEach((l) => (l.tcbStatus = 'ConfigurationNeeded')),
      qeIdentity: (j) => {
        j.tcbLevels = [
          { tcb: { isvsvn: 12 }, tcbDate: '2025-01-01T00:00:00Z', tcbStatus: 'UpToDate' },
          { tcb: { isvsvn: 8 }, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: 'OutOfDate' },
        ];
      },
    });
  });

  test('both agree on the real SGX sample', () => {
    const q = readVector('phala-dcap-qvl/sample/sgx_quote');
    const c = phalaCollateral('sample/sgx_quote_collateral.json');
    const ours = verifyQuote(q, c, { now: at('2025-07-01T00:00:00Z') });
    const theirs = phala.QuoteVerifier.newProd().verify(q, { ...c }, Date.parse('2025-07-01T00:00:00Z') / 1000);
    assert.equal(theirs.status, ours.status);
    assert.deepEqual(theirs.advisory_ids, ours.advisoryIds);
  });

  test('platform ConfigurationNeeded + QE OutOfDate: Intel (kube-sgx) OutOfDateConfigurationNeeded, dcap-qvl OutOfDate', () => {
    const ours = verifyQuote(forged.quote, forged.collateral, { now: NOW, trustedRoots: [forged.rootPem] });
    assert.equal(ours.status, 'OutOfDateConfigurationNeeded');
    const rootDer = Buffer.from(pemCertificates(forged.rootPem, 'root')[0]);
    const theirs = phala.QuoteVerifier.newWithRootCa(rootDer).verify(forged.quote, { ...forged.collateral }, NOW.getTime() / 1000);
    assert.equal(theirs.status, 'OutOfDate');
  });

  test("Intel's type-1 sample (no PCK chain in the quote, empty QE auth data): kube-sgx verifies it, dcap-qvl rejects it", () => {
    const q = readVector('intel-qvl-sampledata/sampleData/quote.dat');
    const c = intelSampleCollateral();
    const ours = verifyQuote(q, c, { now: at('2025-07-01T00:00:00Z'), trustedRoots: [INTEL_SAMPLE_ROOT()], pckCertChain: INTEL_SAMPLE_PCK_CHAIN() });
    assert.equal(ours.status, 'UpToDate');
    const rootDer = Buffer.from(pemCertificates(INTEL_SAMPLE_ROOT(), 'root')[0]);
    assert.throws(() => phala.QuoteVerifier.newWithRootCa(rootDer).verify(q, { ...c }, Date.parse('2025-07-01T00:00:00Z') / 1000));
  });
});
