/** The built-in SGX policy and MAA's policy hash. */
import { createHash } from 'node:crypto';

/**
 * Default: deny debug enclaves; accept TCB status UpToDate and
 * SWHardeningNeeded only (so OutOfDate, ConfigurationNeeded…, Revoked are
 * refused); issue MAA's v1.0-era names like MAA's default policy does.
 */
export const DEFAULT_SGX_POLICY = `version=1.0;
authorizationrules {
  [type=="x-ms-sgx-is-debuggable", value==true] => deny();
  [type=="x-kube-sgx-tcb-status", value=="UpToDate"] => permit();
  [type=="x-kube-sgx-tcb-status", value=="SWHardeningNeeded"] => permit();
};
issuancerules {
  c:[type=="x-ms-sgx-is-debuggable"] => issue(type="is-debuggable", value=c.value);
  c:[type=="x-ms-sgx-mrsigner"] => issue(type="sgx-mrsigner", value=c.value);
  c:[type=="x-ms-sgx-mrenclave"] => issue(type="sgx-mrenclave", value=c.value);
  c:[type=="x-ms-sgx-product-id"] => issue(type="product-id", value=c.value);
  c:[type=="x-ms-sgx-svn"] => issue(type="svn", value=c.value);
  c:[type=="x-ms-attestation-type"] => issue(type="tee", value=c.value);
};
`;

/**
 * Default for TdxVm: deny debug TDs; accept TCB status UpToDate and
 * SWHardeningNeeded only. The TD's claims (tdx_*, attester_tcb_status, …)
 * are in every token whatever the policy issues, as in MAA's TDX tokens.
 */
export const DEFAULT_TDX_POLICY = `version=1.0;
authorizationrules {
  [type=="tdx_td_attributes_debug", value==true] => deny();
  [type=="attester_tcb_status", value=="UpToDate"] => permit();
  [type=="attester_tcb_status", value=="SWHardeningNeeded"] => permit();
};
issuancerules {
};
`;

/** MAA's x-ms-policy-hash: BASE64URL(SHA-256(UTF-8(BASE64URL(UTF-8(policy text))))). */
export function policyHash(text: string): string {
  const inner = Buffer.from(text, 'utf8').toString('base64url');
  return createHash('sha256').update(inner, 'utf8').digest('base64url');
}
