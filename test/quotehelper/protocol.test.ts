import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { AesmClient } from '../../src/quotehelper/client.js';
import { frame } from '../../src/quotehelper/framing.js';
import { ATT_KEY_ID_SIZE, INTEL_ECDSA_ATT_KEY_ID, encodeAttKeyIdList } from '../../src/quotehelper/keyid.js';
import { decodeResponse, encodeRequest, type AesmResponse } from '../../src/quotehelper/schema.js';
import { backendError } from '../../src/quotehelper/aesm-errors.js';
import { KubeSgxError } from '../../src/errors.js';
import { FAKE_QUOTE_SIZE, fakeReport } from './fake-backend.js';
import { rawExchange, startFakeServer, type TestServer } from './util.js';

/** Hand-encoded protobuf (no protobufjs) of what Intel's libsgx_quote_ex sends. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
const lenField = (no: number, body: Buffer) => Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);
const intField = (no: number, v: number) => Buffer.concat([varint(no << 3), varint(v)]);

async function send(ts: TestServer, payload: Buffer): Promise<AesmResponse> {
  const out = await rawExchange(ts.socketPath, [frame(payload)]);
  assert.ok(out.data.length >= 4, 'expected a framed reply');
  const len = out.data.readUInt32LE(0);
  assert.equal(out.data.length, 4 + len, 'reply frame length matches');
  return decodeResponse(out.data.subarray(4));
}

describe('aesm protocol (fake backend)', () => {
  let ts: TestServer;
  let client: AesmClient;
  before(async () => {
    ts = await startFakeServer();
    client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 3000 });
  });
  after(async () => ts.close());

  test('errorCode 0 is on the wire (proto2 required), and a reply without it reads as 1', async () => {
    const out = await rawExchange(ts.socketPath, [frame(encodeRequest({ getSupportedAttKeyIDNumReq: {} }))]);
    // Response field 21 (key AA 01), 4 bytes: errorCode 0 (08 00), att_key_id_num 1 (10 01).
    assert.equal(out.data.toString('hex'), '07000000' + 'aa0104' + '0800' + '1001');
    assert.equal(decodeResponse(Buffer.from('7a00', 'hex')).initQuoteExRes?.errorCode, 1);
  });

  test('Intel client InitQuoteEx call 1 and 2, byte for byte', async () => {
    const call1 = lenField(15, Buffer.concat([lenField(1, INTEL_ECDSA_ATT_KEY_ID), intField(3, 0), intField(9, 15000)]));
    const r1 = (await send(ts, call1)).initQuoteExRes;
    assert.equal(r1?.errorCode, 0);
    assert.equal(r1?.target_info?.length, 512);
    assert.equal(r1?.pub_key_id_size, 32);
    assert.equal(r1?.pub_key_id, undefined, 'no pub_key_id unless asked (Intel client fails otherwise)');
    // Garbage buf_size with b_pub_key_id=false is ignored.
    const call1b = lenField(15, Buffer.concat([lenField(1, INTEL_ECDSA_ATT_KEY_ID), intField(3, 0), intField(4, 7), intField(9, 15000)]));
    assert.equal((await send(ts, call1b)).initQuoteExRes?.errorCode, 0);
    const call2 = lenField(15, Buffer.concat([lenField(1, INTEL_ECDSA_ATT_KEY_ID), intField(3, 1), intField(4, 32), intField(9, 15000)]));
    const r2 = (await send(ts, call2)).initQuoteExRes;
    assert.equal(r2?.errorCode, 0);
    assert.equal(r2?.pub_key_id?.length, 32);
  });

  test('Intel client GetQuoteSizeEx and GetQuoteEx, byte for byte; quote zero-padded to buf_size', async () => {
    const size = (await send(ts, lenField(16, Buffer.concat([lenField(1, INTEL_ECDSA_ATT_KEY_ID), intField(9, 15000)])))).getQuoteSizeExRes;
    assert.deepEqual(size, { errorCode: 0, quote_size: FAKE_QUOTE_SIZE });
    const req = lenField(17, Buffer.concat([lenField(1, fakeReport()), lenField(2, INTEL_ECDSA_ATT_KEY_ID), intField(4, FAKE_QUOTE_SIZE), intField(9, 15000)]));
    const res = (await send(ts, req)).getQuoteExRes;
    assert.equal(res?.errorCode, 0);
    assert.equal(res?.quote?.length, FAKE_QUOTE_SIZE);
    const realLen = 48 + 384 + 4 + 100;
    assert.ok(res?.quote?.subarray(realLen).every((b) => b === 0), 'padding is zeros');
    assert.equal(res?.qe_report_info, undefined);
  });

  test('GetQuoteEx checks: buf_size short → 3, report size → 3, bad MAC → 47, missing required → 1', async () => {
    const base = { report: fakeReport(), att_key_id: INTEL_ECDSA_ATT_KEY_ID, buf_size: FAKE_QUOTE_SIZE };
    const code = async (r: Record<string, unknown>) => (await client.request({ getQuoteExReq: r })).getQuoteExRes?.errorCode;
    assert.equal(await code({ ...base, buf_size: 100 }), 3);
    assert.equal(await code({ ...base, report: fakeReport().subarray(0, 431) }), 3);
    const tampered = fakeReport();
    tampered[64] ^= 1;
    assert.equal(await code({ ...base, report: tampered }), 47);
    assert.equal(await code({ report: base.report, att_key_id: INTEL_ECDSA_ATT_KEY_ID }), 1);
    assert.equal(await code({ ...base, att_key_id: undefined }), 3);
    assert.equal(await code({ ...base, att_key_id: INTEL_ECDSA_ATT_KEY_ID.subarray(0, 200) }), 3);
    const other = Buffer.from(INTEL_ECDSA_ATT_KEY_ID);
    other.writeUInt32LE(3, 154); // P-384
    assert.equal(await code({ ...base, att_key_id: other }), 38);
    assert.equal(await code({ ...base, qe_report_info: Buffer.alloc(959) }), 3);
    // The server keeps serving after errors.
    assert.equal(await code(base), 0);
  });

  test('GetQuoteEx with qe_report_info returns the QE report at offset 528, input echoed', async () => {
    const nonce = Buffer.alloc(16, 0x42);
    const appTargetInfo = Buffer.alloc(512, 0x11);
    const r = await client.getQuoteEx(fakeReport(), { qeReportInfo: { nonce, appTargetInfo } });
    assert.equal(r.qeReport?.length, 432);
    assert.equal(r.quote.length, 48 + 384 + 4 + 100, 'client trims the padding');
    assert.equal(r.raw.length, FAKE_QUOTE_SIZE);
    const raw = await client.request({ getQuoteExReq: { report: fakeReport(), att_key_id: INTEL_ECDSA_ATT_KEY_ID, buf_size: FAKE_QUOTE_SIZE, qe_report_info: Buffer.concat([nonce, appTargetInfo, Buffer.alloc(432)]) } });
    const qri = raw.getQuoteExRes?.qe_report_info;
    assert.equal(qri?.length, 960);
    assert.ok(qri?.subarray(0, 16).equals(nonce));
    assert.ok(qri?.subarray(16, 528).equals(appTargetInfo));
  });

  test('InitQuoteEx checks: missing b_pub_key_id → 1, short/absent key → 3, unknown key → 38, pub key buffer < 32 → 3', async () => {
    const code = async (r: Record<string, unknown>) => (await client.request({ initQuoteExReq: r })).initQuoteExRes?.errorCode;
    assert.equal(await code({ att_key_id: INTEL_ECDSA_ATT_KEY_ID }), 1);
    assert.equal(await code({ b_pub_key_id: false }), 3);
    assert.equal(await code({ att_key_id: Buffer.alloc(255), b_pub_key_id: false }), 3);
    assert.equal(await code({ att_key_id: Buffer.alloc(256, 9), b_pub_key_id: false }), 38);
    assert.equal(await code({ att_key_id: INTEL_ECDSA_ATT_KEY_ID, b_pub_key_id: true, buf_size: 16 }), 3);
    // Bytes past the 158-byte base are not compared (aesmd).
    const tail = Buffer.from(INTEL_ECDSA_ATT_KEY_ID);
    tail[200] = 0xff;
    assert.equal(await code({ att_key_id: tail, b_pub_key_id: false }), 0);
  });

  test('GetSupportedAttKeyIDNum / IDs / Select (client API and error codes)', async () => {
    assert.equal(await client.getSupportedAttKeyIdNum(), 1);
    const ids = await client.getSupportedAttKeyIds();
    assert.equal(ids.length, 1);
    assert.ok(ids[0].equals(INTEL_ECDSA_ATT_KEY_ID));
    assert.equal(ids[0].readUInt32LE(154), 2, 'ECDSA P-256');
    assert.equal((await client.request({ getSupportedAttKeyIDsReq: { buf_size: 512 } })).getSupportedAttKeyIDsRes?.errorCode, 3);
    assert.equal((await client.request({ getSupportedAttKeyIDsReq: {} })).getSupportedAttKeyIDsRes?.errorCode, 1);

    assert.ok((await client.selectAttKeyId()).equals(INTEL_ECDSA_ATT_KEY_ID));
    const epid = Buffer.alloc(ATT_KEY_ID_SIZE);
    assert.ok((await client.selectAttKeyId([epid, INTEL_ECDSA_ATT_KEY_ID])).equals(INTEL_ECDSA_ATT_KEY_ID));
    await assert.rejects(client.selectAttKeyId([epid]), { code: 'AESM_UNSUPPORTED_ATT_KEY_ID' });
    const sel = async (list: Buffer) => (await client.request({ selectAttKeyIDReq: { att_key_id_list: list } })).selectAttKeyIDRes?.errorCode;
    const good = encodeAttKeyIdList([INTEL_ECDSA_ATT_KEY_ID]);
    assert.equal(await sel(good), 0);
    assert.equal(await sel(good.subarray(0, 263)), 3, 'too short');
    assert.equal(await sel(Buffer.concat([good, Buffer.alloc(1)])), 3, 'size ≠ header + n × 256');
    const badHeader = Buffer.from(good);
    badHeader.writeUInt16LE(1, 2);
    assert.equal(await sel(badHeader), 3, 'version ≠ 0');
    const tooMany = Buffer.from(good);
    tooMany.writeUInt32LE(11, 4);
    assert.equal(await sel(tooMany), 3);
  });

  test('legacy requests get their own response type with AESM_SERVICE_UNAVAILABLE (plus UnsupportedRequestResponse)', async () => {
    const r = await client.request({ getLicTokenReq: { mr_enclave: Buffer.alloc(32), mr_signer: Buffer.alloc(32), se_attributes: Buffer.alloc(16) } });
    assert.equal(r.getLicTokenRes?.errorCode, 30);
    assert.equal(r.unsupportedRequestResponse?.errorCode, 30);
    const q = await client.request({ initQuoteReq: { timeout: 15000 } });
    assert.equal(q.initQuoteRes?.errorCode, 30);
    // aesmd serves the first present inner message in its own order: launch token before quote-ex.
    const both = await client.request({ getQuoteExReq: { report: fakeReport(), buf_size: 10 }, getLicTokenReq: {} });
    assert.equal(both.getLicTokenRes?.errorCode, 30);
    assert.equal(both.getQuoteExRes, undefined);
  });

  test('a Request with no inner message is closed without a reply', async () => {
    const out = await rawExchange(ts.socketPath, [frame(Buffer.from('f80100', 'hex'))]); // unknown field 31
    assert.equal(out.closedByServer, true);
    assert.equal(out.data.length, 0);
  });

  test('client convenience: initQuoteEx then getQuote', async () => {
    const ti = await client.initQuoteEx(undefined, { pubKeyId: true });
    assert.equal(ti.targetInfo.length, 512);
    assert.equal(ti.pubKeyIdSize, 32);
    assert.equal(ti.pubKeyId?.length, 32);
    const q = await client.getQuote(fakeReport(7));
    assert.equal(q.readUInt16LE(0), 3);
    await assert.rejects(client.getQuote(Buffer.alloc(10)), { code: 'AESM_CLIENT_BAD_REPORT' });
  });

  test('metrics count quotes, errors by code, latency', async () => {
    const text = await ts.metrics.registry.metrics();
    assert.match(text, /kube_sgx_quote_helper_quotes_total [1-9]/);
    assert.match(text, /kube_sgx_quote_helper_errors_total\{code="AESM_INVALID_REPORT"\} [1-9]/);
    assert.match(text, /kube_sgx_quote_helper_request_duration_seconds_count\{request="getQuoteExReq"\} [1-9]/);
  });
});

describe('aesm_error_t names', () => {
  test('a number aesm_error.h does not name reaches the client as AESM_UNKNOWN_ERROR carrying the number', async () => {
    const ts = await startFakeServer();
    ts.backend.getQuote = () => Promise.reject(backendError('QUOTE_BACKEND_FAILED', 'a future aesmd code', 99));
    try {
      const client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 3000 });
      const bufSize = await client.getQuoteSizeEx();
      await assert.rejects(client.getQuoteEx(fakeReport(1), { bufSize }), (e: unknown) => {
        assert.ok(e instanceof KubeSgxError);
        assert.equal(e.code, 'AESM_UNKNOWN_ERROR');
        assert.deepEqual(e.details, { aesmError: 99 });
        assert.match(e.message, /\(99\)/);
        return true;
      });
      assert.match(await ts.metrics.registry.metrics(), /kube_sgx_quote_helper_errors_total\{code="AESM_UNKNOWN_ERROR"\} 1/);
    } finally {
      await ts.close();
    }
  });

  test('reply codes are a closed union: a misspelt one does not compile (typecheck runs this file)', () => {
    // @ts-expect-error AESM_BUZY is not an aesm_error_t name
    const e = new KubeSgxError('AESM_BUZY', 'x');
    assert.equal(e.code, 'AESM_BUZY');
    // @ts-expect-error the open template AESM_ERROR_<n> is gone
    assert.equal(new KubeSgxError('AESM_ERROR_99', 'x').code, 'AESM_ERROR_99');
    assert.equal(new KubeSgxError('AESM_CONFIG_UNSUPPORTED', 'x').code, 'AESM_CONFIG_UNSUPPORTED');
  });
});
