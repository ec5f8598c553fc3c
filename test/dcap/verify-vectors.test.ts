/**
 * Every quote in test/vectors/dcap that has collateral, with the status
 * SOURCES.md states, and each row of SOURCES.md §3 (what Intel's QVL says)
 * reproduced with kube-sgx's own error code.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyQuote, QuoteVerifier } from '../../src/dcap/index.js';
import {
  at,
  hexQuote,
  INTEL_SAMPLE_PCK_CHAIN,
  INTEL_SAMPLE_ROOT,
  intelSampleCollateral,
  phalaCollateral,
  readText,
  readVector,
  rejects,
} from './helpers.js';
import { collateralFromParts } from '../../src/dcap/collateral.js';

const sgxQuote = readVector('phala-dcap-qvl/sample/sgx_quote');
const sgxCol = phalaCollateral('sample/sgx_quote_collateral.json');
const tdxQuote = readVector('phala-dcap-qvl/sample/tdx_quote');
const tdxCol = phalaCollateral('sample/tdx_quote_collateral.json');
const nearQuote = hexQuote('phala-dcap-qvl/tests/near/quote/quote_hex.txt');
const nearCol = phalaCollateral('tests/near/quote/quote_collateral.json');
const intelQuote = readVector('intel-qvl-sampledata/sampleData/quote.dat');
const intelOpts = () => ({ trustedRoots: [INTEL_SAMPLE_ROOT()], pckCertChain: INTEL_SAMPLE_PCK_CHAIN() });

describe('testdata quotes give the status SOURCES.md states', () => {
  test('phala sgx_quote (v3, Processor CA) → ConfigurationAndSWHardeningNeeded + INTEL-SA-00289, INTEL-SA-00615', () => {
    const r = verifyQuote(sgxQuote, sgxCol, { now: at('2025-07-01T00:00:00Z') });
    assert.equal(r.status, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual(r.advisoryIds, ['INTEL-SA-00289', 'INTEL-SA-00615']);
    assert.equal(r.teeType, 'SGX');
    assert.equal(r.quoteVersion, 3);
    assert.equal(r.fmspc, '00A067110000');
    assert.equal(r.pceId, '0000');
    assert.equal(r.pckCa, 'processor');
    assert.equal(r.qeStatus, 'UpToDate');
    assert.equal(r.qe.isvSvn, 10);
    assert.equal(r.tcbEvaluationDataNumber, 17);
    assert.equal(r.collateralExpiresAt, '2025-07-19T10:01:18.000Z');
    assert.equal(r.verifiedAt, '2025-07-01T00:00:00.000Z');
    assert.deepEqual(r.platform.sgxComponents.slice(0, 7), [11, 11, 2, 2, 255, 1, 0]);
    assert.equal(r.platform.pcesvn, 13);
    assert.ok(r.enclave);
    assert.equal(r.enclave.debug, false);
    assert.equal(r.enclave.attributes.slice(0, 2), '05');
    assert.equal(Buffer.from(r.enclave.reportData, 'hex').subarray(0, 13).toString(), 'Hello, world!');
    assert.equal(r.td, undefined);
    assert.equal(r.tdxModule, undefined);
  });

  test('phala tdx_quote (v4, Platform CA) → UpToDate, module TDX_01', () => {
    const r = verifyQuote(tdxQuote, tdxCol, { now: at('2025-07-01T00:00:00Z') });
    assert.equal(r.status, 'UpToDate');
    assert.deepEqual(r.advisoryIds, []);
    assert.equal(r.teeType, 'TDX');
    assert.equal(r.quoteVersion, 4);
    assert.equal(r.fmspc, 'B0C06F000000');
    assert.equal(r.pckCa, 'platform');
    assert.equal(r.tdxModule?.id, 'TDX_01');
    assert.equal(r.tdxModule?.status, 'UpToDate');
    assert.ok(r.td);
    assert.equal(r.td.teeTcbSvn.slice(0, 4), '0601');
    assert.equal(r.td.rtMr.length, 4);
    assert.equal(r.enclave, undefined);
  });

  test('phala tests/near quote (TDX v4, hex) → UpToDate', () => {
    const r = verifyQuote(nearQuote, nearCol, { now: at('2025-09-15T00:00:00Z') });
    assert.equal(r.status, 'UpToDate');
    assert.equal(r.fmspc, '20A06F000000');
  });

  test('phala tdx_quote_outdated (v5, TD 1.5) → TCB_NOT_SUPPORTED, after every collateral check passed', () => {
    const e = rejects(
      () => verifyQuote(readVector('phala-dcap-qvl/sample/tdx_quote_outdated'), phalaCollateral('sample/tdx_quote_outdated_collateral.json'), { now: at('2026-03-01T00:00:00Z') }),
      'TCB_NOT_SUPPORTED',
    );
    assert.equal(e.details?.fmspc, '90C06F000000');
  });

  test("Intel sampleData/quote.dat (type 1, sample root, pckCert.pem) → UpToDate at 2025-07-01", () => {
    const r = verifyQuote(intelQuote, intelSampleCollateral(), { now: at('2025-07-01T00:00:00Z'), ...intelOpts() });
    assert.equal(r.status, 'UpToDate');
    assert.equal(r.fmspc, '00707F000000');
    assert.equal(r.quoteVersion, 3);
  });

  test('the PCK leaf alone is completed with the collateral PCK CRL issuer chain', () => {
    const leaf = readText('intel-qvl-sampledata/sampleData/pckCert.pem');
    const r = verifyQuote(intelQuote, intelSampleCollateral(), { now: at('2025-07-01T00:00:00Z'), trustedRoots: [INTEL_SAMPLE_ROOT()], pckCertChain: leaf });
    assert.equal(r.status, 'UpToDate');
  });

  test('QuoteVerifier (cached) gives the same results, repeatedly', async () => {
    const v = new QuoteVerifier({ now: () => at('2025-07-01T00:00:00Z') });
    const cold = verifyQuote(sgxQuote, sgxCol, { now: at('2025-07-01T00:00:00Z') });
    for (let i = 0; i < 3; i++) assert.deepEqual(await v.verify(sgxQuote, sgxCol), cold);
    assert.equal((await v.verify(tdxQuote, tdxCol)).status, 'UpToDate');
  });

  test('QuoteVerifier re-checks a mutable collateral object that changed after it was verified', () => {
    const v = new QuoteVerifier({ now: () => at('2025-07-01T00:00:00Z') });
    assert.ok(Object.isFrozen(sgxCol), 'parseCollateral returns a frozen object');
    const c = { ...sgxCol };
    assert.equal(v.verifySync(sgxQuote, c).status, 'ConfigurationAndSWHardeningNeeded');
    c.tcb_info = c.tcb_info.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18');
    rejects(() => v.verifySync(sgxQuote, c), 'TCB_INFO_SIGNATURE_INVALID');
  });

  test('QuoteVerifier honours time: a cached collateral set is rejected once its window has passed', () => {
    let now = at('2025-07-01T00:00:00Z');
    const v = new QuoteVerifier({ now: () => now });
    v.verifySync(sgxQuote, sgxCol);
    now = at('2025-07-19T10:15:00Z');
    rejects(() => v.verifySync(sgxQuote, sgxCol), 'QE_IDENTITY_EXPIRED');
  });
});

describe("SOURCES.md §3: Intel QVL's verdicts, each with its own code", () => {
  test('MRENCLAVE byte 112 xor 1 → QUOTE_SIGNATURE_INVALID', () => {
    const q = Buffer.from(sgxQuote);
    q[112] ^= 1;
    rejects(() => verifyQuote(q, sgxCol, { now: at('2025-07-01T00:00:00Z') }), 'QUOTE_SIGNATURE_INVALID');
  });
  test('2025-06-15, before the PCK CRL thisUpdate → CRL_NOT_YET_VALID (Intel: CRL_EXPIRED)', () => {
    rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2025-06-15T00:00:00Z') }), 'CRL_NOT_YET_VALID', 'PCK CRL');
  });
  test('2025-08-01, after nextUpdate → CRL_EXPIRED', () => {
    rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2025-08-01T00:00:00Z') }), 'CRL_EXPIRED');
  });
  test('unix 1752919279, one second past the QE Identity nextUpdate → QE_IDENTITY_EXPIRED; 1752919278 still verifies', () => {
    rejects(() => verifyQuote(sgxQuote, sgxCol, { now: new Date(1752919279_000) }), 'QE_IDENTITY_EXPIRED');
    assert.equal(verifyQuote(sgxQuote, sgxCol, { now: new Date(1752919278_000) }).status, 'ConfigurationAndSWHardeningNeeded');
  });
  test("Intel's sample root as the trust anchor → PCK_CHAIN_UNTRUSTED", () => {
    rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2025-07-01T00:00:00Z'), trustedRoots: [INTEL_SAMPLE_ROOT()] }), 'PCK_CHAIN_UNTRUSTED');
  });
  test("the SGX quote with the TDX sample's collateral → CRL_UNKNOWN_ISSUER", () => {
    rejects(() => verifyQuote(sgxQuote, tdxCol, { now: at('2025-07-01T00:00:00Z') }), 'CRL_UNKNOWN_ISSUER');
  });
  test('Intel sample quote.dat at 2026-11-29 → CERT_EXPIRED (the sample PCK certificate ends 2026-09-05)', () => {
    rejects(() => verifyQuote(intelQuote, intelSampleCollateral(), { now: at('2026-11-29T00:00:00Z'), ...intelOpts() }), 'CERT_EXPIRED', 'SGX PCK Certificate');
  });
  test('Intel sampleData/tdx/quote.dat → TDX_MODULE_MISMATCH (TEE_TCB_SVN[1] = 0xC1, no module identity)', () => {
    const dir = 'intel-qvl-sampledata/sampleData/tdx/';
    const col = collateralFromParts({
      pckCrlIssuerChain: readText(dir + 'pckSignChain.pem'),
      rootCaCrl: readVector(dir + 'rootCaCrl.der'),
      pckCrl: readVector(dir + 'intermediateCaCrl.der'),
      tcbInfoIssuerChain: readText(dir + 'tcbSignChain.pem'),
      tcbInfoBody: readText(dir + 'tcbInfo.json'),
      qeIdentityIssuerChain: readText(dir + 'tcbSignChain.pem'),
      qeIdentityBody: readText(dir + 'qeIdentity.json'),
    });
    rejects(
      () =>
        verifyQuote(readVector(dir + 'quote.dat'), col, {
          now: at('2025-07-01T00:00:00Z'),
          trustedRoots: [readText(dir + 'trustedRootCaCert.pem')],
          pckCertChain: readText(dir + 'pckCert.pem'),
        }),
      'TDX_MODULE_MISMATCH',
      'TDX_C1',
    );
  });
});
