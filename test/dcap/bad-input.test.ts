/**
 * The "Bad input" list on the real vectors: one byte changed in every
 * signed region (quote and collateral), times outside the window at both ends,
 * a wrong root, truncated and oversized files, mismatched FMSPC — each
 * rejected with its own code.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyQuote, parseCollateral, QuoteVerifier, type Collateral } from '../../src/dcap/index.js';
import { at, hexQuote, INTEL_SAMPLE_PCK_CHAIN, INTEL_SAMPLE_ROOT, intelSampleCollateral, phalaCollateral, readVector, rejects } from './helpers.js';

const NOW = at('2025-07-01T00:00:00Z');
const sgxQuote = readVector('phala-dcap-qvl/sample/sgx_quote');
const sgxCol = phalaCollateral('sample/sgx_quote_collateral.json');
const tdxQuote = readVector('phala-dcap-qvl/sample/tdx_quote');
const tdxCol = phalaCollateral('sample/tdx_quote_collateral.json');

function flipped(buf: Uint8Array, offset: number, mask = 0x01): Buffer {
  const b = Buffer.from(buf);
  b[offset] ^= mask;
  return b;
}

/** Changes one base64 character of the PEM chain inside the quote (at `pemOffset` chars after the first BEGIN line). */
function pemCharChanged(quote: Buffer, pemOffset: number): Buffer {
  const b = Buffer.from(quote);
  const begin = b.indexOf('-----BEGIN CERTIFICATE-----\n') + 28;
  const i = begin + pemOffset;
  b[i] = b[i] === 0x41 ? 0x42 : 0x41; // 'A' <-> 'B': still base64, different DER
  return b;
}

describe('one byte changed in each signed region of an SGX v3 quote', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['header user data (28)', flipped(sgxQuote, 28), 'QUOTE_SIGNATURE_INVALID'],
    ['header QE SVN (8)', flipped(sgxQuote, 8), 'QUOTE_SIGNATURE_INVALID'],
    ['report body MRENCLAVE (112)', flipped(sgxQuote, 112), 'QUOTE_SIGNATURE_INVALID'],
    ['report body ATTRIBUTES debug bit (96)', flipped(sgxQuote, 48 + 48, 0x02), 'QUOTE_SIGNATURE_INVALID'],
    ['report body REPORTDATA (400)', flipped(sgxQuote, 400), 'QUOTE_SIGNATURE_INVALID'],
    ['quote signature (436)', flipped(sgxQuote, 436 + 40), 'QUOTE_SIGNATURE_INVALID'],
    ['attestation key (500)', flipped(sgxQuote, 500 + 10), 'QE_REPORT_DATA_MISMATCH'],
    ['QE report (564 + 128, MRSIGNER)', flipped(sgxQuote, 564 + 128), 'QE_REPORT_SIGNATURE_INVALID'],
    ['QE report data (564 + 320)', flipped(sgxQuote, 564 + 320), 'QE_REPORT_SIGNATURE_INVALID'],
    ['QE report signature (948)', flipped(sgxQuote, 948 + 5), 'QE_REPORT_SIGNATURE_INVALID'],
    ['QE authentication data (1014)', flipped(sgxQuote, 1014), 'QE_REPORT_DATA_MISMATCH'],
    ['PCK leaf certificate inside the quote', pemCharChanged(sgxQuote, 400), 'PCK_CHAIN_INVALID'],
  ];
  for (const [name, q, code] of cases) test(`${name} → ${code}`, () => void rejects(() => verifyQuote(q, sgxCol, { now: NOW }), code));

  test('a warm QuoteVerifier (QE report signature and PCK chain checked before) rejects each of them the same way', () => {
    const warm = new QuoteVerifier({ now: () => NOW });
    assert.equal(warm.verifySync(sgxQuote, sgxCol).status, 'ConfigurationAndSWHardeningNeeded');
    for (const [, q, code] of cases) rejects(() => warm.verifySync(q, sgxCol), code);
    // and the untouched quote still verifies afterwards
    assert.equal(warm.verifySync(sgxQuote, sgxCol).status, 'ConfigurationAndSWHardeningNeeded');
  });
});

describe('one byte changed in a TDX v4 quote', () => {
  test('TD report MRTD → QUOTE_SIGNATURE_INVALID', () => void rejects(() => verifyQuote(flipped(tdxQuote, 48 + 136), tdxCol, { now: NOW }), 'QUOTE_SIGNATURE_INVALID'));
  test('TD report RTMR3 → QUOTE_SIGNATURE_INVALID', () => void rejects(() => verifyQuote(flipped(tdxQuote, 48 + 328 + 144), tdxCol, { now: NOW }), 'QUOTE_SIGNATURE_INVALID'));
  test('QE report (770 + 200) → QE_REPORT_SIGNATURE_INVALID', () => void rejects(() => verifyQuote(flipped(tdxQuote, 770 + 200), tdxCol, { now: NOW }), 'QE_REPORT_SIGNATURE_INVALID'));
  test('MRSIGNERSEAM is judged against the module identity → QUOTE_SIGNATURE_INVALID is not reached first', () =>
    void rejects(() => verifyQuote(flipped(tdxQuote, 48 + 64), tdxCol, { now: NOW }), 'TDX_MODULE_MISMATCH'));
});

describe('one byte changed in each signed part of the collateral', () => {
  const edit = (patch: Partial<Collateral>): Collateral => ({ ...sgxCol, ...patch });
  const hexFlip = (h: string, byteFromEnd: number) => {
    const b = Buffer.from(h, 'hex');
    b[b.length - byteFromEnd] ^= 0x01;
    return b.toString('hex');
  };
  test('tcb_info text → TCB_INFO_SIGNATURE_INVALID', () =>
    void rejects(() => verifyQuote(sgxQuote, edit({ tcb_info: sgxCol.tcb_info.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18') }), { now: NOW }), 'TCB_INFO_SIGNATURE_INVALID'));
  test('tcb_info_signature → TCB_INFO_SIGNATURE_INVALID', () =>
    void rejects(() => verifyQuote(sgxQuote, edit({ tcb_info_signature: hexFlip(sgxCol.tcb_info_signature, 1) }), { now: NOW }), 'TCB_INFO_SIGNATURE_INVALID'));
  test('qe_identity text → QE_IDENTITY_SIGNATURE_INVALID', () =>
    void rejects(() => verifyQuote(sgxQuote, edit({ qe_identity: sgxCol.qe_identity.replace('"isvprodid":1', '"isvprodid":2') }), { now: NOW }), 'QE_IDENTITY_SIGNATURE_INVALID'));
  test('qe_identity_signature → QE_IDENTITY_SIGNATURE_INVALID', () =>
    void rejects(() => verifyQuote(sgxQuote, edit({ qe_identity_signature: hexFlip(sgxCol.qe_identity_signature, 40) }), { now: NOW }), 'QE_IDENTITY_SIGNATURE_INVALID'));
  test('root_ca_crl signature → CRL_SIGNATURE_INVALID', () =>
    void rejects(() => verifyQuote(sgxQuote, edit({ root_ca_crl: hexFlip(sgxCol.root_ca_crl, 2) }), { now: NOW }), 'CRL_SIGNATURE_INVALID', 'root CA CRL'));
  test('pck_crl signed body (thisUpdate second) → CRL_SIGNATURE_INVALID', () => {
    const der = Buffer.from(sgxCol.pck_crl, 'hex');
    const i = der.indexOf(Buffer.from('250619', 'latin1')) + 11; // a seconds digit of thisUpdate
    der[i] = der[i] === 0x30 ? 0x31 : 0x30;
    rejects(() => verifyQuote(sgxQuote, edit({ pck_crl: der.toString('hex') }), { now: NOW }), 'CRL_SIGNATURE_INVALID', 'PCK CRL');
  });
  test('a certificate of the TCB signing chain → TCB_INFO_CHAIN_INVALID', () => {
    const pem = sgxCol.tcb_info_issuer_chain;
    const i = pem.indexOf('\n', 200) + 10;
    const changed = pem.slice(0, i) + (pem[i] === 'A' ? 'B' : 'A') + pem.slice(i + 1);
    rejects(() => verifyQuote(sgxQuote, edit({ tcb_info_issuer_chain: changed }), { now: NOW }), 'TCB_INFO_CHAIN_INVALID');
  });
  test('duplicate top-level key in a PCS body is rejected when reading collateral', () => {
    const body = `{"tcbInfo":${sgxCol.tcb_info},"tcbInfo":{},"signature":"${sgxCol.tcb_info_signature}"}`;
    assert.throws(() => parseCollateral({ ...sgxCol, tcb_info: body, tcb_info_signature: undefined }), /duplicate key/);
  });
});

describe('verification time outside the window, both ends', () => {
  test('before the PCK CRL thisUpdate → CRL_NOT_YET_VALID', () => void rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2025-06-19T10:00:00Z') }), 'CRL_NOT_YET_VALID', 'PCK CRL'));
  test('one second before TCB Info issueDate → TCB_INFO_NOT_YET_VALID; at issueDate it verifies', () => {
    rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2025-06-19T10:56:10Z') }), 'TCB_INFO_NOT_YET_VALID');
    assert.equal(verifyQuote(sgxQuote, sgxCol, { now: at('2025-06-19T10:56:11Z') }).status, 'ConfigurationAndSWHardeningNeeded');
  });
  test('before the root CA CRL thisUpdate → CRL_NOT_YET_VALID naming the root CA CRL', () =>
    void rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2025-03-01T00:00:00Z') }), 'CRL_NOT_YET_VALID', 'root CA CRL'));
  test('after the QE Identity nextUpdate → QE_IDENTITY_EXPIRED', () => void rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2025-07-19T10:15:00Z') }), 'QE_IDENTITY_EXPIRED'));
  test('after the CRLs expire → CRL_EXPIRED', () => void rejects(() => verifyQuote(sgxQuote, sgxCol, { now: at('2026-05-01T00:00:00Z') }), 'CRL_EXPIRED'));
  test('before the sample certificates were issued → CERT_NOT_YET_VALID', () =>
    void rejects(
      () => verifyQuote(readVector('intel-qvl-sampledata/sampleData/quote.dat'), intelSampleCollateral(), { now: at('2019-01-01T00:00:00Z'), trustedRoots: [INTEL_SAMPLE_ROOT()], pckCertChain: INTEL_SAMPLE_PCK_CHAIN() }),
      'CERT_NOT_YET_VALID',
    ));
  test('without `now`, today (after the window) is used → an expiry code', () => {
    const e = rejects(() => verifyQuote(sgxQuote, sgxCol), 'CRL_EXPIRED');
    assert.ok(e.details?.at);
  });
});

describe('roots', () => {
  test("Intel's sample quote is rejected under the production pin (its test root is never trusted implicitly)", () =>
    void rejects(() => verifyQuote(readVector('intel-qvl-sampledata/sampleData/quote.dat'), intelSampleCollateral(), { now: NOW, pckCertChain: INTEL_SAMPLE_PCK_CHAIN() }), 'PCK_CHAIN_UNTRUSTED'));
  test('a trusted root that is not a CA certificate → TRUSTED_ROOT_INVALID', () => {
    const leaf = INTEL_SAMPLE_PCK_CHAIN().split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n';
    rejects(() => verifyQuote(sgxQuote, sgxCol, { now: NOW, trustedRoots: [leaf] }), 'TRUSTED_ROOT_INVALID');
  });
  test('the production root given as DER explicitly also works', () => {
    const der = readVector('phala-dcap-qvl/src/TrustedRootCA.der');
    assert.equal(verifyQuote(sgxQuote, sgxCol, { now: NOW, trustedRoots: [der] }).status, 'ConfigurationAndSWHardeningNeeded');
  });
});

describe('files', () => {
  test('truncated quote → QUOTE_TRUNCATED', () => void rejects(() => verifyQuote(sgxQuote.subarray(0, 3000), sgxCol, { now: NOW }), 'QUOTE_TRUNCATED'));
  test('quote cut inside the header → QUOTE_TRUNCATED', () => void rejects(() => verifyQuote(sgxQuote.subarray(0, 20), sgxCol, { now: NOW }), 'QUOTE_TRUNCATED'));
  test('oversized quote (> 64 KiB) → QUOTE_TOO_LARGE', () => void rejects(() => verifyQuote(Buffer.concat([sgxQuote, Buffer.alloc(70_000)]), sgxCol, { now: NOW }), 'QUOTE_TOO_LARGE'));
  test('non-zero bytes after the signature data → QUOTE_TRAILING_BYTES', () =>
    void rejects(() => verifyQuote(Buffer.concat([sgxQuote, Buffer.from('junk')]), sgxCol, { now: NOW }), 'QUOTE_TRAILING_BYTES'));
  test('zero padding after the signature data is tolerated (the TDX sample carries 70 bytes)', () =>
    assert.equal(verifyQuote(Buffer.concat([sgxQuote, Buffer.alloc(100)]), sgxCol, { now: NOW }).status, 'ConfigurationAndSWHardeningNeeded'));
  test('an empty quote → QUOTE_TRUNCATED', () => void rejects(() => verifyQuote(new Uint8Array(0), sgxCol, { now: NOW }), 'QUOTE_TRUNCATED'));
});

describe('mismatches', () => {
  test('TDX quote with TDX collateral of another FMSPC → FMSPC_MISMATCH', () => {
    const e = rejects(() => verifyQuote(tdxQuote, phalaCollateral('tests/near/quote/quote_collateral.json'), { now: at('2025-09-15T00:00:00Z') }), 'FMSPC_MISMATCH');
    assert.deepEqual(e.details, { tcbInfo: '20A06F000000', pck: 'B0C06F000000' });
  });
  test('TDX quote with SGX collateral → CRL_UNKNOWN_ISSUER (Platform vs Processor CA) before anything else', () =>
    void rejects(() => verifyQuote(tdxQuote, sgxCol, { now: NOW }), 'CRL_UNKNOWN_ISSUER'));
  test('near TDX quote at 2025-07-01, before its PCK certificate was issued → CERT_NOT_YET_VALID', () =>
    void rejects(() => verifyQuote(hexQuote('phala-dcap-qvl/tests/near/quote/quote_hex.txt'), tdxCol, { now: NOW }), 'CERT_NOT_YET_VALID', 'SGX PCK Certificate'));
  test('type-1 quote without a PCK chain → PCK_CHAIN_MISSING', () =>
    void rejects(() => verifyQuote(readVector('intel-qvl-sampledata/sampleData/quote.dat'), intelSampleCollateral(), { now: NOW, trustedRoots: [INTEL_SAMPLE_ROOT()] }), 'PCK_CHAIN_MISSING'));
  test('a collateral that is not an object → COLLATERAL_INVALID', () =>
    void rejects(() => verifyQuote(sgxQuote, 'nope' as unknown as Collateral, { now: NOW }), 'COLLATERAL_INVALID'));
  test('an invalid `now` → VERIFY_OPTIONS_INVALID', () => void rejects(() => verifyQuote(sgxQuote, sgxCol, { now: new Date('x') }), 'VERIFY_OPTIONS_INVALID'));
});

test('hex vector helper sanity', () => assert.equal(hexQuote('phala-dcap-qvl/tests/near/quote/quote_hex.txt')[0], 4));
