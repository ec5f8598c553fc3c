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

/**
 * The definition the bounded engine must keep: plain backtracking over
 * assignments, conditions in order and claims in set order, first
 * satisfying assignment wins (exponential; fine for 4 conditions × 6 claims).
 */
interface NaiveTest {
  prop: 'type' | 'value';
  op: string;
  lit?: string | number;
  ref?: string;
}
interface NaiveCondition {
  name?: string;
  tests: NaiveTest[];
}

function naiveFirstAssignment(conds: NaiveCondition[], claims: Claim[]): Map<string, Claim> | undefined {
  const holds = (op: string, l: string | number | boolean, r: string | number | boolean) => {
    if (typeof l !== typeof r) return false;
    if (op === '==') return l === r;
    if (op === '!=') return l !== r;
    if (typeof l !== 'number' || typeof r !== 'number') return false;
    return op === '<' ? l < r : l > r;
  };
  const go = (i: number, b: Map<string, Claim>): Map<string, Claim> | undefined => {
    if (i === conds.length) return b;
    for (const cl of claims) {
      const ok = conds[i]!.tests.every((t) => {
        const rhs = t.ref !== undefined ? b.get(t.ref)?.value : t.lit;
        return rhs !== undefined && holds(t.op, t.prop === 'type' ? cl.type : cl.value, rhs);
      });
      if (!ok) continue;
      const nb = conds[i]!.name === undefined ? b : new Map(b).set(conds[i]!.name!, cl);
      const found = go(i + 1, nb);
      if (found) return found;
    }
    return undefined;
  };
  return go(0, new Map());
}

describe('bounded search = plain backtracking', () => {
  test('random joined rules issue exactly what the first satisfying assignment gives', () => {
    const claimArb = fc.record({ type: fc.constantFrom('a', 'b', 'c'), value: fc.oneof(fc.constantFrom(1, 2, 3), fc.constantFrom('x', 'y')) });
    const testArb = (earlier: string[]) =>
      fc.oneof(
        fc.record({ prop: fc.constant('type' as const), op: fc.constantFrom('==', '!='), lit: fc.constantFrom('a', 'b', 'c') }),
        fc.record({ prop: fc.constant('value' as const), op: fc.constantFrom('==', '!=', '<', '>'), lit: fc.constantFrom(1, 2, 3) }),
        ...(earlier.length > 0 ? [fc.record({ prop: fc.constant('value' as const), op: fc.constantFrom('==', '!=', '<', '>'), ref: fc.constantFrom(...earlier) })] : []),
      );
    const condsArb = fc.integer({ min: 1, max: 4 }).chain((n) => {
      const names = Array.from({ length: n }, (_, i) => `n${i}`);
      return fc.tuple(...names.map((_, i) => fc.record({ named: fc.boolean(), tests: fc.array(testArb(names.slice(0, i)), { minLength: 1, maxLength: 3 }) })));
    });
    fc.assert(
      fc.property(fc.array(claimArb, { minLength: 1, maxLength: 6 }), condsArb, fc.nat(3), (rawClaims, rawConds, outFrom) => {
        const claims: Claim[] = rawClaims.map((c) => ({ type: c.type, value: c.value, valueType: typeof c.value === 'number' ? 'Integer' : 'String', issuer: 'AttestationService' }));
        // A test may only name a condition that is named; the first condition is always named so the action can read it.
        const conds: NaiveCondition[] = rawConds.map((c, i) => ({ ...(c.named || i === 0 ? { name: `n${i}` } : {}), tests: c.tests.map((t): NaiveTest => ({ ...t })) }));
        const named = new Set(conds.flatMap((c) => (c.name ? [c.name] : [])));
        for (const c of conds) c.tests = c.tests.filter((t) => t.ref === undefined || named.has(t.ref));
        if (conds.some((c) => c.tests.length === 0)) return;
        const source = conds[Math.min(outFrom, conds.length - 1)]!.name ?? 'n0';
        const lit = (v: string | number) => (typeof v === 'string' ? `"${v}"` : String(v));
        const text = `version=1.0; authorizationrules { => permit(); }; issuancerules { ${conds
          .map((c) => `${c.name ? `${c.name}:` : ''}[${c.tests.map((t) => `${t.prop}${t.op}${t.ref !== undefined ? `${t.ref}.value` : lit(t.lit!)}`).join(', ')}]`)
          .join(' && ')} => issue(type="out", value=${source}.value); };`;
        let p;
        try {
          p = parsePolicy(text);
        } catch (e) {
          assert.ok(e instanceof KubeSgxError && e.code === 'POLICY_TOO_COMPLEX', `${text}: ${(e as Error).message}`);
          return;
        }
        const expected = naiveFirstAssignment(conds, claims)?.get(source)?.value;
        assert.deepEqual(evaluatePolicy(p, claims).issued, expected === undefined ? {} : { out: expected }, text);
      }),
      { numRuns: 600, seed: 42 },
    );
  });
});
