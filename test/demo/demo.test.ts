/**
 * `kube-sgx demo` as users run it: a child process of the real CLI. Every step
 * passes in simulation and the temp dir is gone afterwards; --hardware fails
 * clearly on this machine (no SGX) and still cleans up; SIGINT or SIGTERM in
 * the middle stops everything, removes the temp dir and exits 130.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STEP_IDS = ['sgx-node', 'node-agent', 'quote-helper', 'enclave-app', 'attestation', 'secret-release', 'tdx'];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Report {
  ok: boolean;
  mode: string;
  interrupted?: string;
  tempDir: string;
  steps: { id: string; status: string; proved?: string; error?: { code: string; message: string }; reason?: string }[];
  cleanup: { ok: boolean; tempDirRemoved: boolean; failures: unknown[] };
}

/** The environment of a user's shell: no node:test markers, no log level. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.LOG_LEVEL;
  return env;
}

/** Runs the CLI; `onStderr` sees stderr as it arrives (to send a signal at the right moment). */
function runCli(args: string[], onStderr?: (soFar: string, child: ReturnType<typeof spawn>) => void, timeoutMs = 180_000): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), ...args], {
    cwd: repoRoot,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    onStderr?.(stderr, child);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((res) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function parseReport(run: Run): Report {
  try {
    return JSON.parse(run.stdout) as Report;
  } catch {
    throw new Error(`stdout is not one JSON report (exit ${run.code}):\n${run.stdout.slice(0, 2000)}\nstderr:\n${run.stderr.slice(0, 2000)}`);
  }
}

describe('kube-sgx demo', { concurrency: true }, () => {
  test('--json: every step passes, exit 0, temp dir removed, the process exits by itself', async () => {
    const run = await runCli(['demo', '--json']);
    const report = parseReport(run);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(report.ok, true);
    assert.equal(report.mode, 'simulation');
    assert.deepEqual(report.steps.map((s) => [s.id, s.status]), STEP_IDS.map((id) => [id, 'passed']));
    for (const s of report.steps) assert.ok(s.proved && s.proved.length > 40, `${s.id} says what it proved`);
    assert.deepEqual(report.cleanup, { ok: true, tempDirRemoved: true, failures: [] });
    assert.equal(existsSync(report.tempDir), false);
    assert.doesNotMatch(run.stderr, /forced exit/);
  });

  test('--hardware on a machine without SGX: fails at the first step, says why, cleans up, exit 1', async (t) => {
    if (existsSync('/dev/sgx_enclave') || existsSync('/dev/sgx/enclave')) return t.skip('this machine has SGX');
    const run = await runCli(['demo', '--hardware', '--json']);
    const report = parseReport(run);
    assert.equal(run.code, 1);
    assert.equal(report.ok, false);
    assert.equal(report.mode, 'hardware');
    assert.equal(report.steps[0].status, 'failed');
    assert.equal(report.steps[0].error?.code, 'DEMO_NO_SGX');
    assert.match(report.steps[0].error?.message ?? '', /no usable SGX.*sgx flag/);
    assert.ok(report.steps.slice(1).every((s) => s.status === 'skipped' && /failed/.test(s.reason ?? '')));
    assert.equal(existsSync(report.tempDir), false);
  });

  test('SIGINT in the middle (after the quote helper started): progress so far, servers stopped, sockets and temp dir removed, exit 130', async () => {
    let tempDir = '';
    let socketsSeen = false;
    let sent = false;
    const run = await runCli(['demo', '--hold-after', 'quote-helper'], (soFar, child) => {
      const m = /holding after \S+; temp dir (\S+)/.exec(soFar);
      if (m && !sent) {
        sent = true;
        tempDir = m[1];
        // The run is live: its sockets exist right now.
        socketsSeen = existsSync(join(tempDir, 'kubelet', 'kubelet.sock')) && existsSync(join(tempDir, 'host/var/run/aesmd/aesm.socket'));
        child.kill('SIGINT');
      }
    });
    assert.ok(sent, `never reached the hold point: ${run.stdout.slice(0, 1000)} ${run.stderr.slice(0, 1000)}`);
    assert.ok(socketsSeen, 'kubelet and aesmd sockets existed while the demo ran');
    assert.equal(run.code, 130, run.stdout);
    assert.equal(existsSync(tempDir), false, 'temp dir removed');
    // Human output: each step's progress as it ended, then the interruption and the cleanup.
    assert.match(run.stdout, /\[1\/7\] Simulated SGX node … ok/);
    assert.match(run.stdout, /\[2\/7\] .* … ok[\s\S]*proved: the kubelet stand-in received Register/);
    assert.match(run.stdout, /\[3\/7\] .* … aborted/);
    assert.match(run.stdout, /\[7\/7\] .* … skipped/);
    assert.match(run.stdout, /Interrupted \(SIGINT\)/);
    assert.match(run.stdout, new RegExp(`Everything started was stopped; ${tempDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was removed`));
    assert.doesNotMatch(run.stderr, /forced exit/);
  });
});
