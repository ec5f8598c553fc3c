import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { lstatSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AesmClient } from '../../src/quotehelper/client.js';
import { frame } from '../../src/quotehelper/framing.js';
import { INTEL_ECDSA_ATT_KEY_ID } from '../../src/quotehelper/keyid.js';
import { AesmServer } from '../../src/quotehelper/server.js';
import { encodeRequest } from '../../src/quotehelper/schema.js';
import { FakeBackend, fakeReport } from './fake-backend.js';
import { openFdCount, rawExchange, settleFdCount, startFakeServer, tempDir, type TestServer } from './util.js';

describe('bad input never stops the helper', () => {
  let ts: TestServer;
  let client: AesmClient;
  before(async () => {
    ts = await startFakeServer({ idleTimeoutMs: 300 });
    client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 3000 });
  });
  after(async () => ts.close());

  const stillServes = async () => {
    const q = await client.getQuote(fakeReport(3));
    assert.equal(q.readUInt16LE(0), 3);
  };

  test('random bytes, garbage protobuf, zero-length and truncated frames are closed without a reply', async () => {
    const cases: { name: string; parts: Buffer[]; end?: boolean }[] = [
      { name: 'random 100 bytes', parts: [randomBytes(100)] },
      { name: 'frame of garbage protobuf', parts: [frame(Buffer.from('7affffffff0f', 'hex'))] },
      { name: 'zero-length frame', parts: [Buffer.alloc(4)] },
      { name: 'truncated length prefix then EOF', parts: [Buffer.from([5, 0])], end: true },
      { name: 'truncated payload then EOF', parts: [frame(encodeRequest({ getSupportedAttKeyIDNumReq: {} })).subarray(0, 6)], end: true },
      { name: '4 GiB length prefix', parts: [Buffer.from('ffffffff', 'hex'), randomBytes(64)] },
      { name: '64 KiB + 1 length prefix', parts: [Buffer.from([1, 0, 1, 0])] },
    ];
    for (const c of cases) {
      // The server, not the client's 30 s give-up, closes: which check refused it is in the metrics below.
      const out = await rawExchange(ts.socketPath, c.parts, { end: c.end, timeoutMs: 30_000 });
      assert.equal(out.closedByServer, true, `${c.name}: server closes`);
      assert.equal(out.data.length, 0, `${c.name}: no reply`);
      await stillServes();
    }
    const text = await ts.metrics.registry.metrics();
    for (const reason of ['oversized', 'truncated', 'empty', 'malformed']) {
      assert.match(text, new RegExp(`kube_sgx_quote_helper_rejected_connections_total\\{reason="${reason}"\\} [1-9]`), reason);
    }
  });

  test('random-bytes fuzz (200 frames) never crashes the server', async () => {
    for (let i = 0; i < 200; i++) {
      const body = randomBytes(1 + (i % 300));
      await rawExchange(ts.socketPath, [i % 2 ? frame(body) : body], { timeoutMs: 1000 });
    }
    await stillServes();
  });

  test('a request split byte by byte is served; bytes after the frame are ignored', async () => {
    const f = frame(encodeRequest({ getSupportedAttKeyIDNumReq: { timeout: 15000 } }));
    const parts = [...f].map((b) => Buffer.from([b]));
    parts.push(randomBytes(50));
    const out = await rawExchange(ts.socketPath, parts);
    assert.equal(out.data.readUInt32LE(0), out.data.length - 4);
  });

  test('silent clients are dropped at the idle deadline', async () => {
    const [s, h] = await Promise.all([
      rawExchange(ts.socketPath, [], { timeoutMs: 3000 }),
      rawExchange(ts.socketPath, [Buffer.from([10, 0, 0, 0, 1])], { timeoutMs: 3000 }),
    ]);
    assert.equal(s.closedByServer, true);
    assert.equal(h.closedByServer, true);
    await stillServes();
  });

  test('silent clients do not delay others: all served while the silent ones are still connected', async () => {
    const slow = await startFakeServer({ idleTimeoutMs: 20000 });
    try {
      const silent = Array.from({ length: 5 }, () => createConnection(slow.socketPath));
      await Promise.all(silent.map((c) => new Promise((r) => c.once('connect', r))));
      const c = new AesmClient({ socketPath: slow.socketPath, timeoutMs: 15000 });
      const quotes = await Promise.all(Array.from({ length: 20 }, (_, i) => c.getQuote(fakeReport(i))));
      assert.equal(quotes.length, 20);
      assert.ok(silent.every((x) => !x.destroyed && x.readyState === 'open'), 'silent clients still connected');
      assert.match(await slow.metrics.registry.metrics(), /kube_sgx_quote_helper_open_connections [5-9]/);
      silent.forEach((x) => x.destroy());
    } finally {
      await slow.close();
    }
  });

  test('a client trickling its frame byte by byte is dropped at the frame deadline, not kept alive by activity', async () => {
    const f = frame(encodeRequest({ getQuoteSizeExReq: { att_key_id: INTEL_ECDSA_ATT_KEY_ID } })); // ~270 bytes: 13 s of trickling
    // The trickle itself is the clock: on a loaded machine both it and the server's deadline slow down alike.
    const outcome = await new Promise<{ closed: boolean; sent: number }>((resolve) => {
      const sock = createConnection(ts.socketPath);
      let i = 0;
      const tick = setInterval(() => {
        if (i < f.length - 1) sock.write(f.subarray(i, ++i)); // never the last byte
      }, 50);
      const finish = (closed: boolean) => {
        clearInterval(tick);
        clearTimeout(guard);
        sock.destroy();
        resolve({ closed, sent: i });
      };
      const guard = setTimeout(() => finish(false), 60_000);
      sock.on('close', () => finish(true));
      sock.on('error', () => finish(true));
    });
    assert.equal(outcome.closed, true);
    assert.ok(outcome.sent < (f.length - 1) / 2, `dropped at the frame deadline, long before the trickle ends (after ${outcome.sent} of ${f.length} bytes)`);
    await stillServes();
  });

  test('the request timeout is honoured: a slow backend answers AESM_BUSY before the client deadline', async () => {
    ts.backend.delayMs = 3000;
    try {
      const started = Date.now();
      const res = await client.request({ getQuoteExReq: { report: fakeReport(), att_key_id: INTEL_ECDSA_ATT_KEY_ID, buf_size: 2000, timeout: 200 } });
      const took = Date.now() - started;
      assert.equal(res.getQuoteExRes?.errorCode, 18);
      // AESM_BUSY (not the backend's quote) shows the 200 ms timer won over the 3 s backend; load only makes it later, never sooner.
      assert.ok(took >= 150, `answered at ~90% of 200 ms, not at once (took ${took} ms)`);
    } finally {
      ts.backend.delayMs = 0;
    }
    await stillServes();
  });

  test('many clients at once, and no descriptor growth', async () => {
    await stillServes();
    const before = openFdCount();
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => client.getQuote(fakeReport(i))));
    }
    const after = await settleFdCount(before + 2);
    assert.ok(after <= before + 2, `fds before ${before}, after ${after}`);
  });
});

describe('internal faults', () => {
  test('an exception while answering costs one connection, not the process', async () => {
    const ts = await startFakeServer();
    try {
      // Fault injection: a metrics sink that throws (nothing else in the path can be made to).
      const original = ts.metrics.requests.inc.bind(ts.metrics.requests);
      let fail = true;
      ts.metrics.requests.inc = ((...args: Parameters<typeof original>) => {
        if (fail) throw new Error('injected fault');
        return original(...args);
      }) as typeof original;
      const out = await rawExchange(ts.socketPath, [frame(encodeRequest({ getSupportedAttKeyIDNumReq: {} }))]);
      assert.equal(out.closedByServer, true);
      assert.equal(out.data.length, 0);
      fail = false;
      const client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 2000 });
      assert.equal(await client.getSupportedAttKeyIdNum(), 1);
      assert.match(await ts.metrics.registry.metrics(), /rejected_connections_total\{reason="internal-error"\} 1/);
    } finally {
      await ts.close();
    }
  });
});

describe('socket file handling', () => {
  test('creates the parent directory, mode 0666, removes the socket on stop', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const socketPath = join(dir, 'run', 'aesmd', 'aesm.socket');
      const srv = await AesmServer.listen({ socketPath, backend: new FakeBackend() });
      const st = lstatSync(socketPath);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o666);
      await srv.close();
      assert.throws(() => lstatSync(socketPath), { code: 'ENOENT' });
    } finally {
      cleanup();
    }
  });

  test('replaces a stale socket; refuses a live one or a regular file', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const socketPath = join(dir, 'aesm.socket');
      // A live listener on the path (e.g. a running aesmd).
      const other = createServer((s) => s.destroy());
      await new Promise<void>((r) => other.listen(socketPath, r));
      await assert.rejects(AesmServer.listen({ socketPath, backend: new FakeBackend() }), { code: 'QUOTE_HELPER_SOCKET_IN_USE' });
      await new Promise<void>((r) => other.close(() => r()));
      // A crashed owner leaves the socket file behind with nobody listening.
      const stale = join(dir, 'stale.socket');
      const killed = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      assert.equal(killed.signal, 'SIGKILL');
      assert.ok(lstatSync(stale).isSocket(), 'stale socket file left behind');
      const srv = await AesmServer.listen({ socketPath: stale, backend: new FakeBackend() });
      const client = new AesmClient({ socketPath: stale, timeoutMs: 2000 });
      assert.equal(await client.getSupportedAttKeyIdNum(), 1);
      await srv.close();
      const file = join(dir, 'file');
      writeFileSync(file, 'x');
      await assert.rejects(AesmServer.listen({ socketPath: file, backend: new FakeBackend() }), { code: 'QUOTE_HELPER_SOCKET_EXISTS' });
    } finally {
      cleanup();
    }
  });
});
