/**
 * Issue 15 §3: one local process holding many connections must not lock
 * other clients out. Hostile connections come from a child process (another
 * peer by SO_PEERCRED pid); the well-behaved client is this process.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { createConnection, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { AesmClient } from '../../src/quotehelper/client.js';
import { ConnectionTable, pressureMark, type Slot } from '../../src/quotehelper/admission.js';
import { frame } from '../../src/quotehelper/framing.js';
import { peerCredentials, peerCredentialsAvailable } from '../../src/quotehelper/peer.js';
import { decodeResponse, encodeRequest } from '../../src/quotehelper/schema.js';
import { fakeReport } from './fake-backend.js';
import { rawExchange, startFakeServer, tempDir } from './util.js';

/** A process that keeps `count` connections open (reconnecting whenever one is closed), silent or after one byte. */
const HOSTILE = `
import { createConnection } from 'node:net';
const [path, countText, mode] = process.argv.slice(2);
const count = Number(countText);
let open = 0, peak = 0, reported = false;
function one() {
  const s = createConnection(path);
  let connected = false;
  s.on('connect', () => {
    connected = true;
    open++;
    if (mode === 'partial') s.write(Buffer.from([0x40]));
    if (open > peak) peak = open;
    if (!reported && open >= count) { reported = true; console.log('held ' + open); }
  });
  s.on('error', () => {});
  s.on('close', () => { if (connected) open--; setTimeout(one, 1); });
}
for (let i = 0; i < count; i++) one();
setInterval(() => console.log('open ' + open + ' peak ' + peak), 500).unref();
`;

function startHostile(dir: string, socketPath: string, count: number, mode: 'silent' | 'partial'): { child: ChildProcess; held: Promise<void> } {
  const script = join(dir, 'hostile.mjs');
  writeFileSync(script, HOSTILE);
  const child = spawn(process.execPath, [script, socketPath, String(count), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const held = new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => l.startsWith('held') && resolve());
    child.once('exit', (code) => reject(new Error(`hostile process exited (${code}) before holding ${count} connections`)));
  });
  return { child, held };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe('peer credentials', () => {
  test('SO_PEERCRED names this process as the peer of its own connection', async () => {
    assert.equal(await peerCredentialsAvailable(), true, 'koffi can call getsockopt on Linux');
    const { dir, cleanup } = tempDir();
    try {
      const { createServer, createConnection } = await import('node:net');
      const path = join(dir, 's.sock');
      const seen = await new Promise<unknown>((resolve) => {
        const srv = createServer((s) => {
          resolve(peerCredentials(s));
          s.destroy();
          srv.close();
        });
        srv.listen(path, () => createConnection(path).on('error', () => {}));
      });
      assert.deepEqual(seen, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    } finally {
      cleanup();
    }
  });
});

describe('connection table', () => {
  test('a full table gives a newcomer the oldest unfinished slot of the largest peer, silent ones first', () => {
    const t = new ConnectionTable({ maxConnections: 4, maxConnectionsPerPeer: 3, maxBusyConnections: 1 });
    const evicted: string[] = [];
    const slot = (peer: string, name: string) => {
      const a = t.admit(peer, () => evicted.push(name));
      assert.equal(a.kind, 'slot', name);
      return (a as { slot: Slot }).slot;
    };
    const a1 = slot('A', 'a1');
    const a2 = slot('A', 'a2');
    slot('A', 'a3');
    a1.spoke = true; // partial: taken after the silent ones
    assert.equal(t.admit('A', () => {}).kind, 'busy', 'A at its own cap');
    slot('B', 'b1');
    assert.equal(t.openSlots, 4);
    slot('C', 'c1');
    assert.deepEqual(evicted, ['a2'], 'the oldest silent slot of the largest peer');
    a2.complete = true;
    slot('D', 'd1');
    assert.deepEqual(evicted, ['a2', 'a3']);
    // Now A, B, C, D hold one slot each: nobody holds more than a newcomer would.
    assert.equal(t.admit('E', () => {}).kind, 'refuse', 'busy answers used up');
  });

  test('below the pressure mark one peer may pass its share; from the mark on the share applies and eviction restores it', () => {
    const t = new ConnectionTable({ maxConnections: 8, maxConnectionsPerPeer: 2, maxBusyConnections: 8 });
    assert.equal(pressureMark(8), 6);
    const evicted: string[] = [];
    for (let i = 0; i < 6; i++) assert.equal(t.admit('A', () => evicted.push(`a${i}`)).kind, 'slot', `a${i}: the table has room`);
    assert.equal(t.admit('A', () => {}).kind, 'busy', 'at the mark A (6 > its share of 2) is answered busy');
    assert.equal(t.admit('B', () => {}).kind, 'slot', 'B within its share takes the reserved quarter');
    assert.equal(t.admit('C', () => {}).kind, 'slot');
    assert.equal(t.openSlots, 8);
    assert.equal(t.admit('D', () => {}).kind, 'slot', 'full: D takes a slot from A');
    assert.deepEqual(evicted, ['a0'], 'the oldest silent slot of the largest peer');
    assert.equal(t.admit('A', () => {}).kind, 'busy', 'A still over its share');
  });

  test('maxConnections 1: the share applies from the first slot (no room to lend)', () => {
    assert.equal(pressureMark(1), 0);
    const t = new ConnectionTable({ maxConnections: 1, maxConnectionsPerPeer: 1, maxBusyConnections: 1 });
    assert.equal(t.admit('A', () => {}).kind, 'slot');
    assert.equal(t.admit('A', () => {}).kind, 'busy');
  });
});

describe('fair connection slots', () => {
  test('over its share a client is read and answered AESM_BUSY, never reset; served again once slots free up', async () => {
    const ts = await startFakeServer({ maxConnections: 4, silentTimeoutMs: 60_000 });
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) held.push(createConnection(ts.socketPath).on('error', () => {}));
      // Wait until the server holds the four (event, not time).
      while ((await ts.metrics.openConnections.get()).values[0]?.value !== 4) await new Promise((r) => setImmediate(r));
      const out = await rawExchange(ts.socketPath, [frame(encodeRequest({ getSupportedAttKeyIDNumReq: { timeout: 15000 } }))], { timeoutMs: 5000 });
      assert.equal(out.closedByServer, true);
      assert.equal(out.data.readUInt32LE(0), out.data.length - 4, 'a framed reply');
      assert.equal(decodeResponse(out.data.subarray(4)).getSupportedAttKeyIDNumRes?.errorCode, 18, 'AESM_BUSY');
      const client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 5000 });
      await assert.rejects(client.getQuote(fakeReport(1)), (e: Error & { code?: string }) => e.code === 'AESM_BUSY');
      for (const s of held) s.destroy();
      while ((await ts.metrics.openConnections.get()).values[0]?.value !== 0) await new Promise((r) => setImmediate(r));
      assert.equal((await client.getQuote(fakeReport(2))).readUInt16LE(0), 3);
    } finally {
      for (const s of held) s.destroy();
      await ts.close();
    }
  });

  test('one peer with 200 requests in flight gets no AESM_BUSY while the table is otherwise empty', async () => {
    // Defaults: 1,024 slots, a share of 64 per peer; this process is the only peer.
    const ts = await startFakeServer();
    const CONCURRENT = 200;
    let release!: () => void;
    ts.backend.hold = new Promise<void>((r) => (release = r));
    // Every request is held in the backend until all 200 are there at once: 200 slots in use together.
    ts.backend.onCall = (calls) => calls === CONCURRENT && release();
    try {
      const client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 60_000 });
      const bufSize = await client.getQuoteSizeEx();
      const outcomes = await Promise.allSettled(Array.from({ length: CONCURRENT }, (_, i) => client.getQuoteEx(fakeReport(i), { bufSize })));
      const failed = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as { code?: string }).code] : []));
      assert.deepEqual(failed, [], 'no request refused');
      assert.equal(ts.backend.calls, CONCURRENT);
      const text = await ts.metrics.registry.metrics();
      assert.doesNotMatch(text, /code="AESM_BUSY"/);
      assert.doesNotMatch(text, /rejected_connections_total\{reason="(evicted|overload)"\} [1-9]/);
      assert.match(text, /kube_sgx_quote_helper_quotes_total 200\b/);
    } finally {
      release();
      await ts.close();
    }
  });

  test('a connection that sends nothing is dropped at the silent deadline', async () => {
    const ts = await startFakeServer({ silentTimeoutMs: 200, idleTimeoutMs: 60_000 });
    try {
      const out = await rawExchange(ts.socketPath, [], { timeoutMs: 30_000 });
      assert.equal(out.closedByServer, true);
      assert.equal(out.data.length, 0);
      assert.match(await ts.metrics.registry.metrics(), /kube_sgx_quote_helper_rejected_connections_total\{reason="silent"\} 1/);
    } finally {
      await ts.close();
    }
  });

  for (const mode of ['silent', 'partial'] as const) {
    test(`a normal client keeps getting quotes while another process holds 2,000 ${mode} connections`, async () => {
      // Defaults (1,024 slots, 64 per peer); the silent deadline is raised so the hostile process can build up all 2,000.
      const ts = await startFakeServer({ silentTimeoutMs: 3000, idleTimeoutMs: 5000 });
      const hostile = startHostile(ts.dir, ts.socketPath, 2000, mode);
      try {
        await hostile.held;
        const client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 10_000 });
        for (let i = 0; i < 20; i++) {
          const q = await client.getQuote(fakeReport(i));
          assert.equal(q.readUInt16LE(0), 3, `quote ${i}`);
        }
        const text = await ts.metrics.registry.metrics();
        // The hostile peer got its share of slots, then BUSY answers, then immediate closes.
        assert.match(text, /kube_sgx_quote_helper_rejected_connections_total\{reason="overload"\} [1-9]/);
        assert.match(text, /kube_sgx_quote_helper_quotes_total 20\b/);
      } finally {
        await stop(hostile.child);
        await ts.close();
      }
    });
  }
});
