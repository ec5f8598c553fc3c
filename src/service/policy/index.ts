export { parsePolicy, isReservedClaimType } from './parser.js';
export { evaluatePolicy, type PolicyOutcome } from './evaluate.js';
export { DEFAULT_SGX_POLICY, DEFAULT_TDX_POLICY, policyHash } from './default.js';
export { POLICY_LIMITS } from './limits.js';
export { POLICY_PROPERTIES, declaredProperties, type DeclaredProperty } from './properties.js';
export type { Policy, PolicyVersion, Claim, ClaimValue, ValueType } from './ast.js';
