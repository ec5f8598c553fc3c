/** Report body, report, target info and TD reports: sizes, offsets, round trips, errors. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KubeSgxError } from '../../src/errors.js';
import {
  REPORT_BODY_OFFSET,
  SGX_ATTRIBUTE_FLAGS,
  SGX_REPORT_BODY_SIZE,
  SGX_REPORT_SIZE,
  SGX_TARGET_INFO_SIZE,
  TD_REPORT10_SIZE,
  TD_REPORT15_SIZE,
  TD_REPORT_OFFSET,
  decodeQuoteFile,
  encodeCertificationData,
  encodeQuote,
  encodeReport,
  encodeReportBody,
  encodeTargetInfo,
  encodeTdReport10,
  encodeTdReport15,
  makeReportBody,
  makeTargetInfo,
  parseCertificationData,
  parseQuote,
  parseReport,
  parseReportBody,
  parseTargetInfo,
  parseTdReport10,
  parseTdReport15,
  pckChainCertificationData,
} from '../../src/sgx/index.js';
import { decodeBase64, decodeHex } from '../../src/encoding.js';
import { expectCode, loadQuote, readVector, QUOTE_FILES } from './vectors.js';

const blob = (n: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: n, maxLength: n }).map((u) => Buffer.from(u));

describe('fixed-size structures round-trip byte for byte', () => {
  const cases: Array<[string, number, (b: Buffer) => unknown, (v: never) => Buffer]> = [
    ['report body', SGX_REPORT_BODY_SIZE, parseReportBody, encodeReportBody as (v: never) => Buffer],
    ['report', SGX_REPORT_SIZE, parseReport, encodeReport as (v: never) => Buffer],
    ['target info', SGX_TARGET_INFO_SIZE, parseTargetInfo, encodeTargetInfo as (v: never) => Buffer],
    ['TD report 1.0', TD_REPORT10_SIZE, parseTdReport10, encodeTdReport10 as (v: never) => Buffer],
    ['TD report 1.5', TD_REPORT15_SIZE, parseTdReport15, encodeTdReport15 as (v: never) => Buffer],
  ];
  for (const [name, size, parse, encode] of cases) {
    test(name, () => {
      fc.assert(
        fc.property(blob(size), (b) => {
          assert.ok(encode(parse(b) as never).equals(b));
        }),
        { numRuns: 300 },
      );
      expectCode(() => parse(Buffer.alloc(size - 1)), 'SGX_STRUCT_TRUNCATED');
      expectCode(() => parse(Buffer.alloc(size + 1)), 'SGX_STRUCT_TRAILING_BYTES');
    });
  }
});

describe('field offsets', () => {
  test('report body fields sit where dcap.md §1.3 says', () => {
    const b = Buffer.alloc(SGX_REPORT_BODY_SIZE);
    b.fill(0xaa, REPORT_BODY_OFFSET.MR_ENCLAVE, REPORT_BODY_OFFSET.MR_ENCLAVE + 32);
    b.fill(0xbb, REPORT_BODY_OFFSET.MR_SIGNER, REPORT_BODY_OFFSET.MR_SIGNER + 32);
    b.writeUInt16LE(0x1234, REPORT_BODY_OFFSET.ISV_PROD_ID);
    b.writeUInt16LE(0x5678, REPORT_BODY_OFFSET.ISV_SVN);
    b.writeUInt32LE(0x9abcdef0, REPORT_BODY_OFFSET.MISC_SELECT);
    b.writeBigUInt64LE(0x07n, REPORT_BODY_OFFSET.ATTRIBUTES);
    b.writeBigUInt64LE(0xe7n, REPORT_BODY_OFFSET.ATTRIBUTES + 8);
    b[REPORT_BODY_OFFSET.REPORT_DATA + 63] = 0x42;
    const r = parseReportBody(b);
    assert.ok(r.mrEnclave.equals(Buffer.alloc(32, 0xaa)));
    assert.ok(r.mrSigner.equals(Buffer.alloc(32, 0xbb)));
    assert.equal(r.isvProdId, 0x1234);
    assert.equal(r.isvSvn, 0x5678);
    assert.equal(r.miscSelect, 0x9abcdef0);
    assert.equal(r.attributes.debug, true);
    assert.equal(r.attributes.mode64bit, true);
    assert.equal(r.attributes.xfrm, 0xe7n);
    assert.equal(r.reportData[63], 0x42);
  });

  test('TD report fields sit where dcap.md §1.4 says', () => {
    const b = Buffer.alloc(TD_REPORT15_SIZE);
    b.writeBigUInt64LE(0x10000001n, TD_REPORT_OFFSET.TD_ATTRIBUTES);
    b.fill(0xcc, TD_REPORT_OFFSET.MR_TD, TD_REPORT_OFFSET.MR_TD + 48);
    b.fill(0xdd, TD_REPORT_OFFSET.RTMR0 + 3 * 48, TD_REPORT_OFFSET.RTMR0 + 4 * 48);
    b.fill(0xee, TD_REPORT_OFFSET.MR_SERVICE_TD, TD_REPORT_OFFSET.MR_SERVICE_TD + 48);
    const t = parseTdReport15(b);
    assert.equal(t.tdAttributes.debug, true);
    assert.equal(t.tdAttributes.septVeDisable, true);
    assert.ok(t.mrTd.equals(Buffer.alloc(48, 0xcc)));
    assert.ok(t.rtMr[3].equals(Buffer.alloc(48, 0xdd)));
    assert.ok(t.mrServiceTd.equals(Buffer.alloc(48, 0xee)));
  });

  test('target info: attributes at 32, config svn at 50, misc select at 52', () => {
    const t = makeTargetInfo({ attributes: { flags: SGX_ATTRIBUTE_FLAGS.INIT | SGX_ATTRIBUTE_FLAGS.MODE64BIT, xfrm: 3n }, configSvn: 9, miscSelect: 1 });
    const b = encodeTargetInfo(t);
    assert.equal(b.readBigUInt64LE(32), 5n);
    assert.equal(b.readUInt16LE(50), 9);
    assert.equal(b.readUInt32LE(52), 1);
    assert.equal(parseTargetInfo(b).attributes.mode64bit, true);
  });
});

describe('builders and encoder checks', () => {
  test('makeReportBody zero-fills and the encoder checks sizes and ranges', () => {
    const r = makeReportBody({ isvSvn: 3, attributes: { flags: SGX_ATTRIBUTE_FLAGS.PROVISIONKEY, xfrm: 0n } });
    const b = encodeReportBody(r);
    assert.equal(b.readUInt16LE(258), 3);
    assert.equal(parseReportBody(b).attributes.provisionKey, true);
    expectCode(() => encodeReportBody({ ...r, mrEnclave: Buffer.alloc(31) }), 'ENCODE_BAD_FIELD');
    expectCode(() => encodeReportBody({ ...r, isvSvn: 0x10000 }), 'ENCODE_BAD_FIELD');
    expectCode(() => encodeReportBody({ ...r, attributes: { ...r.attributes, flags: -1n } }), 'ENCODE_BAD_FIELD');
  });

  test('quote encoder rejects impossible combinations', () => {
    const q = parseQuote(loadQuote('tdxV5'));
    expectCode(() => encodeQuote({ ...q, header: { ...q.header, version: 4 } }), 'ENCODE_BAD_FIELD'); // TD 1.5 body in v4
    expectCode(() => encodeQuote({ ...q, header: { ...q.header, teeType: 0 } }), 'ENCODE_BAD_FIELD');
    expectCode(() => encodeQuote({ ...q, signatureData: { ...q.signatureData, signature: Buffer.alloc(63) } }), 'ENCODE_BAD_FIELD');
  });

  test('pckChainCertificationData lays a chain out as Intel does and re-parses', () => {
    const q = parseQuote(loadQuote('sgxV3'));
    const c = q.signatureData.certificationData;
    if (c.type !== 5) assert.fail();
    const built = pckChainCertificationData(c.pem);
    assert.ok(built.data.equals(c.data));
    const again = parseCertificationData(encodeCertificationData(built));
    assert.equal(again.type, 5);
    expectCode(() => pckChainCertificationData('not pem'), 'CERT_DATA_BAD_DER');
  });

  test('standalone type-6 certification data round-trips', () => {
    const raw = loadQuote('tdxV4').subarray(764, 764 + 6 + 4166);
    const c = parseCertificationData(raw);
    assert.equal(c.type, 6);
    assert.ok(encodeCertificationData(c).equals(raw));
    expectCode(() => parseCertificationData(Buffer.concat([raw, Buffer.alloc(1)])), 'CERT_DATA_TRAILING_BYTES');
    expectCode(() => parseCertificationData(raw.subarray(0, 100)), 'CERT_DATA_TRUNCATED');
  });
});

describe('quote files: binary, hex, base64', () => {
  test('the same quote decodes identically from each encoding', () => {
    const bin = readVector(QUOTE_FILES.sgxV3);
    assert.equal(decodeQuoteFile(bin), bin);
    assert.ok(decodeQuoteFile(Buffer.from(bin.toString('hex') + '\n')).equals(bin));
    assert.ok(decodeQuoteFile(Buffer.from('0x' + bin.toString('hex').toUpperCase())).equals(bin));
    assert.ok(decodeQuoteFile(Buffer.from(bin.toString('base64').replace(/.{76}/g, '$&\n'))).equals(bin));
    assert.ok(decodeQuoteFile(Buffer.from(bin.toString('base64url'))).equals(bin));
  });

  test('junk is QUOTE_BAD_ENCODING, empty is QUOTE_TRUNCATED', () => {
    expectCode(() => decodeQuoteFile(Buffer.from('hello, world')), 'QUOTE_BAD_ENCODING');
    expectCode(() => decodeQuoteFile(Buffer.from('abc')), 'QUOTE_BAD_ENCODING');
    expectCode(() => decodeQuoteFile(Buffer.from(' \n')), 'QUOTE_TRUNCATED');
    expectCode(() => decodeQuoteFile(Buffer.alloc(5 * 1024 * 1024, 0x41)), 'QUOTE_TOO_LARGE');
    expectCode(() => decodeHex('abc'), 'BAD_HEX');
    expectCode(() => decodeBase64('a'), 'INVALID_BASE64');
  });
});

describe('decodeBase64 (src/encoding.ts)', () => {
  /** The rule written the slow, obvious way: strip whitespace, check the alphabet and the length, translate base64url. */
  function model(text: string, standard: boolean): Buffer | 'INVALID_BASE64' {
    const s = text.replace(/\s+/g, '');
    const ok = standard ? /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 : /^[A-Za-z0-9+/_-]*={0,2}$/.test(s) && s.replace(/=+$/, '').length % 4 !== 1;
    return ok ? Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64') : 'INVALID_BASE64';
  }
  const decoded = (text: string, standard: boolean): Buffer | 'INVALID_BASE64' => {
    try {
      return decodeBase64(text, 'x', standard ? { alphabet: 'standard' } : {});
    } catch (e) {
      return (e as { code: string }).code as 'INVALID_BASE64';
    }
  };

  test('agrees with the obvious rule on encodings of random bytes, with and without whitespace, and on junk', () => {
    const encoded = fc.tuple(fc.uint8Array({ maxLength: 96 }), fc.constantFrom('base64', 'base64url'), fc.boolean()).map(([b, enc, wrap]) => {
      const t = Buffer.from(b).toString(enc as BufferEncoding);
      return wrap ? t.replace(/(.{16})/g, '$1\n ') : t;
    });
    const junk = fc.string({ unit: fc.constantFrom('A', 'z', '0', '+', '/', '-', '_', '=', ' ', '\n', '!', '.', '\u00e9') });
    fc.assert(
      fc.property(fc.oneof(encoded, junk), fc.boolean(), (text, standard) => {
        const want = model(text, standard);
        const got = decoded(text, standard);
        assert.deepEqual(got, want, JSON.stringify(text));
      }),
      { numRuns: 2000 },
    );
  });

  test('refuses stray characters, impossible lengths and non-strings; ignores whitespace', () => {
    for (const bad of ['a', '!!!!', 'QUJD!', 'QU=JD', 'QUJDR', 'QUJD===']) expectCode(() => decodeBase64(bad), 'INVALID_BASE64');
    expectCode(() => decodeBase64('QUI', 'x', { alphabet: 'standard' }), 'INVALID_BASE64');
    expectCode(() => decodeBase64('QU-_', 'x', { alphabet: 'standard' }), 'INVALID_BASE64');
    expectCode(() => decodeBase64(42), 'INVALID_BASE64');
    assert.equal(decodeBase64(' QU\nJD ').toString(), 'ABC');
    assert.deepEqual([...decodeBase64('-_8')], [...Buffer.from('+/8', 'base64')]);
  });
});

describe('encoders given garbage', () => {
  test('any field replaced by any value: a Buffer or ENCODE_BAD_FIELD, never another error', () => {
    const quotes = [parseQuote(loadQuote('sgxV3')), parseQuote(loadQuote('tdxV5')), parseQuote(loadQuote('intelSgxType1'))];
    const parts = ['header', 'body', 'signatureData'] as const;
    fc.assert(
      fc.property(fc.nat(quotes.length - 1), fc.constantFrom(...parts), fc.nat(), fc.anything({ withBigInt: true, withTypedArray: true }), fc.boolean(), (qi, part, fieldIndex, value, deep) => {
        const q = quotes[qi];
        const target: Record<string, unknown> = { ...(q[part] as unknown as Record<string, unknown>) };
        const keys = Object.keys(target);
        const key = keys[fieldIndex % keys.length];
        if (deep && typeof target[key] === 'object' && target[key] !== null && !(target[key] instanceof Uint8Array)) {
          const inner: Record<string, unknown> = { ...(target[key] as Record<string, unknown>) };
          const ik = Object.keys(inner);
          inner[ik[fieldIndex % ik.length]] = value;
          target[key] = inner;
        } else target[key] = value;
        try {
          const out = encodeQuote({ ...q, [part]: target } as unknown as Parameters<typeof encodeQuote>[0]);
          assert.ok(Buffer.isBuffer(out));
        } catch (e) {
          assert.ok(e instanceof KubeSgxError, `${part}.${key}: ${String(e)}`);
          assert.equal(e.code, 'ENCODE_BAD_FIELD');
        }
      }),
      { numRuns: Number(process.env.SGX_GARBAGE_RUNS ?? 3000) },
    );
  });
});
