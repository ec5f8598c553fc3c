/**
 * The service as a real child process (the CLI): durability under SIGKILL,
 * restart keeping kid and secrets, graceful shutdown on SIGTERM.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { httpCall } from '../../src/service/client.js';
import { ADMIN_TOKEN, intelCollateralDir, tempDir } from './helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = tempDir('kube-sgx-proc-');
after(() => tmp.cleanup());

interface Child {
  proc: ChildProcess;
  url: string;
  kids: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function spawnService(args: string[]): Promise<Child> {
  // The command's own entry (src/cli/service.ts): same code as `kube-sgx attestation-service`, without loading every other component.
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/service.ts', 'attestation-service', '--listen', '127.0.0.1:0', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', NODE_TEST_CONTEXT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const info = await new Promise<{ url: string; kids: string[] }>((resolve, reject) => {
    // Generous: a busy 2-core CI machine may need a while to load the CLI (N times with --workers).
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`service did not start: ${err}`));
    }, 120_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        const j = JSON.parse(out) as { url: string; kids: string[] };
        clearTimeout(timer);
        resolve(j);
      } catch {
        /* not complete yet */
      }
    });
    void exited.then(() => reject(new Error(`service exited: ${out} ${err}`)));
  });
  return { proc, url: info.url, kids: info.kids, exited };
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('attestation service process', () => {
  const dataDir = join(tmp.dir, 'data');
  const tokenFile = join(tmp.dir, 'admin-token');
  const kekFile = join(tmp.dir, 'kek');
  writeFileSync(tokenFile, ADMIN_TOKEN + '\n');
  writeFileSync(kekFile, randomBytes(32).toString('hex'));
  const collateralDir = intelCollateralDir(tmp.dir);
  const args = ['--data-dir', dataDir, '--collateral-dir', collateralDir, '--admin-token-file', tokenFile, '--kek-file', kekFile, '--rate-limit', '0'];

  test('SIGKILL during a burst of secret registrations loses none that were acknowledged; restart keeps kid and secrets', async () => {
    const first = await spawnService(args);
    const acked: string[] = [];
    let stop = false;
    const releasePolicy = { version: '1.0.0', anyOf: [{ authority: first.url, allOf: [{ claim: 'x-ms-sgx-svn', greaterOrEquals: 0 }] }] };
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const name = `burst/w${w}/s${i}`;
        try {
          const r = await httpCall('PUT', `${first.url}/admin/secrets/${name}`, JSON.stringify({ valueText: `value-${w}-${i}`, releasePolicy }), { headers: admin, timeoutMs: 5_000 });
          if (r.status === 201) acked.push(name);
        } catch {
          return; // connection cut by the kill
        }
      }
    };
    const workers = [0, 1, 2, 3, 4, 5, 6, 7].map(worker);
    // Kill in the middle of the burst, once a good number of writes are acknowledged.
    while (acked.length < 150) await new Promise((r) => setTimeout(r, 5));
    first.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    assert.equal((await first.exited).signal, 'SIGKILL');
    assert.ok(acked.length >= 150);

    const second = await spawnService(args);
    try {
      assert.deepEqual(second.kids, first.kids, 'same signing key after restart');
      const list = await httpCall('GET', `${second.url}/admin/secrets`, undefined, { headers: admin });
      const names = new Set((JSON.parse(list.body) as { secrets: string[] }).secrets);
      const lost = acked.filter((n) => !names.has(n));
      assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged registrations lost`);
    } finally {
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  });

  test('bad flags: exit 2 with one JSON error, never a half-started service', async () => {
    const run = (extra: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'attestation-service', '--listen', '127.0.0.1:0', ...extra], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'silent' } });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('exit', (code) => resolve({ code, out }));
      });
    const [noPlatform, workers, store] = await Promise.all([
      run(['--simulation']),
      run(['--collateral-dir', collateralDir, '--workers', '2']),
      run(['--collateral-dir', collateralDir, '--store', 'etcd']),
    ]);
    for (const [r, msg] of [[noPlatform, /--simulation needs --platform/], [workers, /--workers > 1 needs --data-dir/], [store, /--store must be/]] as const) {
      assert.equal(r.code, 2, r.out);
      const err = (JSON.parse(r.out) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'USAGE');
      assert.match(err.message, msg);
    }
  });

  test('--workers 2: processes share the port and the state (one kid, one secret set), and stop on SIGTERM', async () => {
    const dir = join(tmp.dir, 'workers');
    const svc = await spawnService(['--data-dir', dir, '--collateral-dir', collateralDir, '--admin-token-file', tokenFile, '--kek-file', kekFile, '--rate-limit', '0', '--workers', '2']);
    try {
      const releasePolicy = { version: '1.0.0', anyOf: [{ authority: svc.url, allOf: [{ claim: 'a', exists: true }] }] };
      assert.equal((await httpCall('PUT', `${svc.url}/admin/secrets/w`, JSON.stringify({ valueText: 'v', releasePolicy }), { headers: admin })).status, 201);
      // New connections are spread over the workers; every answer must agree.
      for (let i = 0; i < 8; i++) {
        const st = JSON.parse((await httpCall('GET', `${svc.url}/status`, undefined, { headers: { connection: 'close' } })).body) as { signingKeys: Array<{ kid: string }> };
        assert.deepEqual(st.signingKeys.map((k) => k.kid), svc.kids);
        const list = JSON.parse((await httpCall('GET', `${svc.url}/admin/secrets`, undefined, { headers: { ...admin, connection: 'close' } })).body) as { secrets: string[] };
        assert.deepEqual(list.secrets, ['w']);
      }
    } finally {
      svc.proc.kill('SIGTERM');
    }
    assert.equal((await svc.exited).code, 0);
  });

  test('SIGTERM: in-flight requests finish, then the process exits 0', async () => {
    const svc = await spawnService(args);
    // A slow request: a large body trickled in while the shutdown starts.
    const { request } = await import('node:http');
    const body = JSON.stringify({ valueText: 'x'.repeat(50_000), releasePolicy: { version: '1.0.0', anyOf: [{ authority: svc.url, allOf: [{ claim: 'a', exists: true }] }] } });
    const u = new URL(`${svc.url}/admin/secrets/slow`);
    const done = new Promise<number>((resolve, reject) => {
      const req = request(u, { method: 'PUT', headers: { ...admin, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(body.slice(0, 1000));
      setTimeout(() => {
        svc.proc.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(1000)), 300);
      }, 200);
    });
    assert.equal(await done, 201, 'the in-flight request completed');
    const exit = await svc.exited;
    assert.equal(exit.code, 0);
  });
});
