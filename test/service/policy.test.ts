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
    ['version 1.2', 'version=1.2;\nauthorizationrules { => permit(); };', 1, /version 1.2 is not supported/],
    ['configurationrules', 'version=1.0;\nconfigurationrules { };', 2, /configurationrules/],
    ['|| operator', 'version=1.0;\nauthorizationrules {\n  [type=="a"] || [type=="b"] => permit();\n};', 3, /"\|\|"/],
    ['negated condition', 'version=1.0;\nauthorizationrules {\n  ![type=="a"] => permit();\n};', 3, /policy 1.2/],
    ['function call', 'version=1.0;\nauthorizationrules {\n  [type=="a", value==JmesPath(x)] => permit();\n};', 3, /function "JmesPath"/],
    ['issueproperty', 'version=1.0;\nauthorizationrules { => permit(); };\nissuancerules {\n  => issueproperty(type="omit_x5c", value=true);\n};', 4, /issueproperty/],
    ['comments', 'version=1.0;\n// hi\nauthorizationrules { => permit(); };', 2, /comments/],
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
