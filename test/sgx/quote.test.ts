/** parseQuote / encodeQuote on every real quote in test/vectors/dcap. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  INTEL_QE_VENDOR_ID,

  QUOTE_BODY_TYPE,
  TEE_TYPE,
  encodeQuote,
  encodeQuoteSignedRegion,
  parseQuote,
  parsePckExtensions,
  quoteReportData,
  quoteToJson,
  signatureDataSize,
  type PckChainCertificationData,
  type Quote,
} from '../../src/sgx/index.js';
import { allQuotes, expectCode, loadQuote } from './vectors.js';

function chain(q: Quote): PckChainCertificationData {
  const c = q.signatureData.certificationData;
  assert.equal(c.type, 5);
  if (c.type !== 5) throw new Error('unreachable');
  return c;
}

describe('field values (SOURCES.md, dcap.md)', () => {
  test('SGX v3 sample: header, enclave report, QE report, PEM chain', () => {
    const q = parseQuote(loadQuote('sgxV3'));
    assert.equal(q.bytes.length, 4600);
    assert.equal(q.header.version, 3);
    assert.equal(q.header.attestationKeyType, 2);
    assert.equal(q.header.teeType, TEE_TYPE.SGX);
    assert.equal(q.header.qeSvn, 10);
    assert.equal(q.header.pceSvn, 15);
    assert.deepEqual(q.header.qeVendorId, INTEL_QE_VENDOR_ID);
    assert.equal(q.header.qeId.length, 16);
    assert.equal(q.body.type, QUOTE_BODY_TYPE.SGX);
    if (q.body.type !== QUOTE_BODY_TYPE.SGX) return;
    const r = q.body.sgx;
    assert.equal(r.reportData.subarray(0, 13).toString('latin1'), 'Hello, world!');
    assert.ok(r.reportData.subarray(13).every((b) => b === 0));
    assert.equal(r.attributes.flags, 0x05n);
    assert.equal(r.attributes.xfrm, 0xe7n);
    assert.equal(r.attributes.debug, false);
    assert.equal(r.attributes.mode64bit, true);
    assert.equal(r.attributes.init, true);
    assert.deepEqual(quoteReportData(q), r.reportData);
    assert.equal(q.signedBytes.length, 432);
    assert.deepEqual(q.signedBytes, loadQuote('sgxV3').subarray(0, 432));
    assert.equal(q.signatureDataOffset, 436);
    assert.equal(q.signatureDataLength, 4164);
    const s = q.signatureData;
    assert.equal(s.qeReport.attributes.flags, 0x15n);
    assert.equal(s.qeReport.attributes.provisionKey, true);
    assert.equal(s.qeReport.isvSvn, 10);
    assert.deepEqual(s.qeReportBytes, loadQuote('sgxV3').subarray(564, 948));
    assert.deepEqual(s.qeAuthData, Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
    const c = chain(q);
    assert.equal(c.encoding, 'pem');
    assert.equal(c.certificates.length, 3);
    assert.equal(c.pem.length, 3);
    assert.ok(c.data.subarray(-2).equals(Buffer.from('\n\0', 'latin1')));
    assert.equal(parsePckExtensions(c.certificates[0]).fmspc.toString('hex'), '00a067110000');
  });

  test('TDX v4 sample: TD report 1.0, type 6 wrapping type 5, zero padding', () => {
    const q = parseQuote(loadQuote('tdxV4'));
    assert.equal(q.header.version, 4);
    assert.equal(q.header.teeType, TEE_TYPE.TDX);
    assert.equal(q.body.type, QUOTE_BODY_TYPE.TD10);
    if (q.body.type !== QUOTE_BODY_TYPE.TD10) return;
    assert.equal(q.body.td10.teeTcbSvn.subarray(0, 4).toString('hex'), '06010300');
    assert.equal(q.body.td10.tdAttributes.debug, false);
    assert.equal(q.signedBytes.length, 632);
    assert.equal(q.signatureDataOffset, 636);
    assert.deepEqual(q.signatureData.qeReportBytes, loadQuote('tdxV4').subarray(770, 1154));
    assert.equal(q.bytes.length, 4936);
    assert.equal(q.trailingZeros, 70);
    assert.equal(parsePckExtensions(chain(q).certificates[0]).fmspc.toString('hex'), 'b0c06f000000');
  });

  test('TDX v5 sample: body type 3 (TD report 1.5, 648 B)', () => {
    const q = parseQuote(loadQuote('tdxV5'));
    assert.equal(q.header.version, 5);
    assert.equal(q.body.type, QUOTE_BODY_TYPE.TD15);
    if (q.body.type !== QUOTE_BODY_TYPE.TD15) return;
    assert.equal(q.signedBytes.length, 48 + 6 + 648);
    assert.equal(q.body.td15.teeTcbSvn2.length, 16);
    assert.equal(q.body.td15.mrServiceTd.length, 48);
    assert.equal(q.trailingZeros, 0);
    assert.equal(parsePckExtensions(chain(q).certificates[0]).fmspc.toString('hex'), '90c06f000000');
  });

  test('hex-text TDX quotes (0x prefix, newline, no prefix)', () => {
    for (const name of ['tdxHex', 'tappdHex', 'nearHex'] as const) {
      const q = parseQuote(loadQuote(name));
      assert.equal(q.header.version, 4, name);
      assert.equal(q.body.type, QUOTE_BODY_TYPE.TD10, name);
    }
    assert.equal(parsePckExtensions(chain(parseQuote(loadQuote('nearHex'))).certificates[0]).fmspc.toString('hex'), '20a06f000000');
  });

  test("Intel's sample: type 1 (PPID in clear, 34 bytes), empty QE auth data, zero report", () => {
    const q = parseQuote(loadQuote('intelSgxType1'));
    assert.equal(q.bytes.length, 1054);
    assert.equal(q.signatureData.qeAuthData.length, 0);
    const c = q.signatureData.certificationData;
    assert.equal(c.type, 1);
    if (c.type !== 1) return;
    assert.equal(c.data.length, 34);
    assert.equal(c.ppid.length, 16);
    assert.equal(c.cpuSvn.length, 16);
    assert.equal(c.pceSvn, 3);
    assert.equal(c.pceId, undefined);
    if (q.body.type !== QUOTE_BODY_TYPE.SGX) assert.fail('SGX body expected');
    assert.ok(q.body.sgx.mrEnclave.every((b) => b === 0));
    assert.equal(q.body.sgx.attributes.flags, 0n);
  });

  test("Intel's TDX sample: type 5 holding DER, root first", () => {
    const q = parseQuote(loadQuote('intelTdxDer'));
    const c = chain(q);
    assert.equal(c.encoding, 'der');
    assert.equal(c.certificates.length, 3);
    assert.ok(c.pem[0].startsWith('-----BEGIN CERTIFICATE-----\n'));
    expectCode(() => parsePckExtensions(c.certificates[0]), 'PCK_EXTENSION_MISSING');
    assert.equal(parsePckExtensions(c.certificates[2]).tcbComponents.length, 16);
  });
});

describe('round trip', () => {
  for (const v of allQuotes()) {
    test(`encodeQuote(parseQuote(x)) === x: ${v.name}`, () => {
      const q = parseQuote(v.bytes);
      assert.ok(encodeQuote(q).equals(v.bytes));
      assert.ok(encodeQuoteSignedRegion(q).equals(q.signedBytes));
      assert.equal(signatureDataSize(q), q.signatureDataLength);
      // JSON rendering covers every field without throwing and is JSON-safe
      const json = JSON.parse(JSON.stringify(quoteToJson(q))) as Record<string, unknown>;
      assert.equal(json.size, v.bytes.length);
    });
  }

  test('a Uint8Array that is a view into a larger buffer parses the same', () => {
    const b = loadQuote('sgxV3');
    const big = new Uint8Array(b.length + 20);
    big.set(b, 7);
    const q = parseQuote(big.subarray(7, 7 + b.length));
    assert.ok(encodeQuote(q).equals(b));
  });

  test('edited fields are re-encoded with recomputed lengths', () => {
    const q = parseQuote(loadQuote('sgxV3'));
    const auth = Buffer.alloc(5, 7);
    const edited = { ...q, signatureData: { ...q.signatureData, qeAuthData: auth } };
    const again = parseQuote(encodeQuote(edited));
    assert.deepEqual(again.signatureData.qeAuthData, auth);
    assert.equal(again.signatureDataLength, q.signatureDataLength - 27);
  });
});

describe('bad input', () => {
  for (const v of allQuotes()) {
    test(`every truncation is QUOTE_TRUNCATED: ${v.name}`, () => {
      const end = parseQuote(v.bytes).bytes.length;
      for (let len = 0; len < v.bytes.length; len++) {
        const cut = v.bytes.subarray(0, len);
        if (len < end) expectCode(() => parseQuote(cut), 'QUOTE_TRUNCATED');
        else assert.equal(parseQuote(cut).trailingZeros, len - end); // only zero padding was cut
      }
    });
  }

  test('trailing bytes: non-zero rejected, zeros tolerated unless trailing = reject', () => {
    const b = loadQuote('sgxV3');
    const e = expectCode(() => parseQuote(Buffer.concat([b, Buffer.from([1])])), 'QUOTE_TRAILING_BYTES');
    assert.equal(e.offset, b.length);
    expectCode(() => parseQuote(Buffer.concat([b, Buffer.from([0, 0, 9])])), 'QUOTE_TRAILING_BYTES');
    expectCode(() => parseQuote(Buffer.concat([b, Buffer.alloc(3)]), { trailing: 'reject' }), 'QUOTE_TRAILING_BYTES');
    expectCode(() => parseQuote(loadQuote('tdxV4'), { trailing: 'reject' }), 'QUOTE_TRAILING_BYTES');
    assert.equal(parseQuote(Buffer.concat([b, Buffer.alloc(3)])).trailingZeros, 3);
  });

  const patch = (b: Buffer, fn: (c: Buffer) => void): Buffer => {
    const c = Buffer.from(b);
    fn(c);
    return c;
  };

  test('header fields', () => {
    const b = loadQuote('sgxV3');
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt16LE(6, 0))), 'QUOTE_UNSUPPORTED_VERSION', ['header', 'version']);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt16LE(3, 2))), 'QUOTE_UNSUPPORTED_KEY_TYPE', ['header', 'attestationKeyType']);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt32LE(0x81, 4))), 'QUOTE_UNSUPPORTED_TEE', ['header', 'teeType']);
    const t = loadQuote('tdxV4');
    expectCode(() => parseQuote(patch(t, (c) => c.writeUInt32LE(0x82, 4))), 'QUOTE_UNSUPPORTED_TEE');
  });

  test('v5 body descriptor', () => {
    const b = loadQuote('tdxV5');
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt16LE(4, 48))), 'QUOTE_UNSUPPORTED_BODY_TYPE', ['bodyType']);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt16LE(1, 48))), 'QUOTE_BAD_FIELD', ['bodyType']);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt32LE(584, 50))), 'QUOTE_BAD_FIELD', ['bodySize']);
  });

  test('signature data length: absurd, too long, too short', () => {
    const b = loadQuote('sgxV3');
    const e = expectCode(() => parseQuote(patch(b, (c) => c.writeUInt32LE(0xffffffff, 432))), 'QUOTE_BAD_LENGTH', ['signatureDataLength']);
    assert.equal(e.offset, 432);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt32LE(4165, 432))), 'QUOTE_TRUNCATED', ['signatureDataLength']);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt32LE(4163, 432))), 'CERT_DATA_BAD_LENGTH', ['signatureData', 'certificationData', 'size']);
    // shorter declared lengths with the bytes still present: what follows is not signature data
    const shorter = (n: number): Buffer =>
      patch(b, (c) => {
        c.writeUInt32LE(4164 - n, 432);
        c.writeUInt32LE(3548 - n, 1016 + 32);
      });
    expectCode(() => parseQuote(shorter(2)), 'QUOTE_TRAILING_BYTES'); // "\n" left outside
    assert.equal(parseQuote(shorter(1)).trailingZeros, 1); // only the final NUL left outside: padding
    assert.ok(encodeQuote(parseQuote(shorter(1))).equals(shorter(1)));
  });

  test('QE auth data and certification data lengths', () => {
    const b = loadQuote('sgxV3');
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt16LE(0xffff, 1012))), 'QUOTE_BAD_LENGTH', ['signatureData', 'qeAuthData', 'size']);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt16LE(7, 1014 + 32))), 'CERT_DATA_UNSUPPORTED_TYPE', ['signatureData', 'certificationData', 'type']);
    expectCode(() => parseQuote(patch(b, (c) => c.writeUInt16LE(6, 1014 + 32))), 'CERT_DATA_UNSUPPORTED_TYPE');
    const t = loadQuote('tdxV4');
    expectCode(() => parseQuote(patch(t, (c) => c.writeUInt16LE(5, 764))), 'CERT_DATA_UNSUPPORTED_TYPE', ['signatureData', 'certificationData', 'type']);
    expectCode(() => parseQuote(patch(t, (c) => c.writeUInt32LE(4200, 766))), 'CERT_DATA_BAD_LENGTH', ['signatureData', 'certificationData', 'size']);
    expectCode(() => parseQuote(patch(t, (c) => c.writeUInt32LE(4165, 766))), 'CERT_DATA_BAD_LENGTH', ['signatureData', 'certificationData', 'certificationData', 'size']);
    expectCode(() => parseQuote(patch(t, (c) => c.writeUInt32LE(4165, 766))), 'CERT_DATA_BAD_LENGTH');
    // inner type 6 inside type 6
    expectCode(() => parseQuote(patch(t, (c) => c.writeUInt16LE(6, 1220 + 32))), 'CERT_DATA_UNSUPPORTED_TYPE', ['signatureData', 'certificationData', 'certificationData', 'type']);
  });

  test('PEM chain damage is CERT_DATA_BAD_PEM / CERT_DATA_BAD_DER', () => {
    const b = loadQuote('sgxV3');
    const certStart = 1014 + 32 + 6;
    expectCode(() => parseQuote(patch(b, (c) => c.write('*', certStart + 100, 'latin1'))), 'CERT_DATA_BAD_PEM');
    expectCode(() => parseQuote(patch(b, (c) => c.write('!', certStart + 40, 'latin1'))), 'CERT_DATA_BAD_PEM');
    expectCode(() => parseQuote(patch(b, (c) => c.write('-----END CERT', b.length - 28, 'latin1'))), 'CERT_DATA_BAD_PEM');
    // '=' before the end, and one base64 character blanked out (length no longer a multiple of 4)
    expectCode(() => parseQuote(patch(b, (c) => c.write('=', certStart + 100, 'latin1'))), 'CERT_DATA_BAD_PEM');
    expectCode(() => parseQuote(patch(b, (c) => c.write(' ', certStart + 100, 'latin1'))), 'CERT_DATA_BAD_PEM');
    // base64 that decodes to something other than a single DER certificate
    expectCode(() => parseQuote(patch(b, (c) => c.write('AAAA', certStart + 28, 'latin1'))), 'CERT_DATA_BAD_DER');
  });

  test('a PEM chain decoded before is decoded the same from the memo; damage to it is still refused afterwards', () => {
    const b = loadQuote('sgxV3');
    const first = parseQuote(b).signatureData.certificationData;
    const again = parseQuote(Buffer.from(b)).signatureData.certificationData;
    assert.deepEqual(again, first);
    const certStart = 1014 + 32 + 6;
    expectCode(() => parseQuote(patch(b, (c) => c.write('*', certStart + 100, 'latin1'))), 'CERT_DATA_BAD_PEM');
    expectCode(() => parseQuote(patch(b, (c) => c.write('AAAA', certStart + 28, 'latin1'))), 'CERT_DATA_BAD_DER');
    assert.deepEqual(parseQuote(b).signatureData.certificationData, first);
  });

  test('not a Uint8Array', () => {
    expectCode(() => parseQuote('hello' as unknown as Uint8Array), 'QUOTE_BAD_INPUT');
  });
});
