/**
 * Two service replicas sharing state through Kubernetes Secrets (the
 * kubernetes store against an API server on 127.0.0.1): one key, one
 * policy, one secret set, single-use nonces across replicas.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { SimPlatform } from '../../src/sim/index.js';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { httpCall, requestSecret } from '../../src/service/client.js';
import { kbsReportData } from '../../src/service/kbs.js';
import { ADMIN_TOKEN, PERMIT_CONFIG_NEEDED, b64u, policyJws, tempDir } from './helpers.js';
import { startFakeKube, type FakeKube } from './fake-kube.js';

const ISSUER = 'http://kube-sgx-attestation.kube-sgx.svc';
const tmp = tempDir('kube-sgx-replicas-');
let kube: FakeKube;
let a: RunningAttestationService;
let b: RunningAttestationService;
let platform: SimPlatform;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** A fresh P-256 public point as JWK x/y. */
function ecPoint(): { x: string; y: string } {
  const p = createECDH('prime256v1').generateKeys();
  return { x: p.subarray(1, 33).toString('base64url'), y: p.subarray(33).toString('base64url') };
}

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await httpCall(method, url, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), { headers });
  return { status: r.status, body: JSON.parse(r.body || 'null') as Record<string, unknown> };
}

function quote(reportData: Uint8Array): Uint8Array {
  return new Uint8Array(platform.getQuote(platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData, mrEnclave: Buffer.alloc(32, 3), mrSigner: Buffer.alloc(32, 4) })).quote);
}

before(async () => {
  kube = await startFakeKube();
  const platformDir = join(tmp.dir, 'platform');
  platform = await SimPlatform.open(platformDir, { seed: 'replicas' });
  const kek = randomBytes(32);
  const opts = {
    listen: '127.0.0.1:0',
    store: 'kubernetes' as const,
    kubernetes: { kubeConfig: kube.kubeConfig, namespace: 'kube-sgx' },
    simulation: true,
    platformDir,
    kek,
    adminToken: ADMIN_TOKEN,
    issuer: ISSUER,
    rateLimit: { rate: 0 },
    policyRefreshMs: 0,
  };
  // Start both at once: they race to create the signing key; the API server picks one.
  [a, b] = await Promise.all([startAttestationService(opts), startAttestationService(opts)]);
});
after(async () => {
  await a.close();
  await b.close();
  await kube.close();
  tmp.cleanup();
});

describe('replicas sharing state through Kubernetes Secrets', () => {
  test('one signing key for both replicas, stored as a Secret', async () => {
    assert.deepEqual(a.kids, b.kids);
    const jwksA = await call('GET', `${a.url}/certs`);
    const jwksB = await call('GET', `${b.url}/certs`);
    assert.deepEqual(jwksA.body, jwksB.body);
    const stored = kube.objects.get('kube-sgx/kube-sgx-signing-key');
    assert.ok(stored);
    assert.ok(!JSON.stringify(stored).includes('PRIVATE KEY'), 'the private key is sealed in the Secret');
  });

  test('a policy set at one replica applies at the other; versions are shared', async () => {
    const put = await call('PUT', `${a.url}/policies/SgxEnclave?api-version=2020-10-01`, policyJws(PERMIT_CONFIG_NEEDED), { ...admin, 'content-type': 'text/plain' });
    assert.equal(put.status, 200);
    const r = await call('POST', `${b.url}/attest/SgxEnclave?api-version=2022-08-01`, { quote: b64u(quote(new Uint8Array(64))) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const claims = decodeJwt(r.body.token as string);
    assert.equal(claims['x-kube-sgx-policy-version'], 1);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.signer, claims['x-ms-sgx-mrsigner']);
  });

  test('secret registered at A, released through B; a KBS session begun at A is attested once across both', async () => {
    const releasePolicy = { version: '1.0.0', anyOf: [{ authority: ISSUER, allOf: [{ claim: 'x-ms-sgx-mrenclave', equals: '03'.repeat(32) }] }] };
    assert.equal((await call('PUT', `${a.url}/admin/secrets/shared/x/y`, { valueText: 'across-replicas', releasePolicy }, admin)).status, 201);
    const got = await requestSecret({ url: b.url, name: 'shared/x/y', getQuote: async (rd) => quote(rd) });
    assert.equal(Buffer.from(got.value).toString(), 'across-replicas');

    const auth = await httpCall('POST', `${a.url}/kbs/v0/auth`, JSON.stringify({ version: '0.4.0', tee: 'sgx', 'extra-params': {} }));
    const cookie = String(auth.headers['set-cookie']).split(';')[0]!;
    const nonce = (JSON.parse(auth.body) as { nonce: string }).nonce;
    const teePubkey = { kty: 'EC', alg: 'ECDH-ES+A256KW', crv: 'P-256', ...ecPoint() };
    const body = JSON.stringify({ 'runtime-data': { nonce, 'tee-pubkey': teePubkey }, 'tee-evidence': { primary_evidence: { quote: Buffer.from(quote(kbsReportData(nonce, teePubkey))).toString('base64') }, additional_evidence: '' } });
    const [r1, r2] = await Promise.all([httpCall('POST', `${b.url}/kbs/v0/attest`, body, { headers: { cookie } }), httpCall('POST', `${a.url}/kbs/v0/attest`, body, { headers: { cookie } })]);
    assert.deepEqual([r1.status, r2.status], [200, 200], r1.body + r2.body);
    assert.equal((JSON.parse(r1.body) as { token: string }).token, (JSON.parse(r2.body) as { token: string }).token, 'one token for the session, whichever replica recorded it first');
    const res = await httpCall('GET', `${b.url}/kbs/v0/resource/shared/x/y`, undefined, { headers: { cookie } });
    assert.equal(res.status, 200, res.body);
  });
});
