import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
