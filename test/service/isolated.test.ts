/**
 * MAA's Isolated trust model (`--policy-signers`): a policy change needs the
 * admin token AND a JWS signed by a registered policy-management
 * certificate. Unsigned, plain-text, foreign-signed and tampered uploads are
 * refused and change nothing.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { SimPlatform } from '../../src/sim/index.js';
import { generateSigningCertificate, type GeneratedCert } from '../../src/service/certs.js';
import { assembleAttestationService, type AssembledService } from '../../src/service/server.js';
import { ADMIN_TOKEN, PERMIT_CONFIG_NEEDED, b64u, policyJws, tempDir } from './helpers.js';

const ISSUER = 'https://issuer.test';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' };

/** An RS256 policy JWS with the signer's certificate in x5c, as the Azure SDK sends with a signing key. */
function signedPolicyJws(text: string | undefined, signer: GeneratedCert): string {
  const h = b64u(JSON.stringify({ alg: 'RS256', x5c: [Buffer.from(signer.certificateDer).toString('base64')] }));
  const p = text === undefined ? '' : b64u(JSON.stringify({ AttestationPolicy: b64u(text) }));
  const sig = sign('sha256', Buffer.from(`${h}.${p}`), createPrivateKey(signer.privateKeyPem));
  return `${h}.${p}.${sig.toString('base64url')}`;
}

describe('attestation service: Isolated trust model', () => {
  const tmp = tempDir('kube-sgx-isolated-');
  let svc: AssembledService;
  let registered: GeneratedCert;
  let stranger: GeneratedCert;
  let platformDir: string;
  before(async () => {
    platformDir = join(tmp.dir, 'platform');
    await SimPlatform.open(platformDir, { seed: 'isolated' });
    registered = await generateSigningCertificate('policy signer');
    stranger = await generateSigningCertificate('someone else');
    writeFileSync(join(tmp.dir, 'signers.pem'), registered.certificatePem);
    svc = await assembleAttestationService({ simulation: true, platformDir, adminToken: ADMIN_TOKEN, policySignersFile: join(tmp.dir, 'signers.pem') }, ISSUER);
  });
  after(async () => {
    await svc.dispose();
    tmp.cleanup();
  });

  const put = (body: string, headers: Record<string, string> = admin) => svc.app.request('/policies/SgxEnclave?api-version=2022-08-01', { method: 'PUT', headers, body });
  const reset = (body: string) => svc.app.request('/policies/SgxEnclave:reset?api-version=2022-08-01', { method: 'POST', headers: admin, body });
  const code = async (r: Response) => ((await r.json()) as { code?: string }).code;
  const version = async () => ((await (await svc.app.request('/status')).json()) as { policies: { SgxEnclave: { version: number } } }).policies.SgxEnclave.version;

  test('unsigned, plain-text and foreign-signed uploads are 403 POLICY_SIGNER_UNTRUSTED and change nothing', async () => {
    const before = await version();
    for (const body of [policyJws(PERMIT_CONFIG_NEEDED), PERMIT_CONFIG_NEEDED, signedPolicyJws(PERMIT_CONFIG_NEEDED, stranger)]) {
      const r = await put(body);
      assert.equal(r.status, 403);
      assert.equal(await code(r), 'POLICY_SIGNER_UNTRUSTED');
    }
    const r = await reset(policyJws(undefined));
    assert.equal(r.status, 403);
    assert.equal(await version(), before);
  });

  test('a tampered signature is 400 POLICY_INVALID_JWS; the right signer without the admin token is 401', async () => {
    const jws = signedPolicyJws(PERMIT_CONFIG_NEEDED, registered);
    const tampered = `${jws.slice(0, -6)}${jws.slice(-6) === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA'}`;
    const r = await put(tampered);
    assert.equal(r.status, 400);
    assert.equal(await code(r), 'POLICY_INVALID_JWS');
    assert.equal((await put(jws, { 'content-type': 'text/plain' })).status, 401);
  });

  test('signed by the registered signer: applied, the result names the signer; a signed reset works', async () => {
    const before = await version();
    const r = await put(signedPolicyJws(PERMIT_CONFIG_NEEDED, registered));
    assert.equal(r.status, 200);
    const claims = decodeJwt(((await r.json()) as { token: string }).token);
    assert.deepEqual((claims['x-ms-policy-signer'] as { x5c: string[] }).x5c, [Buffer.from(registered.certificateDer).toString('base64')]);
    assert.equal(await version(), before + 1);
    assert.equal((await reset(signedPolicyJws(undefined, registered))).status, 200);
    assert.equal(await version(), before + 2);
  });

  test('GET /certificates lists the registered signers; /status names the model', async () => {
    const r = await svc.app.request('/certificates?api-version=2022-08-01', { headers: admin });
    assert.equal(r.status, 200);
    const claims = decodeJwt(((await r.json()) as { token: string }).token) as { 'x-ms-policy-certificates': { keys: Array<{ x5c: string[] }> } };
    assert.deepEqual(claims['x-ms-policy-certificates'].keys.map((k) => k.x5c[0]), [Buffer.from(registered.certificateDer).toString('base64')]);
    assert.equal(((await (await svc.app.request('/status')).json()) as { policyTrustModel: string }).policyTrustModel, 'Isolated');
  });

  test('a --policy-signers file without a certificate refuses to start', async () => {
    writeFileSync(join(tmp.dir, 'empty.pem'), 'not a certificate\n');
    await assert.rejects(
      assembleAttestationService({ simulation: true, platformDir, adminToken: ADMIN_TOKEN, policySignersFile: join(tmp.dir, 'empty.pem') }, ISSUER),
      (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /no PEM certificate/.test(e.message),
    );
  });
});
