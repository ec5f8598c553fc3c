/** The QGS options schema is the single source of its defaults and rules, for `kube-sgx qgs` and startQgs(). */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { silentLogger } from '../../src/ops/log.js';
import { parseQgsOptions, QGS_DEFAULTS } from '../../src/qgs/options.js';
import { startQgs } from '../../src/qgs/service.js';
import { tempDir } from '../quotehelper/util.js';

const optionDefault = (cmd: Command, flag: string): unknown => cmd.options.find((o) => o.long === flag)?.defaultValue;

describe('QGS options schema', () => {
  test('the CLI shows and passes the schema defaults', async () => {
    const cmd = (await buildProgram('qgs')).commands.find((c) => c.name() === 'qgs')!;
    const o = parseQgsOptions({});
    assert.equal(optionDefault(cmd, '--socket'), o.socketPath);
    assert.equal(optionDefault(cmd, '--backend'), o.backend);
    assert.equal(optionDefault(cmd, '--tdx-library'), o.dcap.libraryPath);
    assert.equal(optionDefault(cmd, '--qpl-library'), o.dcap.qplPath);
    assert.equal(optionDefault(cmd, '--dev-root'), o.dcap.devRoot);
    assert.equal(Number(optionDefault(cmd, '--timeout-ms')), o.timeoutMs);
    assert.equal(Number(optionDefault(cmd, '--max-message-bytes')), o.maxMessageBytes);
    assert.equal(parseInt(String(optionDefault(cmd, '--socket-mode')), 8), o.socketMode);
    assert.deepEqual(
      { socketPath: o.socketPath, socketMode: o.socketMode, timeoutMs: o.timeoutMs, maxMessageBytes: o.maxMessageBytes, maxConnections: o.maxConnections },
      { socketPath: '/var/run/tdx-qgs/qgs.socket', socketMode: 0o660, timeoutMs: 30_000, maxMessageBytes: 16384, maxConnections: QGS_DEFAULTS.maxConnections },
    );
  });

  test('CLI text or numbers; bad values and a sim backend without a platform name the flag', () => {
    const o = parseQgsOptions({ socketMode: '600', timeoutMs: '5000', vsockPort: '4050' });
    assert.deepEqual([o.socketMode, o.timeoutMs, o.vsockPort], [0o600, 5000, 4050]);
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ backend: 'sgx' }, /^--backend: expected sim or dcap, got "sgx"/],
      [{ backend: 'sim' }, /^--platform: the sim backend needs --platform DIR/],
      [{ socketMode: '999' }, /^--socket-mode: expected octal like 660, got "999"/],
      [{ vsockPort: 'x' }, /^--vsock: expected an integer/],
      [{ maxMessageBytes: 1000 }, /^--max-message-bytes: must be between 1100/],
      [{ timeoutMs: 0 }, /^--timeout-ms: must be between 1/],
      [{ maxConnections: 0 }, /^maxConnections: must be between 1/],
      [{ dcap: { libraryPath: '' } }, /^--tdx-library\/--qpl-library\/--dev-root:/],
      [{ nope: 1 }, /nope/],
    ];
    for (const [input, message] of bad) assert.throws(() => parseQgsOptions(input), { code: 'QGS_OPTIONS_INVALID', message }, JSON.stringify(input));
  });

  test('startQgs applies the same schema before it opens a backend or a socket', async () => {
    const { dir, cleanup } = tempDir('kube-sgx-qgs-options-');
    try {
      const socketPath = join(dir, 'qgs.socket');
      await assert.rejects(startQgs({ backend: 'sim', socketPath, logger: silentLogger }), { code: 'QGS_OPTIONS_INVALID', path: ['platformDir'], message: /--platform/ });
      await assert.rejects(startQgs({ backend: 'dcap', socketPath, maxMessageBytes: 10, logger: silentLogger }), { code: 'QGS_OPTIONS_INVALID', message: /^--max-message-bytes:/ });
      assert.equal(existsSync(socketPath), false);
    } finally {
      cleanup();
    }
  });
});
