/**
 * The MAA policy engine behind the HTTP surface (in-process `app.request()`,
 * real Intel quote, real DCAP verifier): draft policies anyone with a
 * verifying quote may send cost bounded CPU, and oversized or unsupported
 * policies are refused at upload with their own code and line/column,
 * leaving the stored policy as it was.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { assembleAttestationService, type AssembledService } from '../../src/service/server.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { SimPlatform } from '../../src/sim/index.js';
import { policyHash } from '../../src/service/policy/index.js';
import { ADMIN_TOKEN, INTEL_SAMPLE_TIME, INTEL_SGX_QUOTE, MAA_DEFAULT_SGX_POLICY_1_1, PERMIT_CONFIG_NEEDED, b64u, intelCollateralDir, policyJws, tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-policy-http-');
let svc: AssembledService;
let simSvc: AssembledService;
let platform: SimPlatform;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}, on: AssembledService = svc) {
  const res = await on.app.request(path, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

const draft = (policy: string) => call('POST', '/attest/SgxEnclave?api-version=2022-08-01', JSON.stringify({ quote: b64u(INTEL_SGX_QUOTE), draftPolicyForAttestation: policy }));
const storedPolicyText = async () => {
  const r = await call('GET', '/policies/SgxEnclave?api-version=2022-08-01', undefined, admin);
  const claims = decodeJwt(r.json.token as string);
  const jws = claims['x-ms-policy'] as string;
  return Buffer.from((JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()) as { AttestationPolicy: string }).AttestationPolicy, 'base64url').toString();
};

/** CPU time (user + system, ms) spent while `fn` runs; generous bounds only, the machine may be loaded. */
async function cpuMs<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { ms: (c.user + c.system) / 1000, value };
}

before(async () => {
  const { verifier } = await createDcapVerifier({ simulation: false, collateralDir: intelCollateralDir(tmp.dir), now: () => INTEL_SAMPLE_TIME });
  svc = await assembleAttestationService({ verifier, adminToken: ADMIN_TOKEN, rateLimit: { rate: 0 } }, 'https://attest.test');
  platform = await SimPlatform.open(join(tmp.dir, 'platform'), { seed: 'policy-http' });
  simSvc = await assembleAttestationService({ simulation: true, platformDir: join(tmp.dir, 'platform'), dataDir: join(tmp.dir, 'sim-data'), adminToken: ADMIN_TOKEN, rateLimit: { rate: 0 } }, 'https://sim.test');
});
after(async () => {
  await svc.dispose();
  await simSvc.dispose();
  tmp.cleanup();
});

describe('policy engine over HTTP: bounded cost, refused at upload', () => {
  test('the issue\'s 6-condition draft (16 s before) and a 50-condition draft answer with bounded CPU', async () => {
    // Every condition matches every AttestationService claim; the last never matches: all combinations were tried.
    const six = `version=1.0; authorizationrules { => permit(); ${Array.from({ length: 5 }, () => '[issuer=="AttestationService"]').join(' && ')} && [type=="x-ms-sgx-svn", value==-1] => deny(); };`;
    const fifty = `version=1.0; authorizationrules { => permit(); c0:[issuer=="AttestationService"] && ${Array.from({ length: 48 }, (_, i) => `c${i + 1}:[issuer=="AttestationService", value!=c${i}.value]`).join(' && ')} && [type=="x-ms-sgx-svn", value<c48.value, value>c48.value] => deny(); };`;
    await draft(six); // warm-up: JIT and collateral
    for (const policy of [six, fifty]) {
      const { ms, value } = await cpuMs(() => draft(policy));
      assert.equal(value.status, 200, JSON.stringify(value.json));
      assert.ok(ms < 1500, `draft took ${ms} ms of CPU`);
    }
  });

  test('a draft over the size limits is refused with POLICY_TOO_LARGE and its line/column', async () => {
    const conds = Array.from({ length: 65 }, () => '[type=="a"]').join(' &&\n  ');
    const r = await draft(`version=1.0;\nauthorizationrules {\n  ${conds} => permit();\n};`);
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'POLICY_TOO_LARGE');
    assert.deepEqual(r.json.details, { line: 67, column: 3, limit: 'maxConditionsPerRule', max: 64 });
  });

  test('an upload over the limits is refused and the stored policy does not change', async () => {
    const set = await call('PUT', '/policies/SgxEnclave?api-version=2022-08-01', policyJws(PERMIT_CONFIG_NEEDED), { ...admin, 'content-type': 'text/plain' });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    const tooWide = `version=1.0;\nauthorizationrules {\n  a:[type=="x"] && b:[type=="y"] && c:[type=="z"] && [type=="w", value==a.value] && [type=="v", value==b.value] && [type=="u", value==c.value] => permit();\n};`;
    const r = await call('PUT', '/policies/SgxEnclave?api-version=2022-08-01', policyJws(tooWide), { ...admin, 'content-type': 'text/plain' });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'POLICY_TOO_COMPLEX');
    assert.match(String(r.json.detail), /^line 3, column 54: /);
    assert.equal(await storedPolicyText(), PERMIT_CONFIG_NEEDED);
  });
});

const put = (text: string, on: AssembledService = svc) => call('PUT', '/policies/SgxEnclave?api-version=2022-08-01', policyJws(text), { ...admin, 'content-type': 'text/plain' }, on);

describe('MAA policy 1.1 and 1.2 over HTTP', () => {
  test("MAA's default 1.1 SGX policy uploads as written, applies, and /status reports its property as not acted on", async () => {
    assert.equal((await put(MAA_DEFAULT_SGX_POLICY_1_1)).status, 200);
    assert.equal(await storedPolicyText(), MAA_DEFAULT_SGX_POLICY_1_1);
    // The real Intel sample is ConfigurationAndSWHardeningNeeded: kube-sgx's default refuses it, MAA's default permits everything.
    const r = await call('POST', '/attest/SgxEnclave?api-version=2022-08-01', JSON.stringify({ quote: b64u(INTEL_SGX_QUOTE) }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const claims = decodeJwt(r.json.token as string);
    assert.equal(claims['x-ms-policy-hash'], policyHash(MAA_DEFAULT_SGX_POLICY_1_1));
    assert.equal(claims['sgx-mrsigner'], claims['x-ms-sgx-mrsigner']);
    assert.equal(claims.tee, 'sgx');
    assert.equal(claims['x-ms-sgx-tcbidentifier'], undefined, 'a property is not a token claim');
    const status = await call('GET', '/status');
    const sgx = (status.json.policies as Record<string, { language: string; properties: Array<{ name: string; value: string; actedOn: boolean }> }>).SgxEnclave!;
    assert.equal(sgx.language, '1.1');
    assert.deepEqual(
      sgx.properties.map((p) => [p.name, p.value, p.actedOn]),
      [['x-ms-sgx-tcbidentifier', 'azuredefault', false]],
    );
  });

  test('an unknown property or function is refused at upload with its own code, never a 5xx, and nothing stored changes', async () => {
    assert.equal((await put(PERMIT_CONFIG_NEEDED)).status, 200);
    const cases: Array<[string, string, { line: number; column: number }]> = [
      ['version=1.1;\nconfigurationrules {\n  => issueproperty(type="x-ms-max-token-minutes", value=5);\n};\nauthorizationrules { => permit(); };', 'POLICY_UNKNOWN_PROPERTY', { line: 3, column: 20 }],
      ['version=1.2;\nauthorizationrules {\n  c:[type=="x-ms-runtime"] => add(type="k", value=Base64UrlDecode(c.value));\n  => permit();\n};', 'POLICY_UNKNOWN_FUNCTION', { line: 3, column: 51 }],
      ['version=1.2;\nauthorizationrules {\n  c:[type=="x-ms-runtime"] => add(type="k", value=JmesPath(c.value, "sort_by(keys, &kid)"));\n  => permit();\n};', 'POLICY_JMESPATH_UNSUPPORTED', { line: 3, column: 51 }],
    ];
    for (const [text, code, at] of cases) {
      const r = await put(text);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(r.json.code, code);
      assert.deepEqual([(r.json.details as { line: number }).line, (r.json.details as { column: number }).column], [at.line, at.column]);
    }
    assert.equal(await storedPolicyText(), PERMIT_CONFIG_NEEDED);
  });

  test('1.2 over JSON runtime data: JmesPath/JsonToClaimValue decide and issue, bound by SHA-256 into the quote', async () => {
    const policy = `version=1.2;
authorizationrules {
  [type=="x-ms-sgx-is-debuggable", value==true] => deny();
  c:[type=="x-ms-runtime", issuer=="AttestationService"] => add(type="role", value=JsonToClaimValue(JmesPath(c.value, "app.role")));
  [type=="role", value=="frontend", issuer=="AttestationPolicy"] => permit();
};
issuancerules {
  c:[type=="x-ms-runtime"] => issue(type="key-ids", value=JsonToClaimValue(JmesPath(c.value, "keys[*].kid")));
  ![type=="role", value=="admin"] => issue(type="admin", value=false);
};`;
    assert.equal((await put(policy, simSvc)).status, 200);
    const attestWith = async (runtimeJson: unknown) => {
      const data = Buffer.from(JSON.stringify(runtimeJson));
      const rd = Buffer.alloc(64);
      createHash('sha256').update(data).digest().copy(rd);
      const report = platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: rd, mrEnclave: Buffer.alloc(32, 1), mrSigner: Buffer.alloc(32, 2), isvProdId: 1, isvSvn: 1 });
      const quote = b64u(platform.getQuote(report).quote);
      return call('POST', '/attest/SgxEnclave?api-version=2022-08-01', JSON.stringify({ quote, runtimeData: { data: b64u(data), dataType: 'JSON' } }), {}, simSvc);
    };
    const ok = await attestWith({ app: { role: 'frontend' }, keys: [{ kid: 'k1' }, { kid: 'k2' }] });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const claims = decodeJwt(ok.json.token as string);
    assert.deepEqual(claims['key-ids'], ['k1', 'k2']);
    assert.equal(claims.admin, false);
    assert.equal(claims['x-ms-policy-hash'], policyHash(policy));
    const denied = await attestWith({ app: { role: 'batch' } });
    assert.equal(denied.status, 400);
    assert.equal(denied.json.code, 'ATTESTATION_DENIED');
    // A function applied to the wrong JSON is the policy's typed error, never a 5xx.
    const broken = await attestWith({ app: { role: { nested: true } } });
    assert.equal(broken.status, 400);
    assert.equal(broken.json.code, 'POLICY_EVALUATION_ERROR');
  });
});
