/** The parsed form of an MAA policy (versions 1.0, 1.1, 1.2); see docs/attestation-service.md. */

export type ClaimValue = string | number | boolean;
export type ValueType = 'String' | 'Integer' | 'Boolean';
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type PolicyVersion = '1.0' | '1.1' | '1.2';

export interface SourcePos {
  line: number;
  column: number;
}

/** The claim-rule functions of policy 1.2 (MAA's "claim rule functions"). */
export const POLICY_FUNCTIONS = {
  JmesPath: 2,
  JsonToClaimValue: 1,
  IsSubsetOf: 2,
  AppendString: 2,
  NegateBool: 1,
  ContainsOnlyValue: 2,
} as const;
export type PolicyFunction = keyof typeof POLICY_FUNCTIONS;

/**
 * A literal, `ident.value` (the value of the claim a named condition
 * matched) or, from 1.2, a function call over such expressions.
 */
export type ValueExpr =
  | { kind: 'literal'; value: ClaimValue }
  | { kind: 'ref'; ident: string; pos: SourcePos }
  | { kind: 'call'; fn: PolicyFunction; args: ValueExpr[]; pos: SourcePos };

export interface PropertyTest {
  property: 'type' | 'value' | 'issuer' | 'valueType';
  op: CompareOp;
  operand: ValueExpr;
  pos: SourcePos;
}

export interface Condition {
  ident?: string;
  /** `![…]` (1.2): holds when NO claim satisfies the tests. Never named. */
  negated?: boolean;
  tests: PropertyTest[];
  pos: SourcePos;
}

export type Action =
  | { kind: 'permit' }
  | { kind: 'deny' }
  | { kind: 'issue' | 'add'; claim: { type: string; value: ValueExpr; valueType?: ValueType } | { ref: string } }
  /** 1.1+: sets a property of the evaluation (see properties.ts); also adds the claim to the incoming set. */
  | { kind: 'issueproperty'; claim: { type: string; value: ValueExpr } };

export interface Rule {
  conditions: Condition[];
  action: Action;
  pos: SourcePos;
}

export interface Policy {
  version: PolicyVersion;
  /** 1.1+; empty for 1.0. */
  configurationRules: Rule[];
  authorizationRules: Rule[];
  issuanceRules: Rule[];
}

export interface Claim {
  type: string;
  value: ClaimValue;
  valueType: ValueType;
  issuer: 'AttestationService' | 'AttestationPolicy' | 'CustomClaim';
}
