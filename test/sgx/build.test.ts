/** Quotes built from parts (as the simulator does) for every version × body × certification data type. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeSgxError } from '../../src/errors.js';
import {
  QUOTE_BODY_TYPE,
  TEE_TYPE,
  encodeCertificationData,
  encodeQuote,
  encodeQuoteSignedRegion,
  makeQuoteHeader,
  makeReportBody,
  makeTdReport10,
  makeTdReport15,
  parseCertificationData,
  parseQuote,
  pckChainCertificationData,
  type CertificationData,
  type QuoteBody,
} from '../../src/sgx/index.js';
import { loadQuote } from './vectors.js';

const pem = (() => {
  const c = parseQuote(loadQuote('sgxV3')).signatureData.certificationData;
  if (c.type !== 5) throw new Error('unreachable');
  return c.pem;
})();

function ppid(type: 1 | 2 | 3, withPceId: boolean): CertificationData {
  const ppidLen = { 1: 16, 2: 256, 3: 384 }[type];
  const data = Buffer.alloc(ppidLen + (withPceId ? 20 : 18), 0x11);
  data.writeUInt16LE(7, ppidLen + 16);
  if (withPceId) data.writeUInt16LE(0, ppidLen + 18);
  return parseCertificationData(Buffer.concat([Buffer.from([type, 0]), u32(data.length), data]));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

const certs: CertificationData[] = [
  ppid(1, true),
  ppid(1, false),
  ppid(2, true),
  ppid(3, true),
  { type: 4, data: Buffer.from('3003020101', 'hex') },
  pckChainCertificationData(pem),
];

const bodies: Array<[3 | 4 | 5, number, QuoteBody]> = [
  [3, TEE_TYPE.SGX, { type: QUOTE_BODY_TYPE.SGX, sgx: makeReportBody({ isvSvn: 2 }) }],
  [4, TEE_TYPE.SGX, { type: QUOTE_BODY_TYPE.SGX, sgx: makeReportBody({ isvSvn: 2 }) }],
  [4, TEE_TYPE.TDX, { type: QUOTE_BODY_TYPE.TD10, td10: makeTdReport10({ tdAttributes: 0x10000000n }) }],
  [5, TEE_TYPE.SGX, { type: QUOTE_BODY_TYPE.SGX, sgx: makeReportBody() }],
  [5, TEE_TYPE.TDX, { type: QUOTE_BODY_TYPE.TD10, td10: makeTdReport10() }],
  [5, TEE_TYPE.TDX, { type: QUOTE_BODY_TYPE.TD15, td15: makeTdReport15({ mrServiceTd: Buffer.alloc(48, 9) }) }],
];

test('every version × body × certification data type encodes, parses back and re-encodes exactly', () => {
  let n = 0;
  for (const [version, teeType, body] of bodies) {
    for (const cert of certs) {
      const header = makeQuoteHeader({ version, teeType, qeSvn: 8, pceSvn: 13, qeId: Buffer.alloc(16, 0xab) });
      const signatureData = {
        signature: Buffer.alloc(64, 1),
        attestationKey: Buffer.alloc(64, 2),
        qeReport: makeReportBody({ isvSvn: 8 }),
        qeReportBytes: Buffer.alloc(0), // ignored by the encoder
        qeReportSignature: Buffer.alloc(64, 3),
        qeAuthData: Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
        certificationData: cert,
      };
      const bytes = encodeQuote({ header, body, signatureData });
      const q = parseQuote(bytes);
      assert.equal(q.header.version, version);
      assert.equal(q.body.type, body.type);
      assert.equal(q.signatureData.certificationData.type, cert.type);
      assert.ok(q.signatureData.certificationData.data.equals(cert.data));
      assert.ok(q.header.qeId.equals(Buffer.alloc(16, 0xab)));
      assert.ok(encodeQuoteSignedRegion({ header, body }).equals(q.signedBytes));
      assert.ok(encodeQuote(q).equals(bytes));
      const expectedSigned = 48 + (version === 5 ? 6 : 0) + { 1: 384, 2: 584, 3: 648 }[body.type];
      assert.equal(q.signedBytes.length, expectedSigned);
      if (version !== 3) assert.equal(bytes.readUInt16LE(expectedSigned + 4 + 128), 6); // outer type 6
      n++;
    }
  }
  assert.equal(n, 36);
});

test('type 1–3 certification data decodes PPID, CPUSVN, PCESVN, PCE-ID; wrong sizes are rejected', () => {
  const c = ppid(2, true);
  if (c.type !== 2) assert.fail();
  assert.equal(c.ppid.length, 256);
  assert.equal(c.pceSvn, 7);
  assert.equal(c.pceId, 0);
  const bad = Buffer.concat([Buffer.from([1, 0]), u32(35), Buffer.alloc(35)]);
  assert.throws(() => parseCertificationData(bad), (e: unknown) => e instanceof KubeSgxError && e.code === 'CERT_DATA_BAD_LENGTH');
  const empty4 = Buffer.concat([Buffer.from([4, 0]), u32(0)]);
  assert.throws(() => parseCertificationData(empty4), (e: unknown) => e instanceof KubeSgxError && e.code === 'CERT_DATA_BAD_LENGTH');
  const unknown = Buffer.concat([Buffer.from([7, 0]), u32(0)]);
  assert.throws(() => parseCertificationData(unknown), (e: unknown) => e instanceof KubeSgxError && e.code === 'CERT_DATA_UNSUPPORTED_TYPE');
  for (const cd of certs) assert.ok(encodeCertificationData(parseCertificationData(encodeCertificationData(cd))).equals(encodeCertificationData(cd)));
});
