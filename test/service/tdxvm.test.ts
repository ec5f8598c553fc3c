/**
 * MAA's /attest/TdxVm over real HTTP on 127.0.0.1: the real Intel TDX quote
 * (phala sample, its collateral, a verification time inside its window)
 * through the production verifier, and simulated TD quotes (v4 and v5)
 * through the simulation verifier — claims as MAA's TDX profile names them,
 * runtime/init-time data binding, the default and custom TdxVm policies,
 * secret release for a TD, and bad input (each refused with its own code,
 * never a 5xx; the service keeps serving).
 *
 * @azure/attestation 1.0.0 (its only release) has no TdxVm call
 * (attestSgxEnclave, attestOpenEnclave, attestTpm only): its signer listing
 * is used, and tokens are verified with jose against the service's JWKS.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { AttestationClient } from '@azure/attestation';
import { SimPlatform } from '../../src/sim/index.js';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { httpCall, requestSecret } from '../../src/service/client.js';
import { policyHash, DEFAULT_TDX_POLICY } from '../../src/service/policy/index.js';
import { ADMIN_TOKEN, INTEL_SAMPLE_TIME, INTEL_SGX_QUOTE, INTEL_TDX_QUOTE, b64u, policyJws, tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-tdxvm-');
const VECTORS = join(import.meta.dirname, '..', 'vectors', 'dcap', 'phala-dcap-qvl', 'sample');
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const MRTD = Buffer.alloc(48, 0x7d);
const RTMR2 = Buffer.alloc(48, 0x22);

let platform: SimPlatform;
let outOfDate: SimPlatform;
let sim: RunningAttestationService;
let simOutOfDate: RunningAttestationService;
let intel: RunningAttestationService;

async function json(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await httpCall(method, url, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), { headers });
  return { status: r.status, body: JSON.parse(r.body || 'null') as Record<string, unknown> };
}

const attestTd = (svc: RunningAttestationService, body: unknown, version = '2025-06-01') => json('POST', `${svc.url}/attest/TdxVm?api-version=${version}`, body);

function maaReportData(runtime: Uint8Array): Buffer {
  const rd = Buffer.alloc(64);
  createHash('sha256').update(runtime).digest().copy(rd);
  return rd;
}

function tdQuote(p: SimPlatform, reportData: Uint8Array, opts: { debug?: boolean; quoteVersion?: 4 | 5; mrConfigId?: Buffer } = {}): Buffer {
  return p.getTdQuote(p.tdReport({ reportData, mrTd: MRTD, rtmr: [undefined, undefined, RTMR2], ...opts }));
}

async function verifiedClaims(svc: RunningAttestationService, token: string) {
  const jwks = (await json('GET', `${svc.url}/certs`)).body as unknown as JSONWebKeySet;
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: svc.issuer });
  return payload as Record<string, unknown>;
}

before(async () => {
  platform = await SimPlatform.open(join(tmp.dir, 'platform'), { seed: 'tdxvm-tests' });
  outOfDate = await SimPlatform.open(join(tmp.dir, 'platform-ood'), { seed: 'tdxvm-tests-ood', scenario: 'out-of-date' });
  sim = await startAttestationService({ listen: '127.0.0.1:0', simulation: true, platformDir: join(tmp.dir, 'platform'), adminToken: ADMIN_TOKEN, rateLimit: { rate: 0 } });
  simOutOfDate = await startAttestationService({ listen: '127.0.0.1:0', simulation: true, platformDir: join(tmp.dir, 'platform-ood'), rateLimit: { rate: 0 } });
  // Production trust (Intel's root only): SGX and TDX sample collateral, verified at a time inside both windows.
  const dir = join(tmp.dir, 'collateral');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(VECTORS, 'sgx_quote_collateral.json'), join(dir, 'collateral.json'));
  copyFileSync(join(VECTORS, 'tdx_quote_collateral.json'), join(dir, 'tdx-B0C06F000000-platform.json'));
  const { verifier } = await createDcapVerifier({ simulation: false, collateralDir: dir, now: () => INTEL_SAMPLE_TIME });
  intel = await startAttestationService({ listen: '127.0.0.1:0', verifier, rateLimit: { rate: 0 } });
});
after(async () => {
  await Promise.all([sim.close(), simOutOfDate.close(), intel.close()]);
  tmp.cleanup();
});

describe('/attest/TdxVm with the real Intel TDX quote (production trust)', () => {
  test('UpToDate TD: MAA TDX claims read from the quote, signed token verifiable with /certs', async () => {
    const r = await attestTd(intel, { quote: b64u(INTEL_TDX_QUOTE), nonce: 'n-1' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const c = await verifiedClaims(intel, r.body.token as string);
    const q = Buffer.from(INTEL_TDX_QUOTE);
    // TD report 1.0 body at offset 48 (Intel's TDX DCAP Quoting Library API, A.3.2).
    const body = q.subarray(48, 48 + 584);
    const hex = (o: number, n: number) => body.subarray(o, o + n).toString('hex');
    assert.equal(c['x-ms-attestation-type'], 'tdxvm');
    assert.equal(c['x-ms-ver'], '1.0');
    assert.equal(c.eat_profile, 'https://aka.ms/maa-eat-profile-tdxvm');
    assert.equal(c.intuse, 'generic');
    assert.equal(c.dbgstat, 'disabled');
    assert.equal(c.attester_tcb_status, 'UpToDate');
    assert.equal(c['x-kube-sgx-simulated'], false);
    assert.equal(c.tdx_tee_tcb_svn, hex(0, 16));
    assert.equal(c.tdx_mrseam, hex(16, 48));
    assert.equal(c.tdx_mrsignerseam, hex(64, 48));
    assert.equal(c.tdx_seam_attributes, hex(112, 8));
    assert.equal(c.tdx_td_attributes, hex(120, 8));
    assert.equal(c.tdx_xfam, hex(128, 8));
    assert.equal(c.tdx_mrtd, hex(136, 48));
    assert.equal(c.tdx_mrconfigid, hex(184, 48));
    assert.equal(c.tdx_mrowner, hex(232, 48));
    assert.equal(c.tdx_mrownerconfig, hex(280, 48));
    for (let i = 0; i < 4; i++) assert.equal(c[`tdx_rtmr${i}`], hex(328 + 48 * i, 48));
    assert.equal(c.tdx_report_data, hex(520, 64));
    // TEE_TCB_SVN 06 01 … → module SVN 0x0106.
    assert.equal(c.tdx_tee_tcb_svn, '06010300000000000000000000000000');
    assert.equal(c.tdx_seamsvn, 0x0106);
    const attrs = body.readBigUInt64LE(120);
    assert.equal(c.tdx_td_attributes_debug, (attrs & 1n) !== 0n);
    assert.equal(c.tdx_td_attributes_septve_disable, (attrs & (1n << 28n)) !== 0n);
    assert.equal(c.tdx_td_attributes_protection_keys, (attrs & (1n << 30n)) !== 0n);
    assert.equal(c.tdx_td_attributes_key_locker, (attrs & (1n << 31n)) !== 0n);
    assert.equal(c.tdx_td_attributes_perfmon, (attrs & (1n << 63n)) !== 0n);
    assert.equal(c['x-ms-policy-hash'], policyHash(DEFAULT_TDX_POLICY));
    assert.equal(c.nonce, 'n-1');
    for (const v of Object.values(c)) if (typeof v === 'string' && /^[0-9a-fA-F]{16,}$/.test(v)) assert.equal(v, v.toLowerCase());
    // The unmodified MAA client lists the key that signed the TdxVm token.
    const signers = await new AttestationClient(intel.url, { allowInsecureConnection: true }).getAttestationSigners();
    assert.ok(signers.some((s) => intel.kids.includes(s.keyId!)));
  });

  test('runtime data that is not what the quote binds: RUNTIME_DATA_MISMATCH; flipped bytes: the verifier\'s own code', async () => {
    const r = await attestTd(intel, { quote: b64u(INTEL_TDX_QUOTE), runtimeData: { data: b64u('not bound'), dataType: 'Binary' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'RUNTIME_DATA_MISMATCH');
    const codes = new Set<string>();
    // A byte of MRTD (signed body), of the quote signature, and of the QE report.
    for (const at of [48 + 140, 640, 700 + 64 + 10]) {
      const bad = Buffer.from(INTEL_TDX_QUOTE);
      bad[at] ^= 0x01;
      const f = await attestTd(intel, { quote: b64u(bad) });
      assert.equal(f.status, 400, `flip at ${at}: ${JSON.stringify(f.body)}`);
      assert.notEqual(f.body.code, 'INTERNAL');
      codes.add(f.body.code as string);
    }
    assert.ok(!codes.has('RUNTIME_DATA_MISMATCH') && !codes.has('UNSUPPORTED_QUOTE_TYPE'), [...codes].join());
  });

  test('SGX quote to TdxVm and TD quote to SgxEnclave: UNSUPPORTED_QUOTE_TYPE naming both TEEs', async () => {
    const a = await attestTd(intel, { quote: b64u(INTEL_SGX_QUOTE) });
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'UNSUPPORTED_QUOTE_TYPE');
    assert.deepEqual(a.body.details, { expectedTee: 'TDX', quoteTee: 'SGX' });
    const b = await json('POST', `${intel.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(INTEL_TDX_QUOTE) });
    assert.equal(b.status, 400);
    assert.equal(b.body.code, 'UNSUPPORTED_QUOTE_TYPE');
    // and the service still serves
    assert.equal((await attestTd(intel, { quote: b64u(INTEL_TDX_QUOTE) })).status, 200);
  });

  test('api-version: 2023-04-01-preview and 2025-06-01 serve TdxVm; older ones do not; simulated TD quotes are refused', async () => {
    assert.equal((await attestTd(intel, { quote: b64u(INTEL_TDX_QUOTE) }, '2023-04-01-preview')).status, 200);
    const old = await attestTd(intel, { quote: b64u(INTEL_TDX_QUOTE) }, '2022-08-01');
    assert.equal(old.status, 400);
    assert.equal(old.body.code, 'UNSUPPORTED_API_VERSION');
    const s = await attestTd(intel, { quote: b64u(tdQuote(platform, Buffer.alloc(64))) });
    assert.equal(s.status, 400);
    assert.equal(s.body.code, 'SIMULATED_QUOTE_REFUSED');
  });
});

describe('/attest/TdxVm with simulated TD quotes (--simulation)', () => {
  test('v4 and v5 TD quotes: runtime data bound into REPORTDATA, JSON runtime data in x-ms-runtime', async () => {
    const runtime = Buffer.from('{"keys":[{"kid":"td-key","kty":"RSA"}]}');
    for (const quoteVersion of [4, 5] as const) {
      const r = await attestTd(sim, { quote: b64u(tdQuote(platform, maaReportData(runtime), { quoteVersion })), runtimeData: { data: b64u(runtime), dataType: 'JSON' }, nonce: 'abc' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const c = await verifiedClaims(sim, r.body.token as string);
      assert.equal(c.tdx_mrtd, MRTD.toString('hex'));
      assert.equal(c.tdx_rtmr2, RTMR2.toString('hex'));
      assert.equal(c.tdx_report_data, maaReportData(runtime).toString('hex'));
      assert.deepEqual(c['x-ms-runtime'], { keys: [{ kid: 'td-key', kty: 'RSA' }] });
      assert.equal(c['x-kube-sgx-simulated'], true);
      assert.equal(c.attester_tcb_status, 'UpToDate');
      assert.equal(c.tdx_td_attributes_debug, false);
    }
    const wrong = await attestTd(sim, { quote: b64u(tdQuote(platform, maaReportData(runtime))), runtimeData: { data: b64u('{"keys":[]}'), dataType: 'JSON' } });
    assert.equal(wrong.body.code, 'RUNTIME_DATA_MISMATCH');
  });

  test('initTimeData bound to MRCONFIGID (SHA-256 in its first 32 bytes, or SHA-384 as all 48)', async () => {
    const init = Buffer.from('{"policy":"strict"}');
    const s256 = Buffer.alloc(48);
    createHash('sha256').update(init).digest().copy(s256);
    const s384 = createHash('sha384').update(init).digest();
    for (const mrConfigId of [s256, s384]) {
      const r = await attestTd(sim, { quote: b64u(tdQuote(platform, Buffer.alloc(64), { mrConfigId })), initTimeData: { data: b64u(init), dataType: 'JSON' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const c = decodeJwt(r.body.token as string);
      assert.equal(c.tdx_mrconfigid, mrConfigId.toString('hex'));
      assert.deepEqual(c['x-ms-inittime'], { policy: 'strict' });
    }
    const r = await attestTd(sim, { quote: b64u(tdQuote(platform, Buffer.alloc(64))), initTimeData: { data: b64u(init), dataType: 'Binary' } });
    assert.equal(r.body.code, 'INIT_DATA_MISMATCH');
  });

  test('default policy: a debug TD and a TD below SWHardeningNeeded are denied', async () => {
    const debug = await attestTd(sim, { quote: b64u(tdQuote(platform, Buffer.alloc(64), { debug: true })) });
    assert.equal(debug.status, 400);
    assert.equal(debug.body.code, 'ATTESTATION_DENIED');
    assert.equal((debug.body.details as Record<string, unknown>).debug, true);
    const ood = await attestTd(simOutOfDate, { quote: b64u(tdQuote(outOfDate, Buffer.alloc(64))) });
    assert.equal(ood.status, 400, JSON.stringify(ood.body));
    assert.equal(ood.body.code, 'ATTESTATION_DENIED');
    assert.equal((ood.body.details as Record<string, unknown>).tcbStatus, 'OutOfDate');
  });

  test('a TdxVm policy over TD claims: set, applied (deny by MRTD, issue claims), reset', async () => {
    const text = `version=1.0;
authorizationrules {
  [type=="tdx_td_attributes_debug", value==true] => deny();
  c:[type=="tdx_mrtd", value=="${MRTD.toString('hex')}"] => permit();
};
issuancerules {
  c:[type=="tdx_rtmr2"] => issue(type="workload-rtmr", value=c.value);
  c:[type=="tdx_seamsvn"] => issue(type="module-svn", value=c.value);
};`;
    const put = await json('PUT', `${sim.url}/policies/TdxVm?api-version=2025-06-01`, policyJws(text), { ...admin, 'content-type': 'text/plain' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    try {
      const ok = await attestTd(sim, { quote: b64u(tdQuote(platform, Buffer.alloc(64))) });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const c = decodeJwt(ok.body.token as string);
      assert.equal(c['workload-rtmr'], RTMR2.toString('hex'));
      assert.equal(typeof c['module-svn'], 'number');
      assert.equal(c['x-ms-policy-hash'], policyHash(text));
      const otherTd = platform.getTdQuote(platform.tdReport({ reportData: Buffer.alloc(64), mrTd: Buffer.alloc(48, 0x11) }));
      assert.equal((await attestTd(sim, { quote: b64u(otherTd) })).body.code, 'ATTESTATION_DENIED');
      // The SgxEnclave policy is untouched.
      const sgx = await json('GET', `${sim.url}/policies/SgxEnclave?api-version=2025-06-01`, undefined, admin);
      assert.notEqual(decodeJwt(sgx.body.token as string)['x-kube-sgx-policy-hash'], policyHash(text));
    } finally {
      const reset = await json('POST', `${sim.url}/policies/TdxVm:reset?api-version=2025-06-01`, policyJws(undefined), { ...admin, 'content-type': 'text/plain' });
      assert.equal(reset.status, 200, JSON.stringify(reset.body));
    }
    const after = await attestTd(sim, { quote: b64u(tdQuote(platform, Buffer.alloc(64))) });
    assert.equal(decodeJwt(after.body.token as string)['x-ms-policy-hash'], policyHash(DEFAULT_TDX_POLICY));
  });

  test('secret release for a TD (KBS flow with tee "tdx"), by MRTD; another TD is refused', async () => {
    const releasePolicy = { version: '1.0.0', anyOf: [{ authority: sim.issuer, allOf: [{ claim: 'tdx_mrtd', equals: MRTD.toString('hex') }, { claim: 'x-ms-attestation-type', equals: 'tdxvm' }] }] };
    assert.equal((await json('PUT', `${sim.url}/admin/secrets/td/app/key`, { valueText: 'secret-of-the-td', releasePolicy }, admin)).status, 201);
    const got = await requestSecret({ url: sim.url, name: 'td/app/key', tee: 'tdx', getQuote: async (rd) => tdQuote(platform, rd) });
    assert.equal(Buffer.from(got.value).toString(), 'secret-of-the-td');
    assert.equal(decodeJwt(got.token).tdx_mrtd, MRTD.toString('hex'));
    const other = await requestSecret({ url: sim.url, name: 'td/app/key', tee: 'tdx', getQuote: async (rd) => platform.getTdQuote(platform.tdReport({ reportData: rd, mrTd: Buffer.alloc(48, 0x11) })) }).catch((e: unknown) => e);
    assert.equal((other as { code?: string }).code, 'SECRET_RELEASE_DENIED');
  });

  test('draftPolicyForAttestation over TD claims: an unsigned token (alg none); JSON runtime data that is not JSON: INVALID_REQUEST', async () => {
    const draft = `version=1.0;
authorizationrules { c:[type=="tdx_mrtd", value=="${MRTD.toString('hex')}"] => permit(); };
issuancerules { c:[type=="tdx_mrtd"] => issue(type="draft-mrtd", value=c.value); };`;
    const r = await attestTd(sim, { quote: b64u(tdQuote(platform, Buffer.alloc(64), { debug: true })), draftPolicyForAttestation: draft });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const token = r.body.token as string;
    assert.ok(token.endsWith('.'), 'unsigned');
    const c = decodeJwt(token);
    assert.equal(c['draft-mrtd'], MRTD.toString('hex'));
    assert.equal(c.dbgstat, 'enabled');
    const notJson = Buffer.from('{"keys": [');
    const bad = await attestTd(sim, { quote: b64u(tdQuote(platform, maaReportData(notJson))), runtimeData: { data: b64u(notJson), dataType: 'JSON' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'INVALID_REQUEST');
    const discovery = await json('GET', `${sim.url}/.well-known/openid-configuration`);
    for (const claim of ['tdx_mrtd', 'tdx_seamsvn', 'attester_tcb_status', 'eat_profile']) assert.ok((discovery.body.claims_supported as string[]).includes(claim), claim);
  });

  test('junk never gets a 5xx: truncated TD quotes, a TD header with nothing behind it', async () => {
    const q = tdQuote(platform, Buffer.alloc(64));
    for (const cut of [0, 10, 47, 48, 100, 631, 700, q.length - 1]) {
      const r = await attestTd(sim, { quote: b64u(q.subarray(0, cut)) });
      assert.ok(r.status >= 400 && r.status < 500, `cut ${cut}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    assert.equal((await attestTd(sim, { quote: b64u(q) })).status, 200);
  });
});
