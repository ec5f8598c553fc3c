/** Field values of the real quotes against Phala dcap-qvl's insta snapshots. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuote, QUOTE_BODY_TYPE, type ReportBody } from '../../src/sgx/index.js';
import { loadQuote, snapshotFields } from './vectors.js';

const SNAP = 'phala-dcap-qvl/tests/snapshots/';

/** Consumes snapshot fields in order, asserting names. */
class Cursor {
  i = 0;
  constructor(readonly fields: Array<[string, number[] | number | string]>) {}
  take(name: string): number[] | number | string {
    const f = this.fields[this.i++];
    assert.ok(f, `snapshot ended before ${name}`);
    assert.equal(f[0], name);
    return f[1];
  }
  bytes(name: string, actual: Uint8Array): void {
    assert.deepEqual(Buffer.from(actual).toString('hex'), Buffer.from(this.take(name) as number[]).toString('hex'), name);
  }
  num(name: string, actual: number): void {
    assert.equal(actual, this.take(name), name);
  }
}

function checkHeader(c: Cursor, q: ReturnType<typeof parseQuote>): void {
  c.num('version', q.header.version);
  c.num('attestation_key_type', q.header.attestationKeyType);
  c.num('tee_type', q.header.teeType);
  c.num('qe_svn', q.header.qeSvn);
  c.num('pce_svn', q.header.pceSvn);
  c.bytes('qe_vendor_id', q.header.qeVendorId);
  c.bytes('user_data', q.header.userData);
}

/** Phala groups the report body's reserved/KSS fields differently; compare by its grouping. */
function checkSgxReport(c: Cursor, r: ReportBody): void {
  const attrs = Buffer.alloc(16);
  attrs.writeBigUInt64LE(r.attributes.flags, 0);
  attrs.writeBigUInt64LE(r.attributes.xfrm, 8);
  const u16 = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return b;
  };
  c.bytes('cpu_svn', r.cpuSvn);
  c.num('misc_select', r.miscSelect);
  c.bytes('reserved1', Buffer.concat([r.reserved1, r.isvExtProdId]));
  c.bytes('attributes', attrs);
  c.bytes('mr_enclave', r.mrEnclave);
  c.bytes('reserved2', r.reserved2);
  c.bytes('mr_signer', r.mrSigner);
  c.bytes('reserved3', Buffer.concat([r.reserved3, r.configId]));
  c.num('isv_prod_id', r.isvProdId);
  c.num('isv_svn', r.isvSvn);
  c.bytes('reserved4', Buffer.concat([u16(r.configSvn), r.reserved4, r.isvFamilyId]));
  c.bytes('report_data', r.reportData);
}

describe('quotes match the dcap-qvl snapshots', () => {
  test('SGX v3 sample', () => {
    const q = parseQuote(loadQuote('sgxV3'));
    const c = new Cursor(snapshotFields(SNAP + 'verify_quote__could_parse_sgx_quote.snap'));
    checkHeader(c, q);
    assert.equal(q.body.type, QUOTE_BODY_TYPE.SGX);
    if (q.body.type !== QUOTE_BODY_TYPE.SGX) return;
    checkSgxReport(c, q.body.sgx);
    const s = q.signatureData;
    c.bytes('ecdsa_signature', s.signature);
    c.bytes('ecdsa_attestation_key', s.attestationKey);
    c.bytes('qe_report', s.qeReportBytes);
    c.bytes('qe_report_signature', s.qeReportSignature);
    c.bytes('data', s.qeAuthData);
    c.num('cert_type', s.certificationData.type);
    assert.equal(c.take('body'), s.certificationData.data.toString('latin1'));
    assert.equal(c.i, c.fields.length, 'every snapshot field compared');
  });

  test('TDX v4 sample', () => {
    const q = parseQuote(loadQuote('tdxV4'));
    const c = new Cursor(snapshotFields(SNAP + 'verify_quote__could_parse_tdx_quote.snap'));
    checkHeader(c, q);
    assert.equal(q.body.type, QUOTE_BODY_TYPE.TD10);
    if (q.body.type !== QUOTE_BODY_TYPE.TD10) return;
    const t = q.body.td10;
    const u64 = (v: bigint): Buffer => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(v);
      return b;
    };
    c.bytes('tee_tcb_svn', t.teeTcbSvn);
    c.bytes('mr_seam', t.mrSeam);
    c.bytes('mr_signer_seam', t.mrSignerSeam);
    c.bytes('seam_attributes', u64(t.seamAttributes));
    c.bytes('td_attributes', u64(t.tdAttributes.value));
    c.bytes('xfam', u64(t.xfam));
    c.bytes('mr_td', t.mrTd);
    c.bytes('mr_config_id', t.mrConfigId);
    c.bytes('mr_owner', t.mrOwner);
    c.bytes('mr_owner_config', t.mrOwnerConfig);
    t.rtMr.forEach((m, i) => c.bytes(`rt_mr${i}`, m));
    c.bytes('report_data', t.reportData);
    const s = q.signatureData;
    c.bytes('ecdsa_signature', s.signature);
    c.bytes('ecdsa_attestation_key', s.attestationKey);
    c.num('cert_type', 6);
    c.take('body'); // the type-6 blob, shown lossily as UTF-8 by Rust
    c.bytes('qe_report', s.qeReportBytes);
    c.bytes('qe_report_signature', s.qeReportSignature);
    c.bytes('data', s.qeAuthData);
    c.num('cert_type', s.certificationData.type);
    assert.equal(c.take('body'), s.certificationData.data.toString('latin1'));
    assert.equal(c.i, c.fields.length, 'every snapshot field compared');
  });
});
