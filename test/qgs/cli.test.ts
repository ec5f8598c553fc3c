/** `kube-sgx qgs` as a process: serves a TD on its socket, stops on SIGTERM and removes the socket. */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { QgsClient } from '../../src/qgs/index.js';
import { SimPlatform } from '../../src/sim/index.js';
import { tempDir } from '../quotehelper/util.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(args: string[]) {
  // the child hung with the test runner's NODE_TEST_CONTEXT in its environment (observed); users' shells do not set it
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('kube-sgx qgs', () => {
  const t = tempDir('kube-sgx-qgs-cli-');
  after(() => t.cleanup());

  test('--backend sim serves quotes on --socket until SIGTERM', async () => {
    const platformDir = join(t.dir, 'platform');
    const platform = await SimPlatform.open(platformDir, { seed: 'qgs-cli' });
    const socketPath = join(t.dir, 'run', 'qgs.socket');
    const p = run(['qgs', '--backend', 'sim', '--platform', platformDir, '--socket', socketPath]);
    try {
      while (!p.output().includes('QGS serving')) {
        if (p.child.exitCode !== null) assert.fail(`exited early: ${p.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(p.output(), /SIMULATED TD QUOTES/);
      const quote = await new QgsClient({ socketPath, timeoutMs: 10_000 }).getQuote(platform.tdReport({ reportData: Buffer.from('cli') }));
      assert.equal(quote.readUInt32LE(4), 0x81);
    } finally {
      p.child.kill('SIGTERM');
    }
    assert.equal(await p.exited, 0, p.output());
    assert.equal(existsSync(socketPath), false);
  });

  test('usage errors exit 2 (in-process)', async () => {
    const { main } = await import('../../src/cli/main.js');
    for (const args of [
      ['qgs', '--backend', 'sim'],
      ['qgs', '--backend', 'sgx'],
      ['qgs', '--backend', 'sim', '--platform', t.dir, '--socket-mode', '999'],
      ['qgs', '--backend', 'sim', '--platform', t.dir, '--vsock', 'x'],
    ]) {
      await main(['node', 'kube-sgx', ...args]);
      assert.equal(process.exitCode, 2, args.join(' '));
      process.exitCode = undefined;
    }
  });
});
