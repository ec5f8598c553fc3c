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
import { ADMIN_TOKEN, INTEL_SAMPLE_TIME, INTEL_SGX_QUOTE, PERMIT_CONFIG_NEEDED, b64u, intelCollateralDir, policyJws, tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-policy-http-');
let svc: AssembledService;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await svc.app.request(path, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body !== undefined ? { body } : {}) });
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
});
after(async () => {
  await svc.dispose();
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
