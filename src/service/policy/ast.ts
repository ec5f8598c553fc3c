/** The parsed form of an MAA policy (version 1.0 subset); see docs/attestation-service.md. */

export type ClaimValue = string | number | boolean;
export type ValueType = 'String' | 'Integer' | 'Boolean';
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface SourcePos {
  line: number;
  column: number;
}

/** A literal or `ident.value` (the value of the claim a named condition matched). */
export type ValueExpr = { kind: 'literal'; value: ClaimValue } | { kind: 'ref'; ident: string; pos: SourcePos };

export interface PropertyTest {
  property: 'type' | 'value' | 'issuer' | 'valueType';
  op: CompareOp;
  operand: ValueExpr;
  pos: SourcePos;
}

export interface Condition {
  ident?: string;
  tests: PropertyTest[];
  pos: SourcePos;
}

export type Action =
  | { kind: 'permit' }
  | { kind: 'deny' }
  | { kind: 'issue' | 'add'; claim: { type: string; value: ValueExpr; valueType?: ValueType } | { ref: string } };

export interface Rule {
  conditions: Condition[];
  action: Action;
  pos: SourcePos;
}

export interface Policy {
  version: '1.0';
  authorizationRules: Rule[];
  issuanceRules: Rule[];
}

export interface Claim {
  type: string;
  value: ClaimValue;
  valueType: ValueType;
  issuer: 'AttestationService' | 'AttestationPolicy' | 'CustomClaim';
}
