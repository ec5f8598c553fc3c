/**
 * The QGS over a real unix socket with the sim backend: quotes a TD gets
 * through it verify (with collateral fetched over the same socket), QEMU's
 * reply checks hold, and every kind of bad input gets its own QGS error code
 * (or, in raw mode, a close) while the server keeps serving.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { collateralFromParts } from '../../src/dcap/collateral.js';
import { verifyQuote } from '../../src/dcap/verify.js';
import { silentLogger } from '../../src/ops/log.js';
import { parseQuote } from '../../src/sgx/quote.js';
import {
  QgsClient,
  QgsError,
  QgsMsgType,
  QgsServer,
  SimQgsBackend,
  createQgsMetrics,
  encodeErrorResponse,
  encodeGetCollateralRequest,
  encodeGetPlatformInfoRequest,
  encodeGetQuoteRequest,
  encodePlatformInfoResponse,
  frameQgsMessage,
  parseCollateralResponse,
  parseQgsRequest,
  readQgsHeader,
  type QgsMetrics,
} from '../../src/qgs/index.js';
import { SIM_FMSPC, SimPlatform } from '../../src/sim/index.js';
import { rawExchange, tempDir } from '../quotehelper/util.js';

const NOW = new Date('2026-06-01T00:00:00Z');

/** The framed reply's message (after the 4-byte BE length), checked to be exactly one message. */
function replyMessage(data: Buffer): Buffer {
  assert.ok(data.length >= 4, `reply of ${data.length} bytes`);
  const len = data.readUInt32BE(0);
  assert.equal(data.length, 4 + len, 'exactly one framed reply');
  return data.subarray(4);
}

function withHeader(msg: Buffer, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(msg);
  edit(b);
  return b;
}

describe('QGS protocol encoders match Intel’s qgs_msg_lib', () => {
  test('error responses are the full response struct (24 / 48 / 28 bytes), version 1.1', () => {
    for (const [type, size] of [
      [QgsMsgType.GET_QUOTE_RESP, 24],
      [QgsMsgType.GET_COLLATERAL_RESP, 48],
      [QgsMsgType.GET_PLATFORM_INFO_RESP, 28],
    ] as const) {
      const r = encodeErrorResponse(type, QgsError.INVALID_SIZE);
      assert.equal(r.length, size);
      assert.deepEqual(readQgsHeader(r), { majorVersion: 1, minorVersion: 1, type, size, errorCode: 0x12006 });
      assert.ok(r.subarray(16).every((x) => x === 0));
    }
  });

  test('platform info response: Intel’s size counts the two SVNs twice (4 trailing zero bytes)', () => {
    const r = encodePlatformInfoResponse({ tdqeIsvSvn: 4, pceIsvSvn: 13, platformId: Buffer.alloc(16, 1), cpuSvn: Buffer.alloc(16, 2) });
    assert.equal(r.length, 28 + 32 + 4);
    assert.equal(r.readUInt32LE(8), r.length);
    assert.deepEqual(r.subarray(28, 44), Buffer.alloc(16, 1));
    assert.deepEqual(r.subarray(60), Buffer.alloc(4));
  });

  test('request parsing follows qgs_msg_inflate_*: order and codes', () => {
    const q = encodeGetQuoteRequest(Buffer.alloc(1024, 1));
    assert.equal(q.length, 16 + 8 + 1024);
    const ok = parseQgsRequest(q);
    assert.ok(!('error' in ok) && ok.type === 0 && ok.report.length === 1024);
    const code = (m: Buffer) => {
      const r = parseQgsRequest(m);
      return 'error' in r ? r.error : 0;
    };
    assert.equal(code(withHeader(q, (b) => b.writeUInt16LE(2, 0))), QgsError.INVALID_VERSION);
    assert.equal(code(withHeader(q, (b) => b.writeUInt16LE(9, 2))), 0, 'minor version is not checked');
    assert.equal(code(withHeader(q, (b) => b.writeUInt32LE(1, 4))), QgsError.INVALID_TYPE);
    assert.equal(code(withHeader(q, (b) => b.writeUInt32LE(77, 4))), QgsError.INVALID_TYPE);
    assert.equal(code(withHeader(q, (b) => b.writeUInt32LE(q.length + 1, 8))), QgsError.INVALID_SIZE);
    assert.equal(code(withHeader(q, (b) => b.writeUInt32LE(5, 12))), QgsError.INVALID_CODE);
    assert.equal(code(withHeader(q, (b) => b.writeUInt32LE(0, 16))), QgsError.INVALID_CODE, 'report_size 0');
    assert.equal(code(withHeader(q, (b) => b.writeUInt32LE(1000, 16))), QgsError.INVALID_SIZE, 'sizes do not add up');
    assert.equal(code(q.subarray(0, 20)), QgsError.INVALID_PARAMETER, 'shorter than the struct');
    assert.equal(code(q.subarray(0, 8)), QgsError.INVALID_PARAMETER, 'shorter than the header');
    const c = encodeGetCollateralRequest(Buffer.alloc(6), Buffer.from('processor\0'));
    assert.equal(code(c), 0);
    assert.equal(code(withHeader(c, (b) => b.writeUInt32LE(0, 16))), QgsError.INVALID_SIZE, 'empty fmspc');
    assert.equal(code(encodeGetPlatformInfoRequest()), 0);
  });
});

describe('QGS server (sim backend) on a unix socket', () => {
  const t = tempDir('kube-sgx-qgs-');
  let platform: SimPlatform;
  let server: QgsServer;
  let metrics: QgsMetrics;
  let client: QgsClient;
  const socketPath = join(t.dir, 'tdx-qgs', 'qgs.socket');

  before(async () => {
    platform = await SimPlatform.open(join(t.dir, 'platform'), { scenario: 'out-of-date', seed: 'qgs-test', now: NOW });
    metrics = createQgsMetrics();
    server = await QgsServer.listen({ socketPath, backend: SimQgsBackend.of(platform), metrics, logger: silentLogger, timeoutMs: 600 });
    client = new QgsClient({ socketPath, timeoutMs: 5000 });
  });
  after(async () => {
    await server.close();
    t.cleanup();
  });

  const stillServes = async () => assert.ok((await client.getQuote(platform.tdReport())).length > 4000);

  test('GET_QUOTE: the quote verifies against the collateral fetched with GET_COLLATERAL, only with the simulated root', async () => {
    for (const quoteVersion of [4, 5] as const) {
      const report = platform.tdReport({ quoteVersion, reportData: Buffer.alloc(64, 0x5a), mrTd: Buffer.alloc(48, 7) });
      const quote = await client.getQuote(report);
      const q = parseQuote(quote);
      assert.equal(q.header.version, quoteVersion);
      const c = await client.getCollateral(Buffer.from(SIM_FMSPC, 'hex'), 'processor');
      assert.deepEqual([c.majorVersion, c.minorVersion], [3, 1]);
      const str = (b: Buffer) => {
        assert.equal(b[b.length - 1], 0, 'NUL-terminated, as the quote provider returns strings');
        return b.subarray(0, -1).toString('utf8');
      };
      const collateral = collateralFromParts({
        pckCrlIssuerChain: str(c.pckCrlIssuerChain),
        rootCaCrl: c.rootCaCrl,
        pckCrl: c.pckCrl,
        tcbInfoIssuerChain: str(c.tcbInfoIssuerChain),
        tcbInfoBody: str(c.tcbInfo),
        qeIdentityIssuerChain: str(c.qeIdentityIssuerChain),
        qeIdentityBody: str(c.qeIdentity),
      });
      const v = verifyQuote(quote, collateral, { trustedRoots: [platform.rootCaPem], now: NOW });
      assert.equal(v.status, 'OutOfDate');
      assert.equal(v.teeType, 'TDX');
      assert.equal(v.td?.mrTd, '07'.repeat(48));
      assert.throws(() => verifyQuote(quote, collateral, { now: NOW }), { code: 'PCK_CHAIN_UNTRUSTED' });
    }
  });

  test('the reply passes QEMU’s checks: 1.1, GET_QUOTE_RESP, error 0, selected_id_size 0, quote_size = payload − 24', async () => {
    const out = await rawExchange(socketPath, [frameQgsMessage(encodeGetQuoteRequest(platform.tdReport()))]);
    const msg = replyMessage(out.data);
    const h = readQgsHeader(msg);
    assert.deepEqual([h.majorVersion, h.minorVersion, h.type, h.errorCode, h.size], [1, 1, 1, 0, msg.length]);
    assert.equal(msg.readUInt32LE(16), 0);
    assert.equal(msg.readUInt32LE(20), msg.length - 24);
    assert.equal(out.closedByServer, true, 'one request per connection');
  });

  test('raw mode: a bare TDREPORT gets the bare quote; an id list in GET_QUOTE is accepted and ignored', async () => {
    const raw = await client.getQuoteRaw(platform.tdReport({ reportData: Buffer.from('raw') }));
    assert.equal(parseQuote(raw).header.teeType, 0x81);
    assert.ok((await client.getQuote(platform.tdReport(), Buffer.alloc(256, 1))).length > 4000);
  });

  test('GET_PLATFORM_INFO and GET_COLLATERAL (1.0 request: Intel’s 4 extra bytes)', async () => {
    const info = await client.getPlatformInfo();
    assert.equal(info.tdqeIsvSvn, 4);
    assert.equal(info.pceIsvSvn, 13);
    assert.equal(info.platformId.length, 16);
    assert.equal(info.cpuSvn.length, 16);
    const out = await rawExchange(socketPath, [frameQgsMessage(encodeGetCollateralRequest(Buffer.from(SIM_FMSPC, 'hex'), Buffer.from('processor\0'), 0))]);
    const msg = replyMessage(out.data);
    const c = parseCollateralResponse(msg, 0);
    assert.ok(c.tcbInfo.toString().includes('"id":"TDX"'));
    await assert.rejects(client.getCollateral(Buffer.from('00906ED50000', 'hex'), 'processor'), { code: 'QGS_ERROR', details: { qgsError: QgsError.INVALID_PARAMETER } });
    await assert.rejects(client.getCollateral(Buffer.from(SIM_FMSPC, 'hex'), 'platform'), { code: 'QGS_ERROR', details: { qgsError: QgsError.INVALID_PARAMETER } });
  });

  test('bad input: each refused with its own QGS error code, in the request’s response type; the server keeps serving', async () => {
    const good = encodeGetQuoteRequest(platform.tdReport());
    const badMac = Buffer.from(good);
    badMac[24 + 224] ^= 1;
    const cases: { name: string; parts: Buffer[]; end?: boolean; type: number; error: number }[] = [
      { name: 'TDREPORT with a wrong MAC', parts: [frameQgsMessage(badMac)], type: 1, error: QgsError.INVALID_PARAMETER },
      { name: 'another platform’s TDREPORT', parts: [frameQgsMessage(encodeGetQuoteRequest((await SimPlatform.open(join(t.dir, 'other'), { now: NOW })).tdReport()))], type: 1, error: QgsError.INVALID_PARAMETER },
      { name: 'report_size 100', parts: [frameQgsMessage(encodeGetQuoteRequest(Buffer.alloc(100, 0x81)))], type: 1, error: QgsError.INVALID_PARAMETER },
      { name: 'truncated message then EOF', parts: [frameQgsMessage(good).subarray(0, 500)], end: true, type: 1, error: QgsError.INVALID_SIZE },
      { name: 'truncated length prefix then EOF', parts: [Buffer.from([0, 0])], end: true, type: 1, error: QgsError.INVALID_SIZE },
      { name: 'oversized length prefix (4 GiB − 1)', parts: [Buffer.from('7fffffff', 'hex'), randomBytes(64)], type: 1, error: QgsError.INVALID_SIZE },
      { name: 'zero length prefix', parts: [Buffer.alloc(4)], type: 1, error: QgsError.INVALID_SIZE },
      { name: 'unknown type 9', parts: [frameQgsMessage(withHeader(good, (b) => b.writeUInt32LE(9, 4)))], type: 1, error: QgsError.INVALID_TYPE },
      { name: 'a response type sent as request', parts: [frameQgsMessage(withHeader(good, (b) => b.writeUInt32LE(3, 4)))], type: 1, error: QgsError.INVALID_TYPE },
      { name: 'version 2.1', parts: [frameQgsMessage(withHeader(good, (b) => b.writeUInt16LE(2, 0)))], type: 1, error: QgsError.INVALID_VERSION },
      { name: 'version 0.1', parts: [frameQgsMessage(withHeader(good, (b) => b.writeUInt16LE(0, 0)))], type: 1, error: QgsError.INVALID_VERSION },
      { name: 'header size ≠ frame size', parts: [frameQgsMessage(withHeader(good, (b) => b.writeUInt32LE(good.length - 1, 8)))], type: 1, error: QgsError.INVALID_SIZE },
      { name: 'non-zero error_code in a request', parts: [frameQgsMessage(withHeader(good, (b) => b.writeUInt32LE(1, 12)))], type: 1, error: QgsError.INVALID_CODE },
      { name: 'platform info request with a body', parts: [frameQgsMessage(Buffer.concat([withHeader(encodeGetPlatformInfoRequest(), (b) => b.writeUInt32LE(20, 8)), Buffer.alloc(4)]))], type: 5, error: QgsError.SUCCESS },
      { name: 'collateral request with sizes that do not add up', parts: [frameQgsMessage(withHeader(encodeGetCollateralRequest(Buffer.alloc(6), Buffer.from('processor\0')), (b) => b.writeUInt32LE(3, 16)))], type: 3, error: QgsError.INVALID_SIZE },
    ];
    for (const c of cases) {
      const out = await rawExchange(socketPath, c.parts, { end: c.end, timeoutMs: 3000 });
      const msg = replyMessage(out.data);
      const h = readQgsHeader(msg);
      assert.equal(h.type, c.type, `${c.name}: response type`);
      if (c.error === QgsError.SUCCESS) {
        // Intel's inflater accepts a platform info request whose declared size matches, body or not
        assert.equal(h.errorCode, 0, c.name);
      } else {
        assert.equal(h.errorCode, c.error, `${c.name}: error 0x${h.errorCode.toString(16)}`);
        assert.equal(msg.length, c.type === 1 ? 24 : c.type === 3 ? 48 : 28, `${c.name}: Intel's error response size`);
      }
      assert.equal(out.closedByServer, true, `${c.name}: closed after the reply`);
      await stillServes();
    }
    const text = await metrics.registry.metrics();
    for (const name of ['INVALID_PARAMETER', 'INVALID_SIZE', 'INVALID_TYPE', 'INVALID_VERSION', 'INVALID_CODE']) {
      assert.match(text, new RegExp(`kube_sgx_qgs_requests_total\\{request="[a-z_]+",result="QGS_MSG_ERROR_${name}"\\} [1-9]`), name);
    }
  });

  test('raw mode refusals close without a reply (no error channel); so do clients silent past the deadline', async () => {
    const bad = platform.tdReport();
    bad[300] ^= 1;
    const refused = await rawExchange(socketPath, [bad], { timeoutMs: 3000 });
    assert.deepEqual([refused.data.length, refused.closedByServer], [0, true]);
    const truncatedRaw = await rawExchange(socketPath, [platform.tdReport().subarray(0, 600)], { end: true, timeoutMs: 3000 });
    assert.deepEqual([truncatedRaw.data.length, truncatedRaw.closedByServer], [0, true]);
    const [silent, partial] = await Promise.all([rawExchange(socketPath, [], { timeoutMs: 5000 }), rawExchange(socketPath, [frameQgsMessage(encodeGetQuoteRequest(platform.tdReport())).subarray(0, 30)], { timeoutMs: 5000 })]);
    assert.deepEqual([silent.closedByServer, partial.closedByServer, partial.data.length], [true, true, 0]);
    const text = await metrics.registry.metrics();
    for (const reason of ['raw-refused', 'truncated-raw', 'timeout']) assert.match(text, new RegExp(`kube_sgx_qgs_rejected_connections_total\\{reason="${reason}"\\} [1-9]`), reason);
    await stillServes();
  });

  test('random-bytes fuzz (300 messages, framed and not) never stops the server; a request split byte by byte is served', async () => {
    for (let i = 0; i < 300; i++) {
      const body = randomBytes(1 + (i % 1100));
      if (i % 3 === 0) body[0] = 0x81; // raw-mode shaped
      await rawExchange(socketPath, [i % 2 ? frameQgsMessage(body) : body], { timeoutMs: 1000, end: true });
    }
    const framed = frameQgsMessage(encodeGetQuoteRequest(platform.tdReport()));
    const out = await rawExchange(socketPath, [...framed].map((b) => Buffer.from([b])), { timeoutMs: 5000 });
    assert.equal(readQgsHeader(replyMessage(out.data)).errorCode, 0);
    await stillServes();
  });

  test('fair to every client: 40 concurrent quotes are all served while 20 silent clients hold connections', async () => {
    const silent = Array.from({ length: 20 }, () => rawExchange(socketPath, [Buffer.from([0, 0, 4])], { timeoutMs: 5000 }));
    const quotes = await Promise.all(Array.from({ length: 40 }, (_, i) => client.getQuote(platform.tdReport({ reportData: Buffer.from([i]) }))));
    const firstReportByte = (q: Buffer) => {
      const b = parseQuote(q).body;
      return b.type === 2 ? b.td10.reportData[0] : -1;
    };
    assert.equal(new Set(quotes.map(firstReportByte)).size, 40);
    const outcomes = await Promise.all(silent);
    assert.ok(outcomes.every((o) => o.closedByServer));
  });
});

describe('QGS server with a backend that hangs or throws', () => {
  const t = tempDir('kube-sgx-qgs-slow-');
  after(() => t.cleanup());

  test('a backend past 90 % of the deadline → UNEXPECTED before the deadline; a throwing backend → UNEXPECTED; the server keeps serving', async () => {
    let mode: 'hang' | 'throw' | 'ok' = 'hang';
    const backend = {
      name: 'test',
      simulated: true,
      getQuote: () => (mode === 'hang' ? new Promise<Buffer>(() => undefined) : mode === 'throw' ? Promise.reject(new TypeError('a bug')) : Promise.resolve(Buffer.alloc(100, 1))),
      getCollateral: () => Promise.reject(new Error('unused')),
      platformInfo: () => Promise.reject(new Error('unused')),
      describe: () => ({}),
      close: () => Promise.resolve(),
    };
    const socketPath = join(t.dir, 'qgs.socket');
    const server = await QgsServer.listen({ socketPath, backend, logger: silentLogger, timeoutMs: 400 });
    try {
      const ask = () => rawExchange(socketPath, [frameQgsMessage(encodeGetQuoteRequest(Buffer.alloc(1024, 0x81)))], { timeoutMs: 5000 });
      const hung = await ask();
      assert.equal(readQgsHeader(replyMessage(hung.data)).errorCode, QgsError.UNEXPECTED);
      mode = 'throw';
      assert.equal(readQgsHeader(replyMessage((await ask()).data)).errorCode, QgsError.UNEXPECTED);
      mode = 'ok';
      const ok = replyMessage((await ask()).data);
      assert.equal(readQgsHeader(ok).errorCode, 0);
      assert.equal(ok.length, 24 + 100);
    } finally {
      await server.close();
    }
  });
});
