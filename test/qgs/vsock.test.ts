/**
 * The vsock listener's path: a listening socket made with libc through koffi,
 * served by libuv through Node's pipe handle, and the client side (a
 * non-blocking connect made with libc, wrapped the same way). With AF_UNIX
 * (a peer is always available) the whole exchange is tested both ways; with
 * AF_VSOCK, bind and listen everywhere, and a real connection over the
 * kernel's vsock loopback where the kernel has it.
 *
 * Safety: the vsock connections go only to CID 1 (VMADDR_CID_LOCAL) or this
 * machine's own CID, only to the port this test's listener bound, and only
 * after vsockLoopback() found the loopback transport — without it the kernel
 * would hand them to the guest-to-host transport, i.e. to the hypervisor.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { QuoteVerifier } from '../../src/dcap/index.js';
import { silentLogger } from '../../src/ops/log.js';
import { QgsClient, QgsConnectionHandler, QgsError, SimQgsBackend, createQgsMetrics, encodeGetQuoteRequest, frameQgsMessage, readQgsHeader } from '../../src/qgs/index.js';
import { VMADDR_CID_LOCAL, connectUnixViaLibc, connectVsock, listenUnixViaLibc, listenVsock, localVsockCid, vsockLoopback } from '../../src/qgs/vsock.js';
import { rawExchange, tempDir } from '../quotehelper/util.js';

/** Writes `parts` on a socket from `connect` and collects everything until the server closes (or 5 s pass). */
async function exchangeOn(connect: () => Promise<Socket>, parts: Buffer[]): Promise<Buffer> {
  const sock = await connect();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, 5000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', done);
    sock.on('close', done);
    for (const p of parts) sock.write(p);
  });
}

/** The QGS error code of a framed reply (after its 4-byte length prefix). */
const replyError = (reply: Buffer) => readQgsHeader(reply.subarray(4)).errorCode;

/** A quote from `connect`, refusals of a wrong version, an oversized length prefix and junk, each with its QGS code. */
async function exerciseQgs(backend: SimQgsBackend, connect: () => Promise<Socket>): Promise<void> {
  const reportData = randomBytes(64);
  const quote = await new QgsClient({ connect: await connect().then((s) => () => s), timeoutMs: 5000 }).getQuote(backend.platform.tdReport({ reportData }));
  // a real quote: it verifies against the simulated platform's root and TDX collateral, and carries the TDREPORT's REPORTDATA
  const verified = new QuoteVerifier({ trustedRoots: [backend.platform.rootCaPem] }).verifySync(quote, backend.platform.tdxCollateral());
  assert.equal(verified.teeType, 'TDX');
  assert.equal(verified.td?.reportData, reportData.toString('hex'));
  const raw = await new QgsClient({ connect: await connect().then((s) => () => s), timeoutMs: 5000 }).getQuoteRaw(backend.platform.tdReport());
  assert.ok(raw.length > 4000, 'raw mode gives a quote');
  const badVersion = encodeGetQuoteRequest(backend.platform.tdReport());
  badVersion.writeUInt16LE(3, 0);
  assert.equal(replyError(await exchangeOn(connect, [frameQgsMessage(badVersion)])), QgsError.INVALID_VERSION);
  assert.equal(replyError(await exchangeOn(connect, [Buffer.from('7fffffff', 'hex'), randomBytes(64)])), QgsError.INVALID_SIZE, 'oversized length prefix');
  const junk = randomBytes(64);
  junk.writeUInt32BE(60, 0); // a well-formed frame of 60 random bytes: not a QGS header
  assert.notEqual(replyError(await exchangeOn(connect, [junk])), QgsError.SUCCESS, 'junk is refused with a QGS code');
}

describe('QGS on a descriptor made outside Node (the vsock path)', () => {
  const t = tempDir('kube-sgx-qgs-vs-');
  let backend: SimQgsBackend;
  const metrics = createQgsMetrics();
  let handler: QgsConnectionHandler;
  before(async () => {
    backend = await SimQgsBackend.open(join(t.dir, 'platform'), { seed: 'vsock' });
    handler = new QgsConnectionHandler({ backend, metrics, logger: silentLogger, timeoutMs: 2000 });
  });
  after(() => t.cleanup());

  test('framed and raw quotes, and refusals with QGS codes, over a libc-made AF_UNIX listener', async () => {
    const path = join(t.dir, 'libc.sock');
    const listener = listenUnixViaLibc(path, handler);
    try {
      const client = new QgsClient({ socketPath: path, timeoutMs: 5000 });
      assert.ok((await client.getQuote(backend.platform.tdReport())).length > 4000);
      assert.ok((await client.getQuoteRaw(backend.platform.tdReport())).length > 4000);
      const bad = encodeGetQuoteRequest(backend.platform.tdReport());
      bad.writeUInt16LE(3, 0);
      const out = await rawExchange(path, [frameQgsMessage(bad)]);
      assert.equal(readQgsHeader(out.data.subarray(4)).errorCode, QgsError.INVALID_VERSION);
      const text = await metrics.registry.metrics();
      assert.match(text, /kube_sgx_qgs_requests_total\{request="get_quote",result="ok"\} 1/);
    } finally {
      await listener.close();
    }
  });

  test('client side: a libc-made non-blocking connect, wrapped as a net.Socket, gets quotes and QGS refusals over AF_UNIX', async () => {
    const path = join(t.dir, 'libc-client.sock');
    const listener = listenUnixViaLibc(path, handler);
    try {
      await exerciseQgs(backend, () => connectUnixViaLibc(path));
    } finally {
      await listener.close();
    }
    await assert.rejects(connectUnixViaLibc(path), (e: { code: string; details: { errno: number } }) => e.code === 'QGS_UNAVAILABLE' && typeof e.details.errno === 'number');
    assert.throws(() => connectVsock(2, 0), { code: 'QGS_BAD_ARGUMENT' });
    assert.throws(() => connectVsock(0xffffffff, 4050), { code: 'QGS_BAD_ARGUMENT' });
  });

  const loopback = vsockLoopback();
  test('AF_VSOCK over the kernel\'s loopback: a QGS exchange on a real vsock connection to CID 1 and to the local CID', { skip: loopback.available ? false : `no vsock loopback here: ${loopback.reason}` }, async () => {
    const port = 40_000 + (process.pid % 20_000);
    const listener = listenVsock(port, handler);
    try {
      const cids = [VMADDR_CID_LOCAL];
      const own = localVsockCid();
      if (own !== undefined && own > 2) cids.push(own); // never the host (2), nor the reserved 0
      for (const cid of cids) await exerciseQgs(backend, () => connectVsock(cid, port));
      const text = await metrics.registry.metrics();
      assert.match(text, /kube_sgx_qgs_requests_total\{request="get_quote",result="ok"\}/);
    } finally {
      await listener.close();
    }
  });

  test('vsockLoopback() says what it found without connecting anywhere', () => {
    const r = vsockLoopback();
    if (r.available) assert.match(r.evidence, /vsock_loopback/);
    else assert.match(r.reason, /vsock|AF_VSOCK/);
  });

  test('AF_VSOCK: listens on a port, or fails with QGS_VSOCK_UNAVAILABLE naming the errno', async () => {
    let listener;
    try {
      listener = listenVsock(40_000 + (process.pid % 20_000), handler);
    } catch (e) {
      assert.equal((e as { code: string }).code, 'QGS_VSOCK_UNAVAILABLE');
      assert.equal(typeof (e as { details: { errno: unknown } }).details.errno, 'number');
      return;
    }
    assert.equal(typeof listener.port, 'number');
    await listener.close();
    assert.throws(() => listenVsock(0, handler), { code: 'QGS_BAD_ARGUMENT' });
  });
});
