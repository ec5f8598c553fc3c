/**
 * The properties a policy may set with `issueproperty(type=…, value=…)`
 * (MAA policy 1.1+), as Azure documents them. kube-sgx accepts each so MAA
 * policies upload unchanged, acts on none of them, and says so in /status
 * and the docs: a property never silently changes a verdict. Any other
 * name is refused at upload (POLICY_UNKNOWN_PROPERTY) with line and column.
 */
import type { ClaimValue, Policy, ValueType } from './ast.js';

export interface PropertySpec {
  valueType: ValueType;
  /** The attestation types MAA applies it to. */
  appliesTo: string;
  /** What MAA does with it, and why kube-sgx does not. */
  note: string;
}

export const POLICY_PROPERTIES: Readonly<Record<string, PropertySpec>> = Object.freeze({
  'x-ms-sgx-tcbidentifier': {
    valueType: 'String',
    appliesTo: 'SGX',
    note: "selects one of Azure's TCB baselines (THIM); kube-sgx judges TCB status against the collateral it is configured with (Intel PCS or a collateral directory) and the policy's own x-kube-sgx-tcb-status rules",
  },
  require_valid_aik_cert: { valueType: 'Boolean', appliesTo: 'TPM, VBS', note: 'TPM attestation; kube-sgx has no TPM endpoint' },
  required_pcr_mask: { valueType: 'Integer', appliesTo: 'TPM, VBS', note: 'TPM attestation; kube-sgx has no TPM endpoint' },
  report_validity_in_minutes: { valueType: 'Integer', appliesTo: 'TPM, VBS', note: "token lifetime for TPM/VBS; kube-sgx's SGX tokens keep MAA's fixed 8-hour lifetime" },
  omit_x5c: { valueType: 'Boolean', appliesTo: 'TPM, VBS', note: 'TPM/VBS token header choice; kube-sgx tokens are unchanged' },
});

export function propertySpec(name: string): PropertySpec | undefined {
  return Object.hasOwn(POLICY_PROPERTIES, name) ? POLICY_PROPERTIES[name] : undefined;
}

export interface DeclaredProperty {
  name: string;
  /** The literal value, or undefined when computed at evaluation time. */
  value?: ClaimValue;
  line: number;
  actedOn: false;
  note: string;
}

/** The properties a policy sets, for /status: each with what kube-sgx does about it (nothing). */
export function declaredProperties(policy: Policy): DeclaredProperty[] {
  const out: DeclaredProperty[] = [];
  for (const rule of [...policy.configurationRules, ...policy.issuanceRules]) {
    const a = rule.action;
    if (a.kind !== 'issueproperty') continue;
    const spec = propertySpec(a.claim.type);
    if (!spec) continue;
    out.push({ name: a.claim.type, ...(a.claim.value.kind === 'literal' ? { value: a.claim.value.value } : {}), line: rule.pos.line, actedOn: false, note: spec.note });
  }
  return out;
}
