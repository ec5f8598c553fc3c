import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { parseQuoteHelperOptions, QUOTE_HELPER_DEFAULTS } from '../../src/quotehelper/options.js';
import { startQuoteHelper } from '../../src/quotehelper/helper.js';
import { silentLogger } from '../../src/ops/log.js';
import { FakeBackend } from './fake-backend.js';
import { tempDir } from './util.js';
import { join } from 'node:path';

describe('quote helper options schema', () => {
  test('defaults in one place', () => {
    const o = parseQuoteHelperOptions({});
    assert.equal(o.idleTimeoutMs, QUOTE_HELPER_DEFAULTS.idleTimeoutMs);
    assert.equal(o.maxConnectionsPerPeer, 64);
    assert.equal(o.socketPath, '/var/run/aesmd/aesm.socket');
    assert.deepEqual(o.dcap, { libraryPath: 'libsgx_dcap_ql.so.1', devRoot: '/' });
  });
  test('numbers as numbers or as CLI text; bad values name the flag or field', () => {
    assert.equal(parseQuoteHelperOptions({ idleTimeoutMs: '250' }).idleTimeoutMs, 250);
    assert.throws(() => parseQuoteHelperOptions({ requestTimeoutMs: 0 }), { code: 'QUOTE_HELPER_OPTIONS_INVALID', message: /^--request-timeout-ms: must be between 1/ });
    assert.throws(() => parseQuoteHelperOptions({ maxConnectionsPerPeer: 1.5 }), { message: /^maxConnectionsPerPeer: expected an integer/ });
    assert.throws(() => parseQuoteHelperOptions({ socketPath: '' }), { message: /^--socket:/ });
    assert.throws(() => parseQuoteHelperOptions({ nope: 1 }), { code: 'QUOTE_HELPER_OPTIONS_INVALID' });
  });
  test('startQuoteHelper applies the same schema', async () => {
    const { dir, cleanup } = tempDir();
    try {
      await assert.rejects(
        startQuoteHelper({ backend: new FakeBackend(), socketPath: join(dir, 's'), idleTimeoutMs: -1, logger: silentLogger }),
        { code: 'QUOTE_HELPER_OPTIONS_INVALID', message: /--idle-timeout-ms/ },
      );
    } finally {
      cleanup();
    }
  });
});
