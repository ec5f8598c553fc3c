/**
 * Evaluates a parsed policy against the incoming claim set.
 *
 * - A condition holds if SOME claim satisfies all its tests; a rule fires if
 *   an assignment of claims satisfies all its conditions in order (names bind
 *   the matched claim for later `name.value` references; search backtracks).
 * - Authorization: every rule runs in order; add() extends the incoming set.
 *   Any deny() that fires denies, whatever its position (fail closed); else
 *   at least one permit() must fire; no rule firing = deny.
 * - Issuance: issue() puts a claim in the token (and the incoming set), add()
 *   only in the incoming set. Issuing one type twice makes an array.
 */
import type { Action, Claim, ClaimValue, Condition, Policy, PropertyTest, Rule, ValueExpr, ValueType } from './ast.js';

export interface PolicyOutcome {
  permitted: boolean;
  /** Why not, for the error message (which rule decided, or "no permit"). */
  reason?: string;
  /** Claims issued by issuancerules, for the token (top level, as MAA does). */
  issued: Record<string, ClaimValue | ClaimValue[]>;
}

type Bindings = Map<string, Claim>;

function valueTypeOf(v: ClaimValue): ValueType {
  return typeof v === 'boolean' ? 'Boolean' : typeof v === 'number' ? 'Integer' : 'String';
}

function resolve(e: ValueExpr, b: Bindings): ClaimValue | undefined {
  return e.kind === 'literal' ? e.value : b.get(e.ident)?.value;
}

function testHolds(t: PropertyTest, claim: Claim, b: Bindings): boolean {
  const rhs = resolve(t.operand, b);
  if (rhs === undefined) return false;
  const lhs: ClaimValue = t.property === 'type' ? claim.type : t.property === 'issuer' ? claim.issuer : t.property === 'valueType' ? claim.valueType : claim.value;
  // Values of different types never compare equal (or unequal: the test is false).
  if (typeof lhs !== typeof rhs) return false;
  switch (t.op) {
    case '==':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
    default: {
      if (typeof lhs !== 'number' || typeof rhs !== 'number') return false;
      if (t.op === '<') return lhs < rhs;
      if (t.op === '<=') return lhs <= rhs;
      if (t.op === '>') return lhs > rhs;
      return lhs >= rhs;
    }
  }
}

function conditionHolds(c: Condition, claim: Claim, b: Bindings): boolean {
  for (const t of c.tests) if (!testHolds(t, claim, b)) return false;
  return true;
}

const NO_BINDINGS: Bindings = new Map();

/**
 * Returns the bindings of the first satisfying assignment, or undefined.
 * Runs for every rule of every attestation, so it allocates only when a
 * condition binds a name (the shared empty map is never written to).
 */
function ruleFires(rule: Rule, claims: readonly Claim[]): Bindings | undefined {
  const search = (i: number, b: Bindings): Bindings | undefined => {
    if (i === rule.conditions.length) return b;
    const c = rule.conditions[i]!;
    for (const claim of claims) {
      if (!conditionHolds(c, claim, b)) continue;
      const nb = c.ident === undefined ? b : new Map(b).set(c.ident, claim);
      const found = search(i + 1, nb);
      if (found) return found;
    }
    return undefined;
  };
  return search(0, NO_BINDINGS);
}

function claimFromAction(a: Extract<Action, { kind: 'issue' | 'add' }>, b: Bindings): Claim | undefined {
  if ('ref' in a.claim) {
    const c = b.get(a.claim.ref);
    return c && { ...c, issuer: 'AttestationPolicy' };
  }
  const value = resolve(a.claim.value, b);
  if (value === undefined) return undefined;
  const valueType = a.claim.valueType ?? valueTypeOf(value);
  // An explicit valueType must agree with the value; a mismatch issues nothing.
  if (valueTypeOf(value) !== valueType) return undefined;
  return { type: a.claim.type, value, valueType, issuer: 'AttestationPolicy' };
}

export function evaluatePolicy(policy: Policy, incoming: readonly Claim[]): PolicyOutcome {
  const claims: Claim[] = [...incoming];
  let permit = false;
  let deniedAt: number | undefined;
  for (const rule of policy.authorizationRules) {
    const b = ruleFires(rule, claims);
    if (!b) continue;
    const a = rule.action;
    if (a.kind === 'deny') deniedAt ??= rule.pos.line;
    else if (a.kind === 'permit') permit = true;
    else {
      const c = claimFromAction(a, b);
      if (c) claims.push(c);
    }
  }
  if (deniedAt !== undefined) return { permitted: false, reason: `deny() at policy line ${deniedAt}`, issued: {} };
  if (!permit) return { permitted: false, reason: 'no authorization rule permitted the evidence', issued: {} };

  const issued: Record<string, ClaimValue | ClaimValue[]> = {};
  for (const rule of policy.issuanceRules) {
    const b = ruleFires(rule, claims);
    if (!b) continue;
    const a = rule.action;
    if (a.kind !== 'issue' && a.kind !== 'add') continue;
    const c = claimFromAction(a, b);
    if (!c) continue;
    claims.push(c);
    if (a.kind === 'issue') {
      const prev = issued[c.type];
      issued[c.type] = prev === undefined ? c.value : Array.isArray(prev) ? [...prev, c.value] : [prev, c.value];
    }
  }
  return { permitted: true, issued };
}
