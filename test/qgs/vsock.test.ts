/**
 * The vsock listener's path: a listening socket made with libc through koffi,
 * served by libuv through Node's pipe handle. With AF_UNIX (a peer is
 * available) the whole exchange is tested; with AF_VSOCK, bind and listen
 * (no vsock peer exists on a machine without a guest).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/ops/log.js';
import { QgsClient, QgsConnectionHandler, QgsError, SimQgsBackend, createQgsMetrics, encodeGetQuoteRequest, frameQgsMessage, readQgsHeader } from '../../src/qgs/index.js';
import { listenUnixViaLibc, listenVsock } from '../../src/qgs/vsock.js';
import { rawExchange, tempDir } from '../quotehelper/util.js';

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
