import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { KubeSgxError } from '../../src/errors.js';
import { DEFAULT_SGX_POLICY, evaluatePolicy, parsePolicy, policyHash, type Claim } from '../../src/service/policy/index.js';

const svc = (type: string, value: string | number | boolean): Claim => ({
  type,
  value,
  valueType: typeof value === 'boolean' ? 'Boolean' : typeof value === 'number' ? 'Integer' : 'String',
  issuer: 'AttestationService',
});

const enclave = (over: Partial<Record<string, string | number | boolean>> = {}): Claim[] =>
  Object.entries({
    'x-ms-sgx-is-debuggable': false,
    'x-ms-sgx-mrsigner': 'aa'.repeat(32),
    'x-ms-sgx-mrenclave': 'bb'.repeat(32),
    'x-ms-sgx-product-id': 1,
    'x-ms-sgx-svn': 3,
    'x-ms-attestation-type': 'sgx',
    'x-kube-sgx-tcb-status': 'UpToDate',
    ...over,
  }).map(([k, v]) => svc(k, v as string | number | boolean));

function syntaxError(text: string): KubeSgxError {
  try {
    parsePolicy(text);
  } catch (e) {
    assert.ok(e instanceof KubeSgxError);
    return e;
  }
  assert.fail('expected a policy error');
}

describe('MAA policy language', () => {
  test('default policy: permits UpToDate and SWHardeningNeeded, denies debug and other statuses', () => {
    const p = parsePolicy(DEFAULT_SGX_POLICY);
    assert.equal(evaluatePolicy(p, enclave()).permitted, true);
    assert.equal(evaluatePolicy(p, enclave({ 'x-kube-sgx-tcb-status': 'SWHardeningNeeded' })).permitted, true);
    for (const s of ['OutOfDate', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'Revoked', 'OutOfDateConfigurationNeeded']) {
      assert.equal(evaluatePolicy(p, enclave({ 'x-kube-sgx-tcb-status': s })).permitted, false, s);
    }
    const dbg = evaluatePolicy(p, enclave({ 'x-ms-sgx-is-debuggable': true }));
    assert.equal(dbg.permitted, false);
    assert.match(dbg.reason ?? '', /deny\(\) at policy line 3/);
    // issuance copies identity claims under MAA's v1.0 names
    const out = evaluatePolicy(p, enclave());
    assert.equal(out.issued['sgx-mrsigner'], 'aa'.repeat(32));
    assert.equal(out.issued['svn'], 3);
    assert.equal(out.issued['tee'], 'sgx');
  });

  test('the reference-notes example policy parses and evaluates', () => {
    const text = `version=1.0;
authorizationrules {
  c:[type=="x-ms-sgx-is-debuggable", value==true] => deny();
  [type=="x-ms-sgx-mrsigner", value=="${'aa'.repeat(32)}"] && [type=="x-ms-sgx-svn", value>=3] => permit();
};
issuancerules {
  c:[type=="x-ms-sgx-mrenclave"] => issue(type="app-build", value=c.value);
};`;
    const p = parsePolicy(text);
    assert.deepEqual(evaluatePolicy(p, enclave()).issued, { 'app-build': 'bb'.repeat(32) });
    assert.equal(evaluatePolicy(p, enclave({ 'x-ms-sgx-svn': 2 })).permitted, false);
    assert.equal(evaluatePolicy(p, enclave({ 'x-ms-sgx-mrsigner': 'cc'.repeat(32) })).permitted, false);
  });

  test('deny wins regardless of order; no rule firing denies', () => {
    const p = parsePolicy(`version=1.0; authorizationrules { => permit(); [type=="x-ms-sgx-is-debuggable", value==true] => deny(); };`);
    assert.equal(evaluatePolicy(p, enclave({ 'x-ms-sgx-is-debuggable': true })).permitted, false);
    assert.equal(evaluatePolicy(p, enclave()).permitted, true);
    const none = parsePolicy(`version=1.0; authorizationrules { [type=="nope"] => permit(); }; issuancerules { };`);
    assert.equal(evaluatePolicy(none, enclave()).permitted, false);
  });

  test('named conditions bind claims across conditions; add() feeds later rules; issue(claim=c)', () => {
    const p = parsePolicy(`Version= 1.0;
authorizationrules {
  c1:[type=="x-ms-sgx-svn"] && [type=="x-ms-sgx-product-id", value!=c1.value] => add(type="svn-differs", value=true);
  [type=="svn-differs", value==true, issuer=="AttestationPolicy"] => permit();
};
issuancerules {
  c:[type=="x-ms-sgx-product-id", valueType=="Integer"] => issue(claim=c);
  [type=="x-ms-sgx-svn", value>2] => issue(type="tier", value="gold");
  [type=="x-ms-sgx-svn", value<=2] => issue(type="tier", value="basic");
};`);
    const out = evaluatePolicy(p, enclave());
    assert.equal(out.permitted, true);
    assert.deepEqual(out.issued, { 'x-ms-sgx-product-id': 1, tier: 'gold' });
    assert.equal(evaluatePolicy(p, enclave({ 'x-ms-sgx-svn': 1 })).permitted, false); // svn == product id
  });

  test('issuer filter: a client-supplied claim cannot satisfy an AttestationService condition', () => {
    const p = parsePolicy(`version=1.0; authorizationrules { [type=="x", value=="y", issuer=="AttestationService"] => permit(); };`);
    assert.equal(evaluatePolicy(p, [{ type: 'x', value: 'y', valueType: 'String', issuer: 'CustomClaim' }]).permitted, false);
    assert.equal(evaluatePolicy(p, [svc('x', 'y')]).permitted, true);
  });

  test('type mismatches never match (string "3" is not integer 3)', () => {
    const p = parsePolicy(`version=1.0; authorizationrules { [type=="x-ms-sgx-svn", value==3] => permit(); };`);
    assert.equal(evaluatePolicy(p, [svc('x-ms-sgx-svn', '3')]).permitted, false);
  });

  const cases: Array<[string, string, number, number, RegExp]> = [
    ['single = in condition', 'version=1.0;\nauthorizationrules {\n  [type="x"] => permit();\n};', 3, 8, /comparisons use "=="/],
    ['unterminated string', 'version=1.0;\nauthorizationrules {\n  [type=="x] => permit();\n};', 3, 10, /unterminated string/],
    ['missing =>', 'version=1.0;\nauthorizationrules {\n  [type=="x"] permit();\n};', 3, 15, /expected "=>"/],
    ['unknown action', 'version=1.0;\nauthorizationrules {\n  => allow();\n};', 3, 6, /unknown action "allow"/],
    ['missing closing brace', 'version=1.0;\nauthorizationrules {\n  => permit();\n', 4, 1, /missing "}"/],
    ['ordering on strings', 'version=1.0;\nauthorizationrules {\n  [type=="x", value>"a"] => permit();\n};', 3, 20, /integer values only/],
    ['issue in authorization', 'version=1.0;\nauthorizationrules {\n  => issue(type="a", value=1);\n};', 3, 6, /only allowed in issuancerules/],
    ['unbound reference', 'version=1.0;\nauthorizationrules { => permit(); };\nissuancerules {\n  => issue(type="a", value=c.value);\n};', 4, 28, /names no condition/],
    ['no version', 'authorizationrules { => permit(); };', 1, 1, /expected "version"/],
    ['typographic quotes', 'version=1.0;\nauthorizationrules {\n  [type==\u201Cx\u201D] => permit();\n};', 3, 10, /typographic quote/],
  ];
  for (const [name, text, line, column, msg] of cases) {
    test(`syntax error with line/column: ${name}`, () => {
      const e = syntaxError(text);
      assert.equal(e.code, 'POLICY_SYNTAX');
      assert.deepEqual(e.details, { line, column });
      assert.match(e.message, new RegExp(`^line ${line}, column ${column}: `));
      assert.match(e.message, msg);
    });
  }

  const unsupported: Array<[string, string, number, RegExp]> = [
    ['version 1.3', 'version=1.3;\nauthorizationrules { => permit(); };', 1, /version 1.3 is not supported/],
    ['configurationrules', 'version=1.0;\nconfigurationrules { };', 2, /configurationrules/],
    ['|| operator', 'version=1.0;\nauthorizationrules {\n  [type=="a"] || [type=="b"] => permit();\n};', 3, /"\|\|"/],
    ['negated condition', 'version=1.0;\nauthorizationrules {\n  ![type=="a"] => permit();\n};', 3, /policy 1.2/],
    ['function call', 'version=1.0;\nauthorizationrules {\n  [type=="a", value==JmesPath(x)] => permit();\n};', 3, /function "JmesPath"/],
    ['issueproperty', 'version=1.0;\nauthorizationrules { => permit(); };\nissuancerules {\n  => issueproperty(type="omit_x5c", value=true);\n};', 4, /issueproperty/],
    ['block comments', 'version=1.0;\n/* hi */\nauthorizationrules { => permit(); };', 2, /block comments/],
    ['unknown property', 'version=1.0;\nauthorizationrules {\n  [kind=="a"] => permit();\n};', 3, /claim property "kind"/],
    ['reserved claim issued', 'version=1.0;\nauthorizationrules { => permit(); };\nissuancerules {\n  => issue(type="x-ms-sgx-mrenclave", value="00");\n};', 4, /reserved/],
    ['__proto__ issued', 'version=1.0;\nauthorizationrules { => permit(); };\nissuancerules {\n  => issue(type="__proto__", value="x");\n};', 4, /reserved/],
  ];
  for (const [name, text, line, msg] of unsupported) {
    test(`outside the subset is refused, never ignored: ${name}`, () => {
      const e = syntaxError(text);
      assert.equal(e.code, 'POLICY_UNSUPPORTED');
      assert.equal((e.details as { line: number }).line, line);
      assert.match(e.message, msg);
    });
  }

  test('policy hash is MAA\'s: b64url(SHA-256(b64url(text)))', () => {
    // Computed independently: base64url("version=1.0;") = "dmVyc2lvbj0xLjA7"
    const expected = createHash('sha256').update('dmVyc2lvbj0xLjA7').digest('base64url');
    assert.equal(policyHash('version=1.0;'), expected);
  });
});

/** CPU time (user + system, ms) spent running fn; bounded in tests instead of wall-clock time. */
function cpuMs(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

describe('MAA policy evaluation cost is bounded', () => {
  // Many claims that each satisfy every condition but the last: plain backtracking tries claims^conditions assignments.
  const manyClaims = (n: number): Claim[] => [...enclave(), ...Array.from({ length: n }, (_, i) => svc(`x-kube-sgx-advisory-ids`, `INTEL-SA-${String(i).padStart(5, '0')}`))];

  test('50 unnamed conditions over 60 claims, last one failing: evaluated without combinatorial search', () => {
    const conds = Array.from({ length: 49 }, () => '[type=="x-kube-sgx-advisory-ids"]');
    const text = `version=1.0; authorizationrules { ${conds.join(' && ')} && [type=="absent"] => permit(); };`;
    const p = parsePolicy(text);
    let out: ReturnType<typeof evaluatePolicy> | undefined;
    const ms = cpuMs(() => (out = evaluatePolicy(p, manyClaims(53))));
    assert.equal(out?.permitted, false);
    assert.ok(ms < 2000, `took ${ms} ms of CPU`);
  });

  test('a chain of 50 named conditions, each referring to the previous one, is polynomial and finds the same binding', () => {
    // c0..c48 all match advisory ids (value differing from the previous one), the last must equal c48's value.
    const conds = ['c0:[type=="x-kube-sgx-advisory-ids"]'];
    for (let i = 1; i < 49; i++) conds.push(`c${i}:[type=="x-kube-sgx-advisory-ids", value!=c${i - 1}.value]`);
    const fail = parsePolicy(`version=1.0; authorizationrules { ${conds.join(' && ')} && [type=="absent", value==c48.value] => permit(); };`);
    const ok = parsePolicy(`version=1.0; authorizationrules { => permit(); }; issuancerules { ${conds.join(' && ')} && [type=="x-ms-sgx-svn"] => issue(type="last", value=c48.value); };`);
    const claims = manyClaims(40);
    let denied: ReturnType<typeof evaluatePolicy> | undefined;
    let issued: ReturnType<typeof evaluatePolicy> | undefined;
    const ms = cpuMs(() => {
      denied = evaluatePolicy(fail, claims);
      issued = evaluatePolicy(ok, claims);
    });
    assert.equal(denied?.permitted, false);
    // First assignment in order: c0 = id 0, c1 = id 1 (differs from id 0), c2 = id 0, … c48 = id 0.
    assert.equal(issued?.issued.last, 'INTEL-SA-00000');
    assert.ok(ms < 2000, `took ${ms} ms of CPU`);
  });

  test('the evaluation budget stops a costly join with its own error instead of running on', () => {
    const p = parsePolicy(`version=1.0; authorizationrules {
  a:[type=="x-kube-sgx-advisory-ids"] && b:[type=="x-kube-sgx-advisory-ids"] && [type=="x-kube-sgx-advisory-ids", value!=a.value] && [type=="x-ms-sgx-svn", value==b.value] => permit(); };`);
    // Tiny budget to show the cap works; the default is POLICY_LIMITS.maxEvaluationSteps.
    assert.throws(() => evaluatePolicy(p, manyClaims(30), 10_000), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_LIMIT');
    assert.equal(evaluatePolicy(p, manyClaims(30)).permitted, false);
    // 60 claims of one type: about 220,000 comparisons, over the default cap.
    assert.throws(() => evaluatePolicy(p, manyClaims(60)), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_LIMIT' && /200000 claim comparisons/.test(e.message));
  });

  test('size limits are refused at parse time with line, column and a typed code', () => {
    const tooManyConds = `version=1.0;\nauthorizationrules {\n  ${Array.from({ length: 65 }, () => '[type=="a"]').join(' && ')} => permit();\n};`;
    let e = syntaxError(tooManyConds);
    assert.equal(e.code, 'POLICY_TOO_LARGE');
    assert.equal((e.details as { line: number }).line, 3);
    assert.equal((e.details as { limit: string }).limit, 'maxConditionsPerRule');
    const tooManyRules = `version=1.0;\nauthorizationrules {\n${Array.from({ length: 257 }, () => '  => permit();\n').join('')}};`;
    e = syntaxError(tooManyRules);
    assert.equal(e.code, 'POLICY_TOO_LARGE');
    assert.deepEqual([(e.details as { line: number }).line, (e.details as { limit: string }).limit], [259, 'maxRulesPerSection']);
    e = syntaxError(`version=1.0;\nauthorizationrules { => permit(); };\n${' '.repeat(70_000)}`);
    assert.equal(e.code, 'POLICY_TOO_LARGE');
    assert.match(e.message, /^line 3, column \d+: the policy is \d+ characters long/);
    e = syntaxError(`version=1.0; authorizationrules { [${Array.from({ length: 17 }, () => 'type=="a"').join(', ')}] => permit(); };`);
    assert.equal((e.details as { limit: string }).limit, 'maxTestsPerCondition');
    // Three named claims held at once while a fourth condition is matched.
    e = syntaxError(`version=1.0;\nauthorizationrules {\n  a:[type=="x"] && b:[type=="y"] && c:[type=="z"] &&\n  [type=="w", value==a.value] && [type=="v", value==b.value] && [type=="u", value==c.value] => permit();\n};`);
    assert.equal(e.code, 'POLICY_TOO_COMPLEX');
    assert.deepEqual(e.details, { line: 4, column: 3, limit: 'maxJoinWidth', max: 2 });
  });

  test('claims are read as own properties: issuing "toString" or "constructor" issues just that value', () => {
    const p = parsePolicy(`version=1.0; authorizationrules { => permit(); }; issuancerules { => issue(type="toString", value=1); => issue(type="constructor", value="x"); };`);
    const out = evaluatePolicy(p, enclave());
    assert.equal(Object.getOwnPropertyDescriptor(out.issued, 'toString')?.value, 1);
    assert.equal(Object.getOwnPropertyDescriptor(out.issued, 'constructor')?.value, 'x');
    const none = parsePolicy(`version=1.0; authorizationrules { [type=="toString"] => permit(); };`);
    assert.equal(evaluatePolicy(none, enclave()).permitted, false);
  });
});
