/**
 * MAA policy 1.1 and 1.2 through the unmodified @azure/attestation 1.0.0
 * administration client over real HTTPS on 127.0.0.1: set, get and reset;
 * tokens issued under each policy (attested by the same client) carry the
 * policy's issued claims and its x-ms-policy-hash; a refused policy comes
 * back as the client's RestError with our code, and the stored one stays.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AttestationAdministrationClient, AttestationClient, KnownAttestationType } from '@azure/attestation';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { generateTlsCertificate } from '../../src/service/certs.js';
import { policyHash } from '../../src/service/policy/index.js';
import { ADMIN_TOKEN, INTEL_SAMPLE_TIME, INTEL_SGX_QUOTE, MAA_DEFAULT_SGX_POLICY_1_1, intelCollateralDir, tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-azure-policy-');
let svc: RunningAttestationService;
let ca: string;
const credential = { getToken: async () => ({ token: ADMIN_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

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
