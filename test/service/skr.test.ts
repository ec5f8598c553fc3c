import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeSgxError } from '../../src/errors.js';
import { evaluateReleasePolicy, parseReleasePolicy } from '../../src/service/skr.js';

const ISS = 'https://attest.example';
const claims = {
  iss: ISS,
  'x-ms-sgx-mrsigner': 'ab'.repeat(32),
  'x-ms-sgx-mrenclave': 'cd'.repeat(32),
  'x-ms-sgx-svn': 3,
  'x-ms-sgx-is-debuggable': false,
  'x-ms-runtime': { keys: { kid: 'k1' } },
};

const policy = (allOf: unknown[], authority = ISS) => parseReleasePolicy({ version: '1.0.0', anyOf: [{ authority, allOf }] });

describe('secret release policy (SKR grammar)', () => {
  test("Microsoft's SGX example shape: mrsigner equals (hex, any case) and svn greater", () => {
    const p = policy([
      { claim: 'x-ms-sgx-mrsigner', equals: 'AB'.repeat(32) },
      { claim: 'x-ms-sgx-svn', greater: 2 },
    ]);
    assert.equal(evaluateReleasePolicy(p, claims), true);
    assert.equal(evaluateReleasePolicy(p, { ...claims, 'x-ms-sgx-svn': 2 }), false);
  });

  test('every operator, both ways', () => {
    const cases: Array<[Record<string, unknown>, boolean]> = [
      [{ claim: 'x-ms-sgx-svn', equals: 3 }, true],
      [{ claim: 'x-ms-sgx-svn', notEquals: 3 }, false],
      [{ claim: 'x-ms-sgx-svn', greater: 3 }, false],
      [{ claim: 'x-ms-sgx-svn', greaterOrEquals: 3 }, true],
      [{ claim: 'x-ms-sgx-svn', less: 3 }, false],
      [{ claim: 'x-ms-sgx-svn', lessOrEquals: 3 }, true],
      [{ claim: 'x-ms-sgx-is-debuggable', equals: false }, true],
      [{ claim: 'x-ms-sgx-is-debuggable', equals: 'false' }, false],
      [{ claim: 'x-ms-runtime.keys.kid', equals: 'k1' }, true],
      [{ claim: 'x-ms-runtime.keys', equals: 'k1' }, false],
      [{ claim: 'nope', exists: true }, false],
      [{ claim: 'nope', exists: false }, true],
      [{ claim: 'x-ms-sgx-mrenclave', exists: true }, true],
      [{ claim: 'nope', notEquals: 'x' }, false],
    ];
    for (const [cond, want] of cases) assert.equal(evaluateReleasePolicy(policy([cond]), claims), want, JSON.stringify(cond));
  });

  test('nested anyOf/allOf, and authority must be the token issuer', () => {
    const p = policy([{ anyOf: [{ claim: 'x-ms-sgx-mrenclave', equals: '00' }, { allOf: [{ claim: 'x-ms-sgx-svn', equals: 3 }] }] }]);
    assert.equal(evaluateReleasePolicy(p, claims), true);
    assert.equal(evaluateReleasePolicy(policy([{ claim: 'x-ms-sgx-svn', equals: 3 }], 'https://other'), claims), false);
    assert.equal(evaluateReleasePolicy(policy([{ claim: 'x-ms-sgx-svn', equals: 3 }], `${ISS}/`), claims), true);
  });

  test('malformed policies are refused with the path of the problem', () => {
    const bad: Array<[unknown, RegExp]> = [
      ['{', /not JSON/],
      [{ version: '1.0.0', anyOf: [] }, /anyOf/],
      [{ version: '2', anyOf: [{ authority: ISS, allOf: [{ claim: 'a', equals: 1 }] }] }, /version/],
      [{ version: '1.0.0', anyOf: [{ authority: ISS, allOf: [{ claim: 'a', matches: 'x' }] }] }, /anyOf\.0\.allOf\.0\.matches: unknown operator/],
      [{ version: '1.0.0', anyOf: [{ authority: ISS, allOf: [{ claim: 'a', greater: 'x' }] }] }, /greater takes a number/],
      [{ version: '1.0.0', anyOf: [{ authority: ISS, allOf: [{ claim: 'a', equals: { x: 1 } }] }] }, /string, number or boolean/],
      [{ version: '1.0.0', anyOf: [{ authority: ISS, allOf: [{ claim: 'a', equals: 1 }], anyOf: [{ claim: 'a', equals: 1 }] }] }, /exactly one of allOf and anyOf/],
      [{ version: '1.0.0', anyOf: [{ allOf: [{ claim: 'a', equals: 1 }] }] }, /authority/],
      [{ version: '1.0.0', anyOf: [{ authority: ISS, allOf: [{ claim: 'a', equals: 1, less: 2 }] }] }, /exactly one operator/],
    ];
    for (const [input, msg] of bad) {
      assert.throws(() => parseReleasePolicy(input), (e: unknown) => e instanceof KubeSgxError && e.code === 'RELEASE_POLICY_INVALID' && msg.test(e.message), JSON.stringify(input));
    }
  });
});
