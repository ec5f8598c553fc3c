/**
 * The unmodified npm client @azure/attestation 1.0.0 against the service
 * over real HTTPS on 127.0.0.1: attest, fetch the signers, validate the
 * token (signature and times, the client's own checks), and manage the
 * policy with AttestationAdministrationClient (bearer = admin token), MAA
 * policies 1.0, 1.1 and 1.2 included: tokens issued under each carry its
 * issued claims and x-ms-policy-hash.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AttestationAdministrationClient, AttestationClient, KnownAttestationType } from '@azure/attestation';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { generateSigningCertificate, generateTlsCertificate } from '../../src/service/certs.js';
import { policyHash } from '../../src/service/policy/index.js';
import { ADMIN_TOKEN, INTEL_SAMPLE_TIME, INTEL_SGX_QUOTE, MAA_DEFAULT_SGX_POLICY_1_1, PERMIT_CONFIG_NEEDED, intelCollateralDir, tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-azure-');
let svc: RunningAttestationService;
let ca: string;
const credential = { getToken: async () => ({ token: ADMIN_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

before(async () => {
  const tls = await generateTlsCertificate({ ips: ['127.0.0.1'] });
  ca = tls.certificatePem;
  const { verifier } = await createDcapVerifier({ simulation: false, collateralDir: intelCollateralDir(tmp.dir), now: () => INTEL_SAMPLE_TIME });
  svc = await startAttestationService({
    listen: '127.0.0.1:0',
    tls: { cert: tls.certificatePem, key: tls.privateKeyPem },
    dataDir: tmp.dir,
    verifier,
    adminToken: ADMIN_TOKEN,
    rateLimit: { rate: 0 },
  });
});
after(async () => {
  await svc.close();
  tmp.cleanup();
});

describe('@azure/attestation 1.0.0 (unmodified) against the service over HTTPS', () => {
  test('admin client sets and reads the SgxEnclave policy (MAA JWS wire shape, bearer auth)', async () => {
    const adminClient = new AttestationAdministrationClient(svc.url, credential, { tlsOptions: { ca } });
    const set = await adminClient.setPolicy(KnownAttestationType.SgxEnclave, PERMIT_CONFIG_NEEDED);
    assert.equal(set.body.policyResolution, 'Updated');
    assert.ok(set.body.policyTokenHash.length === 32);
    const got = await adminClient.getPolicy(KnownAttestationType.SgxEnclave);
    assert.equal(got.body, PERMIT_CONFIG_NEEDED);
    // Without the right bearer the service refuses (the client surfaces a RestError with our code).
    const wrong = new AttestationAdministrationClient(svc.url, { getToken: async () => ({ token: 'not-the-admin-token', expiresOnTimestamp: Date.now() + 60_000 }) }, { tlsOptions: { ca } });
    await assert.rejects(wrong.getPolicy(KnownAttestationType.SgxEnclave), (e: unknown) => (e as { statusCode?: number }).statusCode === 401);
  });

  test('admin client resets the policy (POST /policies/SgxEnclave:reset) and sets it again', async () => {
    const adminClient = new AttestationAdministrationClient(svc.url, credential, { tlsOptions: { ca } });
    const reset = await adminClient.resetPolicy(KnownAttestationType.SgxEnclave);
    assert.equal(reset.body.policyResolution, 'Removed');
    assert.match(await adminClient.getPolicy(KnownAttestationType.SgxEnclave).then((r) => r.body), /x-kube-sgx-tcb-status", value=="SWHardeningNeeded"/);
    assert.equal((await adminClient.setPolicy(KnownAttestationType.SgxEnclave, PERMIT_CONFIG_NEEDED)).body.policyResolution, 'Updated');
  });

  test('a signed policy upload (RS256 + x5c) is verified and its signer reported', async () => {
    const adminClient = new AttestationAdministrationClient(svc.url, credential, { tlsOptions: { ca } });
    const signer = await generateSigningCertificate('policy signer');
    const res = await adminClient.setPolicy(KnownAttestationType.SgxEnclave, PERMIT_CONFIG_NEEDED, { privateKey: signer.privateKeyPem, certificate: signer.certificatePem });
    assert.equal(res.body.policyResolution, 'Updated');
    assert.equal(res.body.policySigner?.certificates[0]?.replace(/\s/g, ''), signer.certificatePem.replace(/\s/g, ''));
  });

  test('attestSgxEnclave: token signature and times validated by the client; MAA claims mapped', async () => {
    const client = new AttestationClient(svc.url, { tlsOptions: { ca } });
    const res = await client.attestSgxEnclave(INTEL_SGX_QUOTE, { validationOptions: { validateToken: true, validateExpirationTime: true, validateNotBeforeTime: true, validateIssuer: true, expectedIssuer: svc.issuer } });
    const body = res.body;
    assert.equal(body.issuer, svc.issuer);
    assert.equal(body.mrEnclave, Buffer.from(INTEL_SGX_QUOTE.subarray(112, 144)).toString('hex'));
    assert.equal(body.mrSigner, Buffer.from(INTEL_SGX_QUOTE.subarray(176, 208)).toString('hex'));
    assert.equal(body.isDebuggable, false);
    assert.equal(body.verifierType, 'sgx');
    assert.equal(body.version, '1.0');
    assert.equal(Buffer.from(body.policyHash).toString('base64url'), policyHash(PERMIT_CONFIG_NEEDED));
    assert.equal(typeof body.svn, 'number');
    assert.equal(res.token.algorithm, 'RS256');
    assert.equal(res.token.keyUrl, `${svc.issuer}/certs`);
    assert.equal(res.token.keyId, svc.kids[0]);
    assert.equal((res.token.getBody() as Record<string, unknown>)['x-kube-sgx-tcb-status'], 'ConfigurationAndSWHardeningNeeded');
  });

  test('getAttestationSigners: kid and PEM certificate of the signing key', async () => {
    const client = new AttestationClient(svc.url, { tlsOptions: { ca } });
    const signers = await client.getAttestationSigners();
    assert.equal(signers.length, 1);
    assert.equal(signers[0]!.keyId, svc.kids[0]);
    assert.match(signers[0]!.certificates[0]!, /^-----BEGIN CERTIFICATE-----/);
    const meta = (await client.getOpenIdMetadata()) as { issuer: string; jwks_uri: string };
    assert.equal(meta.jwks_uri, `${svc.issuer}/certs`);
  });

  test('the client rejects what the service refuses: RestError with the problem code, no retries on 4xx', async () => {
    const client = new AttestationClient(svc.url, { tlsOptions: { ca } });
    const tampered = new Uint8Array(INTEL_SGX_QUOTE);
    tampered[112]! ^= 1;
    await assert.rejects(client.attestSgxEnclave(tampered), (e: unknown) => {
      const err = e as { statusCode?: number; code?: string };
      return err.statusCode === 400 && err.code === 'QUOTE_SIGNATURE_INVALID';
    });
    // runtime data that does not hash to the report data
    await assert.rejects(client.attestSgxEnclave(INTEL_SGX_QUOTE, { runTimeData: new TextEncoder().encode('wrong') }), (e: unknown) => (e as { code?: string }).code === 'RUNTIME_DATA_MISMATCH');
  });
});

/** A 1.2 policy over the real Intel sample: negation, add() used only inside the policy, functions, issuer filters. */
const POLICY_1_2 = `version=1.2;
configurationrules {
  => issueproperty(type="x-ms-sgx-tcbidentifier", value="10");
};
authorizationrules {
  [type=="x-ms-sgx-is-debuggable", value==true] => deny();
  c:[type=="x-kube-sgx-tcb-status", issuer=="AttestationService"] => add(type="tcb-ok", value=ContainsOnlyValue(c.value, "ConfigurationAndSWHardeningNeeded"));
  [type=="tcb-ok", value==true, issuer=="AttestationPolicy"] => permit();
};
issuancerules {
  // identity under custom names
  c:[type=="x-ms-sgx-mrsigner"] => issue(type="signer", value=c.value);
  c1:[type=="x-ms-attestation-type"] && c2:[type=="x-ms-sgx-svn"] => issue(type="label", value=AppendString(c1.value, "-enclave"));
  c:[type=="x-kube-sgx-advisory-ids"] => add(type="advisories", value=JsonToClaimValue("[\\"none\\"]"));
  ![type=="x-ms-runtime"] => issue(type="has-runtime-data", value=false);
};`;

describe('@azure/attestation 1.0.0 (unmodified) with MAA policy 1.1 and 1.2', () => {
  test('set, get, attest and reset: issued claims and x-ms-policy-hash follow the policy in force', async () => {
    const admin = new AttestationAdministrationClient(svc.url, credential, { tlsOptions: { ca } });
    const client = new AttestationClient(svc.url, { tlsOptions: { ca } });
    for (const [text, expect] of [
      [MAA_DEFAULT_SGX_POLICY_1_1, (claims: Record<string, unknown>) => {
        assert.equal(claims['sgx-mrsigner'], Buffer.from(INTEL_SGX_QUOTE.subarray(176, 208)).toString('hex'));
        assert.equal(claims['is-debuggable'], false);
        assert.equal(claims.tee, 'sgx');
      }],
      [POLICY_1_2, (claims: Record<string, unknown>) => {
        assert.equal(claims.signer, Buffer.from(INTEL_SGX_QUOTE.subarray(176, 208)).toString('hex'));
        assert.equal(claims.label, 'sgx-enclave');
        assert.equal(claims['has-runtime-data'], false);
        assert.equal(claims['tcb-ok'], undefined, 'add() claims stay inside the policy');
        assert.equal(claims.advisories, undefined);
      }],
    ] as const) {
      const set = await admin.setPolicy(KnownAttestationType.SgxEnclave, text);
      assert.equal(set.body.policyResolution, 'Updated');
      assert.equal((await admin.getPolicy(KnownAttestationType.SgxEnclave)).body, text);
      const res = await client.attestSgxEnclave(INTEL_SGX_QUOTE, { validationOptions: { validateToken: true, validateExpirationTime: true, validateIssuer: true, expectedIssuer: svc.issuer } });
      assert.equal(Buffer.from(res.body.policyHash).toString('base64url'), policyHash(text));
      expect(res.token.getBody() as Record<string, unknown>);
    }
    const reset = await admin.resetPolicy(KnownAttestationType.SgxEnclave);
    assert.equal(reset.body.policyResolution, 'Removed');
    // kube-sgx's own default again: the sample's ConfigurationAndSWHardeningNeeded is refused.
    await assert.rejects(client.attestSgxEnclave(INTEL_SGX_QUOTE), (e: unknown) => (e as { code?: string }).code === 'ATTESTATION_DENIED');
  });

  test('a policy with an unknown property is refused (400, its own code) and the stored policy stays', async () => {
    const admin = new AttestationAdministrationClient(svc.url, credential, { tlsOptions: { ca } });
    await admin.setPolicy(KnownAttestationType.SgxEnclave, MAA_DEFAULT_SGX_POLICY_1_1);
    const bad = MAA_DEFAULT_SGX_POLICY_1_1.replace('x-ms-sgx-tcbidentifier', 'x-ms-sgx-tcb-baseline');
    await assert.rejects(admin.setPolicy(KnownAttestationType.SgxEnclave, bad), (e: unknown) => {
      const err = e as { statusCode?: number; code?: string; message?: string };
      return err.statusCode === 400 && err.code === 'POLICY_UNKNOWN_PROPERTY' && /line 3, column 19/.test(err.message ?? '');
    });
    assert.equal((await admin.getPolicy(KnownAttestationType.SgxEnclave)).body, MAA_DEFAULT_SGX_POLICY_1_1);
  });
});
