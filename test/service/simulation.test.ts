/**
 * End to end in simulation: quotes from the simulated platform (src/sim)
 * through the real DCAP verifier trusting only the simulator's root, over
 * real HTTP(S) on 127.0.0.1 — MAA attestation with runtime-data binding,
 * the @azure/attestation client, and KBS secret release.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { AttestationClient } from '@azure/attestation';
import { SimPlatform } from '../../src/sim/index.js';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { requestSecret, httpCall } from '../../src/service/client.js';
import { generateTlsCertificate } from '../../src/service/certs.js';
import { MAX_BODY_BYTES } from '../../src/service/http.js';
import { ADMIN_TOKEN, b64u, intelCollateralDir, tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-sim-');
const platformDir = join(tmp.dir, 'platform');
let platform: SimPlatform;
let svc: RunningAttestationService;
let prodSvc: RunningAttestationService;
let ca: string;

const ENCLAVE_A = { mrEnclave: Buffer.alloc(32, 0xa1), mrSigner: Buffer.alloc(32, 0x5e), isvProdId: 7, isvSvn: 4 };
const ENCLAVE_B = { ...ENCLAVE_A, mrEnclave: Buffer.alloc(32, 0xb2) };
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

function quoteFor(reportData: Uint8Array, enclave: typeof ENCLAVE_A = ENCLAVE_A, debug = false): Uint8Array {
  const report = platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData, ...enclave, debug });
  return new Uint8Array(platform.getQuote(report).quote);
}

function maaReportData(runtime: Uint8Array): Uint8Array {
  const rd = new Uint8Array(64);
  rd.set(createHash('sha256').update(runtime).digest());
  return rd;
}

async function json(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await httpCall(method, url, body === undefined ? undefined : JSON.stringify(body), { headers, ca });
  return { status: r.status, body: JSON.parse(r.body || 'null') as Record<string, unknown> };
}

before(async () => {
  platform = await SimPlatform.open(platformDir, { seed: 'attestation-service-tests' });
  const tls = await generateTlsCertificate({ ips: ['127.0.0.1'] });
  ca = tls.certificatePem;
  svc = await startAttestationService({
    listen: '127.0.0.1:0',
    tls: { cert: tls.certificatePem, key: tls.privateKeyPem },
    simulation: true,
    platformDir,
    adminToken: ADMIN_TOKEN,
    rateLimit: { rate: 0 },
  });
  // A production-mode service (Intel root only) for the refusal test.
  prodSvc = await startAttestationService({ listen: '127.0.0.1:0', collateralDir: intelCollateralDir(tmp.dir), rateLimit: { rate: 0 } });
});
after(async () => {
  await svc.close();
  await prodSvc.close();
  tmp.cleanup();
});

describe('simulation end to end (real verifier, simulated quotes)', () => {
  test('MAA attest: runtime data bound by SHA-256 into report data; token says simulated', async () => {
    const runtime = new TextEncoder().encode('{"keys":[{"kid":"k1","kty":"oct"}]}');
    const quote = quoteFor(maaReportData(runtime));
    const bin = await json('POST', `${svc.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(quote), runtimeData: { data: b64u(runtime), dataType: 'Binary' }, nonce: 'abc' });
    assert.equal(bin.status, 200, JSON.stringify(bin.body));
    const c = decodeJwt(bin.body.token as string);
    assert.equal(c['x-kube-sgx-simulated'], true);
    assert.equal(c['x-kube-sgx-tcb-status'], 'UpToDate');
    assert.equal(c['x-ms-sgx-mrenclave'], ENCLAVE_A.mrEnclave.toString('hex'));
    assert.equal(c['x-ms-sgx-mrsigner'], ENCLAVE_A.mrSigner.toString('hex'));
    assert.equal(c['x-ms-sgx-product-id'], 7);
    assert.equal(c['x-ms-sgx-svn'], 4);
    assert.equal(c['x-ms-sgx-ehd'], b64u(runtime));
    assert.equal(c.nonce, 'abc');
    const js = await json('POST', `${svc.url}/attest/SgxEnclave?api-version=2020-10-01`, { quote: b64u(quote), runtimeData: { data: b64u(runtime), dataType: 'JSON' } });
    const cj = decodeJwt(js.body.token as string);
    assert.deepEqual(cj['x-ms-runtime'], { keys: [{ kid: 'k1', kty: 'oct' }] });
    assert.equal(cj['x-ms-sgx-ehd'], undefined);
    // one byte different: refused
    const other = await json('POST', `${svc.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(quote), runtimeData: { data: b64u(new TextEncoder().encode('{"keys":[]}')), dataType: 'Binary' } });
    assert.equal(other.status, 400);
    assert.equal(other.body.code, 'RUNTIME_DATA_MISMATCH');
  });

  test('over real HTTP: oversized bodies are 413 with or without Content-Length (chunked)', async () => {
    const { request } = await import('node:https');
    const big = JSON.stringify({ quote: 'A'.repeat(MAX_BODY_BYTES + 100) });
    const send = (chunked: boolean) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(`${svc.url}/attest/SgxEnclave?api-version=2022-08-01`);
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(big)) }) };
        const req = request(u, { method: 'POST', headers, ca }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        // A reset (EPIPE, ECONNRESET) is a failure: the client must read the 413 (body-limit.test.ts has more).
        req.on('error', reject);
        if (chunked) for (let i = 0; i < big.length; i += 65536) req.write(big.slice(i, i + 65536));
        else req.write(big);
        req.end();
      });
    assert.equal(await send(false), 413);
    assert.equal(await send(true), 413);
    // and a normal request on a fresh connection still works
    const ok = await json('POST', `${svc.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(quoteFor(new Uint8Array(64))) });
    assert.equal(ok.status, 200);
  });

  test('default policy denies a debug enclave', async () => {
    const r = await json('POST', `${svc.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(quoteFor(new Uint8Array(64), ENCLAVE_A, true)) });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'ATTESTATION_DENIED');
  });

  test('@azure/attestation 1.0.0 attests a simulated quote with runtime data and validates the token', async () => {
    const runtime = new TextEncoder().encode('enclave public key bytes');
    const client = new AttestationClient(svc.url, { tlsOptions: { ca } });
    const res = await client.attestSgxEnclave(quoteFor(maaReportData(runtime)), { runTimeData: runtime });
    assert.equal(res.body.mrEnclave, ENCLAVE_A.mrEnclave.toString('hex'));
    assert.equal(res.body.productId, 7);
    assert.deepEqual(Buffer.from(res.body.enclaveHeldData!), Buffer.from(runtime));
    assert.equal((res.token.getBody() as Record<string, unknown>)['x-kube-sgx-simulated'], true);
    const signers = await client.getAttestationSigners();
    assert.equal(signers[0]!.keyId, svc.kids[0]);
  });

  test('a service not in simulation mode refuses simulated quotes with a specific type', async () => {
    const r = await json('POST', `${prodSvc.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(quoteFor(new Uint8Array(64))) });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.code, 'SIMULATED_QUOTE_REFUSED');
    const st = await json('GET', `${prodSvc.url}/status`);
    assert.equal(st.body.simulation, false);
    const simSt = await json('GET', `${svc.url}/status`);
    assert.equal(simSt.body.simulation, true);
    assert.equal(((simSt.body.collateral as Record<string, unknown>).fresh), true);
  });

  describe('secret release (Trustee KBS protocol)', () => {
    const policyFor = (mrEnclave: Buffer) => ({
      version: '1.0.0',
      anyOf: [{ authority: svc.issuer, allOf: [{ claim: 'x-ms-sgx-mrenclave', equals: mrEnclave.toString('hex') }, { claim: 'x-ms-sgx-svn', greaterOrEquals: 4 }, { claim: 'x-ms-sgx-is-debuggable', equals: false }] }],
    });

    before(async () => {
      assert.equal((await json('PUT', `${svc.url}/admin/secrets/app/a/key`, { valueText: 'secret-of-A', releasePolicy: policyFor(ENCLAVE_A.mrEnclave) }, admin)).status, 201);
      assert.equal((await json('PUT', `${svc.url}/admin/secrets/app/b/key`, { valueText: 'secret-of-B', releasePolicy: policyFor(ENCLAVE_B.mrEnclave) }, admin)).status, 201);
    });

    test('requestSecret: challenge → quote binding nonce and ephemeral key → JWE decrypted by the enclave', async () => {
      const got = await requestSecret({ url: svc.url, ca, name: 'app/a/key', getQuote: async (rd) => quoteFor(rd, ENCLAVE_A) });
      assert.equal(Buffer.from(got.value).toString(), 'secret-of-A');
      const claims = decodeJwt(got.token);
      assert.equal(claims['x-kube-sgx-simulated'], true);
      assert.ok((claims.exp as number) - (claims.iat as number) <= 300, 'short-lived KBS token');
    });

    test('a token for one enclave cannot fetch another enclave\'s secret', async () => {
      await assert.rejects(
        requestSecret({ url: svc.url, ca, name: 'app/b/key', getQuote: async (rd) => quoteFor(rd, ENCLAVE_A) }),
        (e: unknown) => (e as { code?: string }).code === 'SECRET_RELEASE_DENIED',
      );
      const b = await requestSecret({ url: svc.url, ca, name: 'app/b/key', getQuote: async (rd) => quoteFor(rd, ENCLAVE_B) });
      assert.equal(Buffer.from(b.value).toString(), 'secret-of-B');
    });

    test('resource requests need a KBS token from this service (Trustee error shapes, 401)', async () => {
      const noAuth = await json('GET', `${svc.url}/kbs/v0/resource/app/a/key`);
      assert.equal(noAuth.status, 401);
      assert.equal(noAuth.body.type, 'https://github.com/confidential-containers/kbs/errors/TokenNotFound');
      assert.equal(noAuth.body.code, 'TOKEN_NOT_FOUND');
      const garbage = await json('GET', `${svc.url}/kbs/v0/resource/app/a/key`, undefined, { authorization: 'Bearer abc.def.ghi' });
      assert.equal(garbage.status, 401);
      assert.equal(garbage.body.type, 'https://github.com/confidential-containers/kbs/errors/TokenVerifierError');
      assert.equal(garbage.body.code, 'TOKEN_INVALID');
      // An MAA token (no TEE key in it) does not release secrets.
      const maa = await json('POST', `${svc.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(quoteFor(new Uint8Array(64))) });
      const withMaa = await json('GET', `${svc.url}/kbs/v0/resource/app/a/key`, undefined, { authorization: `Bearer ${maa.body.token as string}` });
      assert.equal(withMaa.status, 401);
      assert.equal(withMaa.body.code, 'TOKEN_INVALID');
      // A token signed by someone else (alg none, forged claims) is refused.
      const forged = `${b64u('{"alg":"none"}')}.${b64u(JSON.stringify({ iss: svc.issuer, 'x-ms-sgx-mrenclave': ENCLAVE_A.mrEnclave.toString('hex') }))}.`;
      assert.equal((await json('GET', `${svc.url}/kbs/v0/resource/app/a/key`, undefined, { authorization: `Bearer ${forged}` })).body.code, 'TOKEN_INVALID');
      const missing = await requestSecret({ url: svc.url, ca, name: 'app/none/key', getQuote: async (rd) => quoteFor(rd) }).catch((e: unknown) => e);
      assert.equal((missing as { code?: string }).code, 'SECRET_NOT_FOUND');
    });
  });
});
