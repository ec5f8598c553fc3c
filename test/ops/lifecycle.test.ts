/**
 * The start-up/stop shape every long-running component shares (src/ops/lifecycle.ts):
 * closing in reverse, once, also after a failed start-up step; the start log
 * and the simulated-backend warning; an ops endpoint that cannot bind, reported
 * by code or by the component's own error; and the quote helper and the QGS when
 * theirs cannot bind (a real port held by this test). The webhook and the node
 * agent have theirs in test/webhook/start.test.ts and test/nodeagent/agent.test.ts.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { ComponentLifecycle } from '../../src/ops/lifecycle.js';
import { silentLogger } from '../../src/ops/log.js';
import { startQgs } from '../../src/qgs/service.js';
import { SimQgsBackend } from '../../src/qgs/sim-backend.js';
import { startQuoteHelper } from '../../src/quotehelper/helper.js';
import { SimPlatform } from '../../src/sim/index.js';
import { FakeBackend } from '../quotehelper/fake-backend.js';
import { tempDir } from '../quotehelper/util.js';
import { capturingLogger, heldPort } from './support.js';

describe('ComponentLifecycle', () => {
  test('stop() closes last opened first, once, and carries on past a failing close', async () => {
    const { log, lines } = capturingLogger();
    const life = new ComponentLifecycle(log, 'thing');
    const closed: string[] = [];
    life.closeOnStop(async () => void closed.push('backend'));
    life.closeOnStop(async () => {
      closed.push('server');
      throw new Error('socket already gone');
    });
    life.closeOnStop(async () => void closed.push('ops'));
    const stop = life.stopper({ socket: '/x' });
    await stop();
    await stop();
    assert.deepEqual(closed, ['ops', 'server', 'backend']);
    assert.ok(lines.some((l) => l.level === 40 && l.msg === 'thing: closing failed' && l.err === 'socket already gone'));
    assert.equal(lines.filter((l) => l.msg === 'thing stopped' && l.socket === '/x').length, 1);
  });

  test('a failed start-up step closes what was opened before it and rethrows', async () => {
    const life = new ComponentLifecycle(silentLogger, 'thing');
    const closed: string[] = [];
    life.closeOnStop(async () => void closed.push('backend'));
    await assert.rejects(
      life.starting(async () => {
        life.closeOnStop(async () => void closed.push('server'));
        throw new Error('bind failed');
      }),
      /bind failed/,
    );
    assert.deepEqual(closed, ['server', 'backend']);
  });

  test('serveOps: a taken --metrics-addr is the code named, or the error the component makes of the listener\'s; the opened is closed', async () => {
    const port = await heldPort();
    const health = { registry: new Registry(), ready: () => true };
    try {
      const byCode = new ComponentLifecycle(silentLogger, 'thing');
      let closed = 0;
      byCode.closeOnStop(async () => void closed++);
      await assert.rejects(byCode.starting(() => byCode.serveOps(port.addr, health, 'QGS_OPS_LISTEN')), {
        code: 'QGS_OPS_LISTEN',
        path: ['metricsAddr'],
        message: `cannot serve --metrics-addr ${port.addr}: --metrics-addr ${port.addr}: address already in use (EADDRINUSE)`,
      });
      assert.equal(closed, 1);

      const own = new ComponentLifecycle(silentLogger, 'thing');
      const seen: string[] = [];
      await assert.rejects(
        own.serveOps(port.addr, health, (addr, listenError) => {
          seen.push(addr, listenError.code);
          return listenError;
        }),
        { code: 'LISTEN_FAILED', path: ['--metrics-addr'], message: `--metrics-addr ${port.addr}: address already in use (EADDRINUSE)` },
      );
      assert.deepEqual(seen, [port.addr, 'LISTEN_FAILED']);
      assert.equal(await own.serveOps(undefined, health, 'QGS_OPS_LISTEN'), undefined);
    } finally {
      await port.close();
    }
  });

  test('announce: one info line naming the backend with its facts; the warning only for a simulated backend', () => {
    const { log, lines } = capturingLogger();
    const life = new ComponentLifecycle(log, 'QGS');
    life.announce({ name: 'dcap', simulated: false, describe: () => ({ library: 'libx.so' }) }, { socket: '/s' }, 'SIMULATED');
    life.announce({ name: 'sim', simulated: true, describe: () => ({}) }, { socket: '/s' }, 'SIMULATED');
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [[30, 'QGS serving with the dcap backend'], [30, 'QGS serving with the sim backend'], [40, 'SIMULATED']],
    );
    assert.equal(lines[0].library, 'libx.so');
    assert.equal(lines[0].socket, '/s');
  });
});

/** Starting with a --metrics-addr already taken fails with `code` naming the flag, and leaves no socket file and no open backend. */
async function assertOpsBindFailure(started: Promise<unknown>, code: string, addr: string, socketPath: string, backendClosed: () => number): Promise<void> {
  await assert.rejects(started, (e: Error & { code?: string; path?: unknown }) => {
    assert.equal(e.code, code);
    assert.deepEqual(e.path, ['metricsAddr']);
    assert.match(e.message, new RegExp(`^cannot serve --metrics-addr ${addr}: `));
    return true;
  });
  assert.equal(existsSync(socketPath), false);
  assert.equal(backendClosed(), 1);
}

describe('an ops endpoint that cannot bind', () => {
  test('quote helper: QUOTE_HELPER_OPS_LISTEN naming --metrics-addr; socket removed, backend closed', async () => {
    const { dir, cleanup } = tempDir();
    const port = await heldPort();
    const backend = new FakeBackend();
    let backendClosed = 0;
    backend.close = async () => void backendClosed++;
    const socketPath = join(dir, 'aesm.socket');
    try {
      const started = startQuoteHelper({ backend, socketPath, metricsAddr: port.addr, logger: silentLogger });
      await assertOpsBindFailure(started, 'QUOTE_HELPER_OPS_LISTEN', port.addr, socketPath, () => backendClosed);
    } finally {
      await port.close();
      cleanup();
    }
  });

  test('QGS: QGS_OPS_LISTEN naming --metrics-addr; socket removed, backend closed', async () => {
    const { dir, cleanup } = tempDir();
    const port = await heldPort();
    const platformDir = join(dir, 'platform');
    await SimPlatform.open(platformDir, { seed: 'lifecycle-test' });
    const backend = await SimQgsBackend.open(platformDir);
    let backendClosed = 0;
    const close = backend.close.bind(backend);
    backend.close = async () => {
      backendClosed++;
      await close();
    };
    const socketPath = join(dir, 'qgs.socket');
    try {
      const started = startQgs({ backend, socketPath, metricsAddr: port.addr, logger: silentLogger });
      await assertOpsBindFailure(started, 'QGS_OPS_LISTEN', port.addr, socketPath, () => backendClosed);
    } finally {
      await port.close();
      cleanup();
    }
  });
});
