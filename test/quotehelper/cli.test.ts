import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fakeReport } from './fake-backend.js';
import { startFakeServer, tempDir, type TestServer } from './util.js';

// test/quotehelper/cli-entry.ts mirrors src/cli/main.ts's wiring of these commands.
const CLI = ['--import', 'tsx', 'test/quotehelper/cli-entry.ts'];

/** Runs the CLI asynchronously (the in-process test server must keep serving meanwhile). */
function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('kube-sgx quote get / quote target-info', { concurrency: true }, () => {
  let ts: TestServer;
  before(async () => {
    ts = await startFakeServer();
  });
  after(async () => ts.close());

  test('quote target-info writes 512 bytes; quote get writes the trimmed quote', async () => {
    const tiPath = join(ts.dir, 'ti.bin');
    const r1 = await runCli(['quote', 'target-info', '--socket', ts.socketPath, '--out', tiPath]);
    assert.equal(r1.status, 0, r1.stdout + r1.stderr);
    assert.equal(readFileSync(tiPath).length, 512);
    assert.equal(JSON.parse(r1.stdout).bytes, 512);

    const reportPath = join(ts.dir, 'report.bin');
    writeFileSync(reportPath, fakeReport(9));
    const quotePath = join(ts.dir, 'quote.bin');
    const r2 = await runCli(['quote', 'get', '--socket', ts.socketPath, '--report', reportPath, '--out', quotePath]);
    assert.equal(r2.status, 0, r2.stdout + r2.stderr);
    const quote = readFileSync(quotePath);
    assert.equal(quote.length, 48 + 384 + 4 + 100);
    assert.equal(JSON.parse(r2.stdout).version, 3);
  });

  test('a tampered report → exit 1 with AESM_INVALID_REPORT; a short report file → exit 1 naming --report', async () => {
    const bad = fakeReport(9);
    bad[100] ^= 1;
    const reportPath = join(ts.dir, 'bad.bin');
    writeFileSync(reportPath, bad);
    const r = await runCli(['quote', 'get', '--socket', ts.socketPath, '--report', reportPath, '--out', join(ts.dir, 'q.bin')]);
    assert.equal(r.status, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'AESM_INVALID_REPORT');
    writeFileSync(reportPath, Buffer.alloc(100));
    const r2 = await runCli(['quote', 'get', '--socket', ts.socketPath, '--report', reportPath, '--out', join(ts.dir, 'q.bin')]);
    assert.equal(r2.status, 1);
    assert.match(JSON.parse(r2.stdout).error.message, /--report/);
  });

  test('no helper on the socket → AESM_CLIENT_UNAVAILABLE', async () => {
    const r = await runCli(['quote', 'target-info', '--socket', join(ts.dir, 'nothing.socket'), '--out', join(ts.dir, 'x')]);
    assert.equal(r.status, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'AESM_CLIENT_UNAVAILABLE');
  });
});

describe('kube-sgx quote-helper', { concurrency: true }, () => {
  const t = tempDir();
  after(() => t.cleanup());

  test('usage errors exit 2', async () => {
    const [noPlatform, badBackend, badIdle, tinyFrame] = await Promise.all([
      runCli(['quote-helper', '--backend', 'sim', '--socket', join(t.dir, 's')]),
      runCli(['quote-helper', '--backend', 'nope', '--socket', join(t.dir, 's')]),
      runCli(['quote-helper', '--backend', 'sim', '--platform', t.dir, '--idle-timeout-ms', '5s', '--socket', join(t.dir, 's')]),
      runCli(['quote-helper', '--backend', 'sim', '--platform', t.dir, '--max-frame-bytes', '8', '--socket', join(t.dir, 's')]),
    ]);
    assert.equal(noPlatform.status, 2);
    assert.equal(badBackend.status, 2);
    assert.match(badBackend.stdout, /--backend: expected sim or dcap/);
    // The bounds come from quoteHelperOptionsSchema, the same schema startQuoteHelper() applies.
    assert.equal(badIdle.status, 2);
    assert.match(badIdle.stdout, /--idle-timeout-ms: expected an integer/);
    assert.equal(tinyFrame.status, 2);
    assert.match(tinyFrame.stdout, /--max-frame-bytes: must be between 16 and 16777216/);
  });

  test('dcap without the library: start-up error naming it, exit 1', async () => {
    const root = join(t.dir, 'root');
    mkdirSync(join(root, 'dev'), { recursive: true });
    writeFileSync(join(root, 'dev', 'sgx_enclave'), '');
    writeFileSync(join(root, 'dev', 'sgx_provision'), '');
    const r = await runCli(['quote-helper', '--backend', 'dcap', '--dev-root', root, '--dcap-library', join(t.dir, 'libsgx_dcap_ql.so.1'), '--socket', join(t.dir, 'a.socket')]);
    assert.equal(r.status, 1);
    const err = JSON.parse(r.stdout).error;
    assert.equal(err.code, 'DCAP_LIBRARY_UNAVAILABLE');
    assert.ok(err.message.includes('libsgx_dcap_ql.so.1'));
    assert.equal(existsSync(join(t.dir, 'a.socket')), false);
  });

  const haveGcc = spawnSync('gcc', ['--version']).status === 0;
  test('serves, exposes /metrics and /readyz, and removes the socket on SIGTERM', { skip: haveGcc ? false : 'gcc not available' }, async () => {
    writeFileSync(join(t.dir, 'f.c'), '#include <stdint.h>\n#include <string.h>\nuint32_t sgx_qe_get_target_info(uint8_t *t){memset(t,1,512);return 0;}\nuint32_t sgx_qe_get_quote_size(uint32_t *s){*s=600;return 0;}\nuint32_t sgx_qe_get_quote(const uint8_t *r,uint32_t n,uint8_t *q){memset(q,0,n);return 0;}\n');
    const lib = join(t.dir, 'libf.so');
    assert.equal(spawnSync('gcc', ['-shared', '-fPIC', '-o', lib, join(t.dir, 'f.c')]).status, 0);
    const root = join(t.dir, 'root2');
    mkdirSync(join(root, 'dev', 'sgx'), { recursive: true });
    writeFileSync(join(root, 'dev', 'sgx', 'enclave'), '');
    writeFileSync(join(root, 'dev', 'sgx', 'provision'), '');
    const socket = join(t.dir, 'run', 'aesm.socket');
    const child = spawn(process.execPath, [...CLI, 'quote-helper', '--backend', 'dcap', '--dcap-library', lib, '--dev-root', root, '--socket', socket, '--metrics-addr', '127.0.0.1:0'], {
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stderr.on('data', (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 45000;
    while (!/"ops":"(http:[^"]+)"/.test(logs)) {
      if (Date.now() > deadline) assert.fail('helper did not start: ' + logs);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ops = /"ops":"(http:[^"]+)"/.exec(logs)?.[1] ?? '';
    assert.match(logs, /"backend":"dcap"/);
    assert.ok(existsSync(socket));
    assert.equal((await fetch(`${ops}/readyz`)).status, 200);
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    assert.match(metrics, /kube_sgx_quote_helper_info\{backend="dcap",simulated="false"\} 1/);
    const status = (await (await fetch(`${ops}/status`)).json()) as Record<string, unknown>;
    assert.equal(status.backend, 'dcap');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(existsSync(socket), false, 'socket removed on shutdown');
  });
});
