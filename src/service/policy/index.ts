export { parsePolicy, isReservedClaimType } from './parser.js';
export { evaluatePolicy, type PolicyOutcome } from './evaluate.js';
export { DEFAULT_SGX_POLICY, policyHash } from './default.js';
export type { Policy, Claim, ClaimValue, ValueType } from './ast.js';
