/** Error codes are typed unions per layer (src/<layer>/error-codes.ts): a misspelt code does not compile. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMON_ERROR_CODES, KubeSgxError } from '../src/errors.js';
import { DCAP_ERROR_CODES } from '../src/dcap/error-codes.js';
import { SERVICE_ERROR_CODES } from '../src/service/error-codes.js';
import { SGX_ERROR_CODES } from '../src/sgx/error-codes.js';
import { SIM_ERROR_CODES } from '../src/sim/error-codes.js';
import { WEBHOOK_ERROR_CODES } from '../src/webhook/error-codes.js';
import { QUOTE_HELPER_ERROR_CODES } from '../src/quotehelper/error-codes.js';
import { statusForCode } from '../src/service/problems.js';

test('a code outside every layer\'s union is a compile error (typecheck runs this file)', () => {
  // @ts-expect-error QUOTE_INVALIDD is in no union
  const e = new KubeSgxError('QUOTE_INVALIDD', 'x');
  assert.equal(e.code, 'QUOTE_INVALIDD');
  // @ts-expect-error statusForCode takes only known codes
  assert.equal(statusForCode('NO_SUCH_CODE'), 400);
});

test('merged duplicates are gone: only the documented spelling remains', () => {
  const all = new Set<string>([...COMMON_ERROR_CODES, ...DCAP_ERROR_CODES, ...SERVICE_ERROR_CODES, ...SGX_ERROR_CODES, ...SIM_ERROR_CODES, ...WEBHOOK_ERROR_CODES, ...QUOTE_HELPER_ERROR_CODES]);
  for (const gone of ['QUOTE_INVALID', 'SIM_BAD_REPORT', 'HEX_MALFORMED', 'BAD_BASE64']) assert.equal(all.has(gone), false, gone);
  for (const kept of ['INVALID_QUOTE', 'SIM_INVALID_REPORT', 'BAD_HEX', 'INVALID_BASE64']) assert.equal(all.has(kept), true, kept);
});

test('the service gives every one of its codes an explicit status; other layers\' codes are evidence (400)', () => {
  assert.equal(statusForCode('RATE_LIMITED'), 429);
  assert.equal(statusForCode('STORE_CORRUPT'), 500);
  assert.equal(statusForCode('PCK_CHAIN_UNTRUSTED'), 400);
  for (const code of SERVICE_ERROR_CODES) assert.ok(statusForCode(code) >= 400 && statusForCode(code) < 600, code);
});
