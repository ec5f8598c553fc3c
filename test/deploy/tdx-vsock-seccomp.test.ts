/**
 * deploy/components/tdx-vsock's seccomp profile, loaded for real (libseccomp,
 * as runc loads a Localhost profile; test/deploy/seccomp-exec.ts) around
 * `kube-sgx qgs`: under it the QGS starts, listens on AF_VSOCK and serves a
 * verified TD quote; under the same profile with the runtime default's socket
 * rule instead (containerd 17a9324 / moby 57b2290: socket(2) allowed when
 * arg0 != AF_VSOCK) `--vsock` fails with QGS_VSOCK_UNAVAILABLE, errno 1 —
 * which is why the component ships a profile of its own.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { QuoteVerifier } from '../../src/dcap/index.js';
import { QgsClient } from '../../src/qgs/index.js';
import { SimPlatform } from '../../src/sim/index.js';
import { tempDir } from '../quotehelper/util.js';
import { repoRoot } from './render.js';
import { libseccompMissing, type OciSeccompProfile } from './seccomp-exec.js';

const PROFILE = join(repoRoot, 'deploy', 'components', 'tdx-vsock', 'qgs-vsock-seccomp.json');
const AF_VSOCK = 40;

function hasAfVsock(): boolean {
  try {
    return /^AF_VSOCK\b/m.test(readFileSync('/proc/net/protocols', 'latin1'));
  } catch {
    return false;
  }
}

const skip = process.platform !== 'linux' ? 'Linux only' : !['x64', 'arm64'].includes(process.arch) ? `no seccomp profile architecture for ${process.arch}` : libseccompMissing() ?? (hasAfVsock() ? false : 'the kernel has no AF_VSOCK');

/** `kube-sgx qgs ARGS` started under the seccomp profile in `profileFile`. */
function qgsUnder(profileFile: string, args: string[]) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // a child with the runner's NODE_TEST_CONTEXT hung (test/qgs/cli.test.ts)
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/deploy/seccomp-exec.ts', profileFile, '--', process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'qgs', ...args], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('the tdx-vsock seccomp profile around kube-sgx qgs', { skip }, () => {
  const t = tempDir('kube-sgx-qgs-seccomp-');
  let platform: SimPlatform;
  const platformDir = join(t.dir, 'platform');
  const port = 40_000 + ((process.pid + 7) % 20_000);
  before(async () => {
    platform = await SimPlatform.open(platformDir, { seed: 'qgs-seccomp' });
  });
  after(() => t.cleanup());

  test('under the shipped profile the QGS runs filtered, listens on vsock and serves a verified TD quote', async () => {
    const socketPath = join(t.dir, 'qgs.socket');
    const p = qgsUnder(PROFILE, ['--backend', 'sim', '--platform', platformDir, '--socket', socketPath, '--vsock', String(port), '--metrics-addr', '127.0.0.1:0']);
    try {
      const deadline = Date.now() + 120_000; // a bound against a hang, not a timing claim
      while (!p.output().includes('QGS serving')) {
        if (p.child.exitCode !== null) assert.fail(`exited early: ${p.output()}`);
        if (Date.now() > deadline) assert.fail(`not serving after 120 s: ${p.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // the same process (execve keeps the pid), now in seccomp filter mode
      assert.match(readFileSync(`/proc/${p.child.pid}/status`, 'latin1'), /^Seccomp:\s+2$/m);
      assert.match(p.output(), new RegExp(`"vsockPort":${port}`));
      const reportData = Buffer.alloc(64, 0x5c);
      const quote = await new QgsClient({ socketPath, timeoutMs: 10_000 }).getQuote(platform.tdReport({ reportData }));
      const verified = new QuoteVerifier({ trustedRoots: [platform.rootCaPem] }).verifySync(quote, platform.tdxCollateral());
      assert.equal(verified.td?.reportData, reportData.toString('hex'));
      const ops = /"ops":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(p.output())?.[1];
      assert.ok(ops, p.output());
      assert.equal((await fetch(`${ops}/readyz`)).status, 200);
    } finally {
      p.child.kill('SIGTERM');
    }
    assert.equal(await p.exited, 0, p.output());
  });

  test('with the runtime default\'s socket rule (arg0 != AF_VSOCK) instead, --vsock fails with QGS_VSOCK_UNAVAILABLE, errno 1 (EPERM)', async () => {
    const shipped = JSON.parse(readFileSync(PROFILE, 'utf8')) as OciSeccompProfile;
    const runtimeDefaultLike: OciSeccompProfile = {
      ...shipped,
      syscalls: [...shipped.syscalls.filter((r) => !r.names.includes('socket')), { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] }],
    };
    const file = join(t.dir, 'runtime-default-socket-rule.json');
    writeFileSync(file, JSON.stringify(runtimeDefaultLike));
    const p = qgsUnder(file, ['--backend', 'sim', '--platform', platformDir, '--socket', join(t.dir, 'refused.socket'), '--vsock', String(port + 1)]);
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 120_000); // a bound against a hang
    const code = await p.exited;
    clearTimeout(timer);
    assert.notEqual(code, 0, p.output());
    assert.match(p.output(), /QGS_VSOCK_UNAVAILABLE/);
    assert.match(p.output(), /socket: Operation not permitted \(errno 1\)/);
  });
});
