/** A few thousand mutated quotes through parser + verifier (the million-case run is scripts/fuzz-verifier.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzBases, runFuzz } from './fuzz-cases.js';

test('3,000 mutated quotes: only typed errors or the unchanged result, none slow', () => {
  const bases = fuzzBases();
  assert.equal(typeof bases[0].expected, 'object', 'the SGX base verifies');
  assert.equal(bases[2].expected, 'TCB_NOT_SUPPORTED');
  const stats = runFuzz(bases, 3_000, 0xc0ffee);
  assert.deepEqual(stats.findings, []);
  assert.equal(stats.cases, 3_000);
  assert.ok(stats.typedErrors > 2_500, `most mutations are rejected (${stats.typedErrors})`);
  assert.ok(stats.codes.size > 10, `many distinct codes: ${[...stats.codes.keys()].join(', ')}`);
});
