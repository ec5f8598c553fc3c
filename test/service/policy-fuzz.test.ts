/**
 * Grammar-aware and random mutations of MAA policies (1.0–1.2) and JMESPath
 * queries: parsing either succeeds or fails with a typed KubeSgxError that
 * names a line and column, and evaluating whatever parses either answers or
 * fails typed — never a TypeError, RangeError or hang. CPU per case is
 * bounded generously (process.cpuUsage), the machine may be loaded.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KubeSgxError } from '../../src/errors.js';
import { DEFAULT_SGX_POLICY, evaluatePolicy, parsePolicy, type Claim } from '../../src/service/policy/index.js';
import { parseJmesPath, searchJmesPath } from '../../src/service/policy/jmespath.js';
import { MAA_DEFAULT_SGX_POLICY_1_1 } from './helpers.js';

const SEEDS = [
  DEFAULT_SGX_POLICY,
  MAA_DEFAULT_SGX_POLICY_1_1,
  `version=1.2;
authorizationrules {
  c:[type=="x-ms-runtime", issuer=="AttestationService"] => add(type="flags", value=JsonToClaimValue(JmesPath(c.value, "flags[?on == \`true\`].id")));
  c:[type=="flags", issuer=="AttestationPolicy"] => add(type="ok", value=ContainsOnlyValue(c.value, 1));
  ![type=="x-ms-sgx-is-debuggable", value==true] && [type=="ok", value==true] => permit();
};
issuancerules {
  c1:[type=="x-ms-sgx-mrsigner"] && c2:[type=="x-ms-sgx-svn", value>=1] => issue(type="label", value=AppendString(c1.value, "-x"));
};`,
];

const FRAGMENTS = ['[', ']', '(', ')', '{', '}', ';', ',', '=>', '==', '=', '!', '&&', '||', ':', '.', '"', '\\', 'c.value', 'JmesPath(', 'JsonToClaimValue(', 'issueproperty(type="omit_x5c", value=true)', 'version=1.2;', '\n', '//', '`', "'", '@', '[?', '[]', '*', '-1', '9007199254740993', 'true', 'value', 'type'];

const CLAIMS: Claim[] = [
  { type: 'x-ms-sgx-is-debuggable', value: false, valueType: 'Boolean', issuer: 'AttestationService' },
  { type: 'x-ms-sgx-mrsigner', value: 'ab'.repeat(32), valueType: 'String', issuer: 'AttestationService' },
  { type: 'x-ms-sgx-svn', value: 2, valueType: 'Integer', issuer: 'AttestationService' },
  { type: 'x-kube-sgx-tcb-status', value: 'UpToDate', valueType: 'String', issuer: 'AttestationService' },
  { type: 'x-ms-runtime', value: JSON.stringify({ flags: [{ on: true, id: 1 }, { on: false, id: 2 }] }), valueType: 'String', issuer: 'AttestationService' },
];

function typedOrOk(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KubeSgxError, `untyped failure: ${(e as Error)?.stack ?? String(e)}`);
    assert.match(e.code, /^POLICY_/);
  }
}

describe('policy engine under mutation', () => {
  test('mutated policies parse or fail typed with line/column; whatever parses evaluates or fails typed', () => {
    const mutation = fc.tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 4 }))), { minLength: 1, maxLength: 6 }));
    fc.assert(
      fc.property(mutation, ([seed, edits]) => {
        let text = seed;
        for (const [at, len, insert] of edits) {
          const i = at % (text.length + 1);
          text = text.slice(0, i) + insert + text.slice(i + len);
        }
        const c0 = process.cpuUsage();
        let parsed: ReturnType<typeof parsePolicy> | undefined;
        try {
          parsed = parsePolicy(text);
        } catch (e) {
          assert.ok(e instanceof KubeSgxError, `untyped parse failure on ${JSON.stringify(text)}: ${(e as Error)?.stack ?? String(e)}`);
          const d = e.details as { line?: number; column?: number } | undefined;
          assert.ok(typeof d?.line === 'number' && typeof d?.column === 'number', `${e.code} without line/column: ${e.message}`);
        }
        if (parsed) typedOrOk(() => evaluatePolicy(parsed!, CLAIMS));
        const c = process.cpuUsage(c0);
        assert.ok((c.user + c.system) / 1000 < 2000, 'one case took over 2 s of CPU');
      }),
      { numRuns: 400, seed: 19 },
    );
  });

  test('random JMESPath queries parse or fail typed; evaluation never throws untyped', () => {
    const tokens = fc.constantFrom('a', 'b', '.', '[', ']', '[?', '[]', '[*]', '*', '|', '||', '&&', '!', '==', '<', '`1`', "'x'", '@', '(', ')', '{', '}', ':', ',', 'length(', 'equals_ignore_case(', '-1', '0', '&', '"q"', ' ');
    fc.assert(
      fc.property(fc.array(tokens, { maxLength: 14 }), (parts) => {
        const q = parts.join('');
        let node;
        try {
          node = parseJmesPath(q);
        } catch (e) {
          assert.ok(e instanceof KubeSgxError, `untyped failure on ${JSON.stringify(q)}: ${(e as Error)?.stack ?? String(e)}`);
          return;
        }
        typedOrOk(() => searchJmesPath(node, { a: [{ b: 1 }, { b: 'x' }, [2, 3]], b: { a: true } }, () => undefined));
      }),
      { numRuns: 1500, seed: 15 },
    );
  });
});
