/** Shared fixtures for the attestation service tests: the real Intel SGX sample quote and its collateral. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const VECTORS = join(import.meta.dirname, '..', 'vectors', 'dcap', 'phala-dcap-qvl', 'sample');

/** Real Intel SGX v3 quote (report data "Hello, world!"; ConfigurationAndSWHardeningNeeded). */
export const INTEL_SGX_QUOTE = new Uint8Array(readFileSync(join(VECTORS, 'sgx_quote')));
export const INTEL_TDX_QUOTE = new Uint8Array(readFileSync(join(VECTORS, 'tdx_quote')));
/** A time inside the sample collateral's validity window (SOURCES.md). */
export const INTEL_SAMPLE_TIME = new Date(1752919277_000 - 86_400_000);

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A collateral directory holding the SGX sample collateral as collateral.json. */
export function intelCollateralDir(parent: string): string {
  const dir = join(parent, 'collateral');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(VECTORS, 'sgx_quote_collateral.json'), join(dir, 'collateral.json'));
  return dir;
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export const PERMIT_CONFIG_NEEDED = `version=1.0;
authorizationrules {
  [type=="x-ms-sgx-is-debuggable", value==true] => deny();
  [type=="x-kube-sgx-tcb-status", value=="UpToDate"] => permit();
  [type=="x-kube-sgx-tcb-status", value=="ConfigurationAndSWHardeningNeeded"] => permit();
};
issuancerules {
  c:[type=="x-ms-sgx-mrsigner"] => issue(type="signer", value=c.value);
};`;

export function b64u(b: Uint8Array | string): string {
  return Buffer.from(b).toString('base64url');
}

/** An unsigned MAA policy JWS, as AttestationAdministrationClient.setPolicy sends it without a key. */
export function policyJws(text: string | undefined): string {
  const h = b64u(JSON.stringify({ alg: 'none' }));
  return text === undefined ? `${h}..` : `${h}.${b64u(JSON.stringify({ AttestationPolicy: b64u(text) }))}.`;
}

/** MAA's default SGX policy, exactly as Azure's "policy examples" page and issue 19 give it (tabs included). */
export const MAA_DEFAULT_SGX_POLICY_1_1 = `version= 1.1;
configurationrules{
\t=> issueproperty(type="x-ms-sgx-tcbidentifier", value="azuredefault");
};
authorizationrules{
\t=> permit();
};
issuancerules{
\tc:[type=="x-ms-sgx-is-debuggable"] => issue(type="is-debuggable", value=c.value);
\tc:[type=="x-ms-sgx-mrsigner"] => issue(type="sgx-mrsigner", value=c.value);
\tc:[type=="x-ms-sgx-mrenclave"] => issue(type="sgx-mrenclave", value=c.value);
\tc:[type=="x-ms-sgx-product-id"] => issue(type="product-id", value=c.value);
\tc:[type=="x-ms-sgx-svn"] => issue(type="svn", value=c.value);
\tc:[type=="x-ms-attestation-type"] => issue(type="tee", value=c.value);
};`;
