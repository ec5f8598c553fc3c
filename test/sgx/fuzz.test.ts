/**
 * Property: for any mutated quote, parseQuote either throws a KubeSgxError or
 * returns a quote that re-encodes to exactly the input. (A bigger run lives
 * in the verifier's fuzz script, reusing fuzz-helpers.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KubeSgxError } from '../../src/errors.js';
import { encodeQuote, parseQuote, parsePckExtensions, quoteToJson } from '../../src/sgx/index.js';
import { mutateQuote, quoteFieldOffsets, quoteMutationArbitrary, seededRandom } from './fuzz-helpers.js';
import { allQuotes } from './vectors.js';

const bases = allQuotes().map((v) => v.bytes);

function check(input: Buffer, codes: Map<string, number>): void {
  try {
    const q = parseQuote(input);
    assert.ok(encodeQuote(q).equals(input), 'accepted input must re-encode exactly');
    quoteToJson(q);
    const c = q.signatureData.certificationData;
    if (c.type === 5) {
      for (const der of c.certificates) {
        try {
          parsePckExtensions(der);
        } catch (e) {
          if (!(e instanceof KubeSgxError)) throw e;
        }
      }
    }
    codes.set('OK', (codes.get('OK') ?? 0) + 1);
  } catch (e) {
    if (!(e instanceof KubeSgxError)) throw e;
    codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
  }
}

test('fast-check: 3000 mutated quotes give a typed error or an exact round trip', () => {
  const codes = new Map<string, number>();
  fc.assert(fc.property(quoteMutationArbitrary(bases), (m) => check(m, codes)), { numRuns: 3000 });
  // the mutator must reach both outcomes and many distinct errors, or it tests nothing
  assert.ok((codes.get('OK') ?? 0) > 0, JSON.stringify([...codes]));
  assert.ok(codes.size >= 8, JSON.stringify([...codes]));
});

test('seeded: 20000 mutations across all vectors', () => {
  const codes = new Map<string, number>();
  const rand = seededRandom(0x5eed);
  const fields = bases.map((b) => quoteFieldOffsets(parseQuote(b)));
  for (let i = 0; i < 20000; i++) {
    const k = i % bases.length;
    check(mutateQuote(bases[k], rand, fields[k]), codes);
  }
  for (const code of ['QUOTE_TRUNCATED', 'QUOTE_TRAILING_BYTES', 'QUOTE_BAD_LENGTH', 'CERT_DATA_BAD_LENGTH', 'QUOTE_UNSUPPORTED_VERSION', 'CERT_DATA_UNSUPPORTED_TYPE']) {
    assert.ok((codes.get(code) ?? 0) > 0, `never produced ${code}: ${JSON.stringify([...codes])}`);
  }
});
