import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeSgxError } from '../../src/errors.js';

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix = 'kube-sgx-sim-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const isCode =
  (code: string, messagePart?: string) =>
  (e: unknown): boolean => {
    if (!(e instanceof KubeSgxError)) return false;
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code}: ${e.message}`);
    if (messagePart !== undefined && !e.message.includes(messagePart)) throw new Error(`message ${JSON.stringify(e.message)} does not mention ${messagePart}`);
    return true;
  };

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `kube-sgx ARGS` as a process (as users run it); returns the exit code and the one JSON object printed. */
export function cli(...args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (code === -1) return reject(err ?? new Error('spawn failed'));
      try {
        resolve({ code, json: JSON.parse(stdout) as Record<string, unknown> });
      } catch {
        reject(new Error(`not one JSON object (exit ${code}): ${stdout}`));
      }
    });
  });
}

/**
 * Captures the CLI's JSON (strings written to stdout) and passes anything else
 * (the test runner's own stream) through; `restore()` puts stdout back.
 */
export function captureStdout(): { text: () => string; restore: () => void } {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') {
      out += chunk;
      return true;
    }
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  return { text: () => out, restore: () => void (process.stdout.write = write) };
}

/** Runs `kube-sgx ARGS` in this process; returns the exit code and the one JSON object printed. */
export async function cliInProcess(...args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const { main } = await import('../../src/cli/main.js');
  const stdout = captureStdout();
  try {
    await main(['node', 'kube-sgx', ...args]);
  } finally {
    stdout.restore();
  }
  const out = stdout.text();
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = undefined;
  return { code, json: out.trim() === '' ? {} : (JSON.parse(out) as Record<string, unknown>) };
}
