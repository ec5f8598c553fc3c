import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeSgxError, toKubeSgxError } from '../src/errors.js';

test('KubeSgxError carries code, path and offset as data', () => {
  const e = new KubeSgxError('QUOTE_TRUNCATED', 'header.version: need 2 bytes at offset 0', { path: ['header', 'version'], offset: 0 });
  assert.deepEqual(e.toJSON(), { code: 'QUOTE_TRUNCATED', message: 'header.version: need 2 bytes at offset 0', path: ['header', 'version'], offset: 0 });
  assert.equal(toKubeSgxError(e), e);
  const wrapped = toKubeSgxError(new Error('boom'));
  assert.equal(wrapped.code, 'INTERNAL');
  assert.equal(wrapped.message, 'boom');
});
