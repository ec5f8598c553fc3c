import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { KubeSgxError } from '../../src/errors.js';
import { MAA_DEFAULT_SGX_POLICY_1_1 } from './helpers.js';
import { DEFAULT_SGX_POLICY, POLICY_PROPERTIES, declaredProperties, evaluatePolicy, parsePolicy, policyHash, type Claim } from '../../src/service/policy/index.js';

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

const runtime = (json: unknown): Claim => ({ type: 'x-ms-runtime', value: JSON.stringify(json), valueType: 'String', issuer: 'AttestationService' });

function refused(text: string): KubeSgxError {
  return syntaxError(text);
}

describe('MAA policy 1.1', () => {
  test("MAA's default SGX policy parses and evaluates as written; its property is recorded, not acted on", () => {
    const p = parsePolicy(MAA_DEFAULT_SGX_POLICY_1_1);
    assert.equal(p.version, '1.1');
    const out = evaluatePolicy(p, enclave({ 'x-ms-sgx-is-debuggable': true, 'x-kube-sgx-tcb-status': 'OutOfDate' }));
    // permit() for everything, as MAA's default does: no TCB or debug check of kube-sgx's is added.
    assert.equal(out.permitted, true);
    assert.deepEqual(out.issued, { 'is-debuggable': true, 'sgx-mrsigner': 'aa'.repeat(32), 'sgx-mrenclave': 'bb'.repeat(32), 'product-id': 1, svn: 3, tee: 'sgx' });
    assert.deepEqual(out.properties, { 'x-ms-sgx-tcbidentifier': 'azuredefault' });
    assert.deepEqual(declaredProperties(p), [{ name: 'x-ms-sgx-tcbidentifier', value: 'azuredefault', line: 3, actedOn: false, note: POLICY_PROPERTIES['x-ms-sgx-tcbidentifier']!.note }]);
  });

  test('the TPM sample properties are accepted; a property never changes the verdict', () => {
    const text = `version=1.1;
configurationrules{
=> issueproperty(type = "required_pcr_mask", value = 15);
=> issueproperty(type = "require_valid_aik_cert", value = false);
};
authorizationrules { [type=="x-kube-sgx-tcb-status", value=="UpToDate"] => permit(); };
issuancerules { [type=="x-ms-sgx-svn", value>=3] => issueproperty(type="report_validity_in_minutes", value=60); };`;
    const p = parsePolicy(text);
    const ok = evaluatePolicy(p, enclave());
    assert.equal(ok.permitted, true);
    assert.deepEqual(ok.properties, { required_pcr_mask: 15, require_valid_aik_cert: false, report_validity_in_minutes: 60 });
    assert.deepEqual(ok.issued, {});
    assert.equal(evaluatePolicy(p, enclave({ 'x-kube-sgx-tcb-status': 'OutOfDate' })).permitted, false);
  });

  test('an unknown property is refused at upload with its own code and line/column', () => {
    const e = refused('version=1.1;\nconfigurationrules {\n  => issueproperty(type="x-ms-sgx-tcb-identifier", value="10");\n};\nauthorizationrules { => permit(); };');
    assert.equal(e.code, 'POLICY_UNKNOWN_PROPERTY');
    assert.deepEqual(e.details, { line: 3, column: 20, property: 'x-ms-sgx-tcb-identifier' });
    assert.match(e.message, /^line 3, column 20: unknown property "x-ms-sgx-tcb-identifier" \(x-ms-sgx-tcbidentifier, /);
  });

  const bad11: Array<[string, string, string, RegExp]> = [
    ['property of the wrong type', 'version=1.1; configurationrules { => issueproperty(type="required_pcr_mask", value="15"); }; authorizationrules { => permit(); };', 'POLICY_SYNTAX', /takes an Integer value/],
    ['permit() in configurationrules', 'version=1.1; configurationrules { => permit(); }; authorizationrules { => permit(); };', 'POLICY_SYNTAX', /only take issueproperty/],
    ['issueproperty in authorizationrules', 'version=1.1; authorizationrules { => issueproperty(type="omit_x5c", value=true); };', 'POLICY_SYNTAX', /configurationrules and issuancerules/],
    ['function in 1.1', 'version=1.1; authorizationrules { [type=="a", value==AppendString("a", "b")] => permit(); };', 'POLICY_UNSUPPORTED', /belongs to policy 1.2/],
    ['negation in 1.1', 'version=1.1; authorizationrules { ![type=="a"] => permit(); };', 'POLICY_UNSUPPORTED', /belongs to policy 1.2/],
  ];
  for (const [name, text, code, msg] of bad11) {
    test(`refused: ${name}`, () => {
      const e = refused(text);
      assert.equal(e.code, code);
      assert.match(e.message, msg);
    });
  }
});

describe('MAA policy 1.2', () => {
  test('![…] holds when no claim matches; add() claims are seen by later rules only', () => {
    const p = parsePolicy(`version=1.2;
authorizationrules {
  ![type=="x-ms-sgx-is-debuggable", value==true] => add(type="not-debug", value=true);
  [type=="not-debug", issuer=="AttestationPolicy"] => permit();
};
issuancerules {
  ![type=="claim3"] => issue(type="claim3", value=300);
  ![type=="claim3"] => issue(type="claim3-again", value=1);
};`);
    const out = evaluatePolicy(p, enclave());
    assert.equal(out.permitted, true);
    assert.deepEqual(out.issued, { claim3: 300 });
    assert.equal(evaluatePolicy(p, enclave({ 'x-ms-sgx-is-debuggable': true })).permitted, false);
  });

  test("Azure's function examples: JmesPath yields JSON text, JsonToClaimValue converts it, AppendString, NegateBool, IsSubsetOf", () => {
    const p = parsePolicy(`version=1.2;
authorizationrules { => permit(); };
issuancerules {
  => add(type="JmesPathResult", value=JmesPath("{\\"foo\\": \\"bar\\"}", "foo"));
  c:[type=="JmesPathResult"] => issue(type="json-text", value=c.value);
  c:[type=="JmesPathResult"] => issue(type="foo", value=JsonToClaimValue(c.value));
  c1:[type=="x-ms-sgx-mrsigner"] && c2:[type=="x-ms-attestation-type"] => issue(type="joined", value=AppendString(c2.value, AppendString(":", c1.value)));
  c:[type=="x-ms-sgx-is-debuggable"] => issue(type="not-debuggable", value=NegateBool(c.value));
  => add(type="Subset", value="abc");
  => add(type="Subset", value=100);
  => add(type="Superset", value=JsonToClaimValue("[true, \\"abc\\", 100]"));
  c1:[type=="Subset"] && c2:[type=="Superset"] => issue(type="IsSubset", value=IsSubsetOf(c1.value, c2.value));
  c1:[type=="Superset"] && c2:[type=="Subset"] => issue(type="IsSuperSubset", value=IsSubsetOf(c1.value, c2.value));
};`);
    const out = evaluatePolicy(p, enclave());
    assert.deepEqual(out.issued, {
      'json-text': '"bar"',
      foo: 'bar',
      joined: `sgx:${'aa'.repeat(32)}`,
      'not-debuggable': true,
      IsSubset: true,
      IsSuperSubset: false,
    });
  });

  test('ContainsOnlyValue sees every claim the condition matches, not just the first (a false among trues is found)', () => {
    const p = parsePolicy(`version=1.2;
authorizationrules {
  c:[type=="x-ms-runtime", issuer=="AttestationService"] => add(type="flagSet", value=JsonToClaimValue(JmesPath(c.value, "flags[*].on")));
  c:[type=="flagSet", issuer=="AttestationPolicy"] => add(type="allOn", value=ContainsOnlyValue(c.value, true));
  [type=="allOn", value==true] => permit();
};`);
    assert.equal(evaluatePolicy(p, [...enclave(), runtime({ flags: [{ on: true }, { on: true }] })]).permitted, true);
    assert.equal(evaluatePolicy(p, [...enclave(), runtime({ flags: [{ on: true }, { on: false }, { on: true }] })]).permitted, false);
    // Empty set: ContainsOnlyValue is false.
    assert.equal(evaluatePolicy(p, [...enclave(), runtime({ flags: [] })]).permitted, false);
  });

  test('JSON runtime data drives a decision through JmesPath in a condition; null adds nothing', () => {
    const p = parsePolicy(`version=1.2;
authorizationrules {
  c:[type=="x-ms-runtime"] && [type=="x-ms-sgx-product-id", value==JsonToClaimValue(JmesPath(c.value, "app.product"))] => permit();
};
issuancerules {
  c:[type=="x-ms-runtime"] => issue(type="kid", value=JsonToClaimValue(JmesPath(c.value, "keys[0].kid")));
  c:[type=="x-ms-runtime"] => issue(type="absent", value=JsonToClaimValue(JmesPath(c.value, "nope")));
};`);
    const out = evaluatePolicy(p, [...enclave(), runtime({ app: { product: 1 }, keys: [{ kid: 'k1' }] })]);
    assert.equal(out.permitted, true);
    assert.deepEqual(out.issued, { kid: 'k1' });
    assert.equal(evaluatePolicy(p, [...enclave(), runtime({ app: { product: 2 } })]).permitted, false);
  });

  test('a function error stops the evaluation (fail closed: a deny() guarded by it is never silently skipped)', () => {
    const p = parsePolicy(`version=1.2;
authorizationrules {
  => permit();
  c:[type=="x-ms-runtime"] && [type=="x-ms-sgx-svn", value==JsonToClaimValue(JmesPath(c.value, "minSvn"))] => deny();
};`);
    assert.equal(evaluatePolicy(p, [...enclave(), runtime({ minSvn: 3 })]).permitted, false);
    assert.equal(evaluatePolicy(p, [...enclave(), runtime({ minSvn: 4 })]).permitted, true);
    assert.throws(
      () => evaluatePolicy(p, [...enclave(), runtime({ minSvn: { nested: 3 } })]),
      (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_ERROR' && /line 4, column \d+: JsonToClaimValue: JSON objects/.test(e.message),
    );
  });

  test('sizes stay bounded: sets, built strings and added claims have caps', () => {
    const p = parsePolicy(`version=1.2; authorizationrules { c:[type=="x-ms-runtime"] => add(type="xs", value=JsonToClaimValue(JmesPath(c.value, "xs"))); => permit(); };`);
    assert.throws(() => evaluatePolicy(p, [...enclave(), runtime({ xs: Array.from({ length: 5000 }, (_, i) => i) })]), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_LIMIT');
    // Each rule doubles the string: 2^21 characters by the 21st rule.
    const doubling = Array.from({ length: 22 }, (_, i) => `c:[type=="s${i}"] => add(type="s${i + 1}", value=AppendString(c.value, c.value));`).join('\n');
    const q = parsePolicy(`version=1.2; authorizationrules { => add(type="s0", value="x"); ${doubling} => permit(); };`);
    assert.throws(() => evaluatePolicy(q, enclave()), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_LIMIT' && /maxStringLength|exceeds/.test(e.message));
  });

  test('work proportional to JSON size is charged: copying a large runtime document rule after rule is stopped', () => {
    const rules = Array.from({ length: 200 }, (_, i) => `c:[type=="x-ms-runtime"] => add(type="copy${i}", value=JmesPath(c.value, "@"));`).join('\n');
    const p = parsePolicy(`version=1.2; authorizationrules { => permit(); ${rules} };`);
    const big = runtime({ items: Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item-${i}` })) });
    const c0 = process.cpuUsage();
    assert.throws(() => evaluatePolicy(p, [...enclave(), big]), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_LIMIT');
    const c = process.cpuUsage(c0);
    assert.ok((c.user + c.system) / 1000 < 3000, `${(c.user + c.system) / 1000} ms of CPU`);
  });

  test('a JMESPath query built at evaluation time is bounded like policy text', () => {
    const dbl = Array.from({ length: 17 }, (_, i) => `c:[type=="q${i}"] => add(type="q${i + 1}", value=AppendString(c.value, c.value));`).join('\n');
    const p = parsePolicy(`version=1.2; authorizationrules { => permit(); => add(type="q0", value="a."); ${dbl}
q:[type=="q16"] && r:[type=="x-ms-runtime"] => add(type="out", value=JmesPath(r.value, AppendString(q.value, "b")));
};`);
    assert.throws(() => evaluatePolicy(p, [...enclave(), runtime({ a: 1 })]), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_LIMIT' && /JMESPath query of 131073 characters/.test(e.message));
  });

  test('JSON a policy builds cannot nest deep enough to overflow the stack', () => {
    const dbl = (name: string) => Array.from({ length: 14 }, (_, i) => `c:[type=="${name}${i}"] => add(type="${name}${i + 1}", value=AppendString(c.value, c.value));`).join('\n');
    const p = parsePolicy(`version=1.2; authorizationrules { => permit(); => add(type="o0", value="["); => add(type="c0", value="]");
${dbl('o')}
${dbl('c')}
o:[type=="o14"] && c:[type=="c14"] => add(type="deep", value=AppendString(o.value, c.value));
d:[type=="deep"] => add(type="r", value=JmesPath(d.value, "@"));
};`);
    assert.throws(() => evaluatePolicy(p, enclave()), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_LIMIT' && /too deep/.test(e.message));
  });

  const bad12: Array<[string, string, string, number, number]> = [
    ['unknown function', 'version=1.2;\nauthorizationrules {\n  [type=="a", value==Base64Decode("x")] => permit();\n};', 'POLICY_UNKNOWN_FUNCTION', 3, 22],
    ['wrong arity', 'version=1.2;\nauthorizationrules {\n  => add(type="a", value=AppendString("x"));\n};', 'POLICY_SYNTAX', 3, 26],
    ['unsupported JMESPath', 'version=1.2;\nauthorizationrules {\n  c:[type=="e"] => add(type="a", value=JmesPath(c.value, "sort_by(@, &x)"));\n};', 'POLICY_JMESPATH_UNSUPPORTED', 3, 40],
    ['malformed JMESPath', 'version=1.2;\nauthorizationrules {\n  c:[type=="e"] => add(type="a", value=JmesPath(c.value, "a[?"));\n};', 'POLICY_JMESPATH_SYNTAX', 3, 40],
    ['invalid JSON literal', 'version=1.2;\nauthorizationrules {\n  => add(type="a", value=JmesPath("{", "a"));\n};', 'POLICY_SYNTAX', 3, 26],
    ['named negation', 'version=1.2;\nauthorizationrules {\n  !c:[type=="a"] => permit();\n};', 'POLICY_SYNTAX', 3, 4],
    ['nesting too deep', `version=1.2;\nauthorizationrules {\n  => add(type="a", value=${'NegateBool('.repeat(9)}true${')'.repeat(9)});\n};`, 'POLICY_TOO_LARGE', 3, 114],
  ];
  for (const [name, text, code, line, column] of bad12) {
    test(`refused at upload with line/column: ${name}`, () => {
      const e = refused(text);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, new RegExp(`^line ${line}, column ${column}: `));
    });
  }

  test("Azure's documented function-rule shapes parse (comments, nested calls, filters, && in queries)", () => {
    const p = parsePolicy(`version=1.2;
authorizationrules { => permit(); };
issuancerules {
// SecureBoot enabled
c:[type == "events", issuer=="AttestationService"] => add(type = "efiConfigVariables", value = JmesPath(c.value, "Events[?EventTypeString == 'EV_EFI_VARIABLE_DRIVER_CONFIG' && ProcessedData.VariableGuid == '8BE4DF61-93CA-11D2-AA0D-00E098032B8C']"));
c:[type=="efiConfigVariables", issuer=="AttestationPolicy"]=> issue(type = "secureBootEnabled", value = JsonToClaimValue(JmesPath(c.value, "[?ProcessedData.UnicodeName == 'SecureBoot'] | length(@) == \`1\` && @[0].ProcessedData.VariableData == 'AQ'")));
![type=="secureBootEnabled", issuer=="AttestationPolicy"] => issue(type="secureBootEnabled", value=false);
c:[type=="evSeparatorSeq", value != "null", issuer=="AttestationPolicy"] => add(type="beforeEvSepClause", value=AppendString(AppendString("Events[? EventSeq < \`", c.value), "\`"));
};`);
    const events = { Events: [{ EventTypeString: 'EV_EFI_VARIABLE_DRIVER_CONFIG', ProcessedData: { VariableGuid: '8BE4DF61-93CA-11D2-AA0D-00E098032B8C', UnicodeName: 'SecureBoot', VariableData: 'AQ' } }] };
    const withEvents = evaluatePolicy(p, [{ type: 'events', value: JSON.stringify(events), valueType: 'String', issuer: 'AttestationService' }]);
    assert.deepEqual(withEvents.issued, { secureBootEnabled: true });
    assert.deepEqual(evaluatePolicy(p, []).issued, { secureBootEnabled: false });
  });
});
