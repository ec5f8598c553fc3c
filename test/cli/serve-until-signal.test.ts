/**
 * serveUntilSignal (src/cli/io.ts), the shape of every long-running command: a SIGTERM that arrives while the
 * component is still starting ends in a clean stop once start-up completes, not in Node's default exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './run.js';

test('a SIGTERM during start-up: start completes, the component is stopped once, exit 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-sgx-serve-'));
  try {
    const script = join(dir, 'serve.mts');
    // start() reports that it began, then waits for the parent's "go" (sent only after the SIGTERM was delivered).
    writeFileSync(
      script,
      `import { serveUntilSignal } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src', 'cli', 'io.ts')).href)};
const lines = [];
const log = { info: (o, msg) => lines.push(msg + ' ' + o.signal) };
const sig = await serveUntilSignal(log, async () => {
  process.send('starting');
  await new Promise((r) => process.once('message', r));
  return { stop: async () => { lines.push('stopped'); } };
});
process.send({ sig, lines });
process.disconnect();
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const messages: unknown[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.on('message', (m) => {
      messages.push(m);
      if (m === 'starting') {
        child.kill('SIGTERM');
        // A signal is delivered asynchronously: let it land before start-up is allowed to finish.
        setTimeout(() => child.send('go'), 200);
      }
    });
    const { code, signal } = await exited;
    assert.equal(signal, null, 'killed by the signal instead of shutting down');
    assert.equal(code, 0);
    assert.deepEqual(messages, ['starting', { sig: 'SIGTERM', lines: ['shutting down SIGTERM', 'stopped'] }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
