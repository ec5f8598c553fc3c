/**
 * Evaluates a parsed policy against the incoming claim set.
 *
 * - A condition holds if SOME claim satisfies all its tests; a rule fires if
 *   an assignment of claims satisfies all its conditions in order (names bind
 *   the matched claim for later `name.value` references). The search is
 *   memoized (see ruleFires) and capped by a comparison budget, so no policy
 *   can make one evaluation cost more than POLICY_LIMITS allow.
 * - Authorization: every rule runs in order; add() extends the incoming set.
 *   Any deny() that fires denies, whatever its position (fail closed); else
 *   at least one permit() must fire; no rule firing = deny.
 * - Issuance: issue() puts a claim in the token (and the incoming set), add()
 *   only in the incoming set. Issuing one type twice makes an array.
 */
import { KubeSgxError } from '../../errors.js';
import type { Action, Claim, ClaimValue, Policy, PropertyTest, Rule, ValueExpr, ValueType } from './ast.js';
import { liveSources, POLICY_LIMITS, testSources } from './limits.js';

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
  return rhs !== undefined && compare(t, claim, rhs);
}

const NO_BINDINGS: Bindings = new Map();

/** Counts comparisons over one evaluation and stops it, typed, at the hard cap. */
class Budget {
  private used = 0;
  constructor(private readonly max: number) {}
  spend(n: number): void {
    this.used += n;
    if (this.used > this.max) {
      throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy evaluation stopped after ${this.max} claim comparisons: simplify the rules that join named conditions`, {
        details: { limit: 'maxEvaluationSteps', max: this.max },
      });
    }
  }
}

/** Per rule, computed once: which tests read an earlier condition's claim, and which claims each level must remember. */
interface RulePlan {
  /** Per condition: tests with a literal operand (filter claims once per evaluation). */
  literal: PropertyTest[][];
  /** Per condition: tests reading the claim matched by condition `from`. */
  joined: Array<Array<{ test: PropertyTest; from: number }>>;
  live: number[][];
}

const plans = new WeakMap<Rule, RulePlan>();
function planOf(rule: Rule): RulePlan {
  let p = plans.get(rule);
  if (p) return p;
  const sources = testSources(rule.conditions);
  p = {
    literal: rule.conditions.map((c, i) => c.tests.filter((_, k) => sources[i]![k] === undefined)),
    joined: rule.conditions.map((c, i) => c.tests.flatMap((test, k) => (sources[i]![k] === undefined ? [] : [{ test, from: sources[i]![k]! }]))),
    live: liveSources(rule.conditions),
  };
  plans.set(rule, p);
  return p;
}

function literalHolds(tests: readonly PropertyTest[], claim: Claim): boolean {
  for (const t of tests) if (!testHolds(t, claim, NO_BINDINGS)) return false;
  return true;
}

function compare(t: PropertyTest, claim: Claim, rhs: ClaimValue): boolean {
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

/**
 * Returns the bindings of the first satisfying assignment (conditions in
 * order, claims in set order), or undefined. Plain backtracking over
 * assignments is exponential in the number of conditions. Here each
 * condition's literal tests filter the claims once; the search then
 * remembers, per condition index, which choices of the claims still read
 * later (liveSources) already failed, so each (index, live choices) pair is
 * explored once: conditions nobody refers to are matched independently, and
 * the work is at most conditions × claims^(join width + 1), the width capped
 * at parse time and every comparison counted against the budget.
 */
function ruleFires(rule: Rule, claims: readonly Claim[], budget: Budget): Bindings | undefined {
  const n = rule.conditions.length;
  if (n === 0) return NO_BINDINGS;
  const plan = planOf(rule);
  const candidates: number[][] = [];
  for (let i = 0; i < n; i++) {
    budget.spend(claims.length);
    const tests = plan.literal[i]!;
    const list: number[] = [];
    for (let k = 0; k < claims.length; k++) if (literalHolds(tests, claims[k]!)) list.push(k);
    // A condition no claim can meet: the rule cannot fire, whatever the joins.
    if (list.length === 0) return undefined;
    candidates.push(list);
  }
  const chosen = new Int32Array(n).fill(-1);
  // Numeric keys (index, live choices): exact while n·(claims+1)^width < 2^53, which the parse-time limits keep.
  const failed = new Set<number>();
  const radix = claims.length + 1;
  const search = (i: number): boolean => {
    if (i === n) return true;
    const held = plan.live[i]!;
    let key = i;
    let scale = n;
    for (const j of held) {
      key += (chosen[j]! + 1) * scale;
      scale *= radix;
    }
    if (failed.has(key)) return false;
    const joined = plan.joined[i]!;
    const list = candidates[i]!;
    budget.spend(list.length);
    for (const k of list) {
      let ok = true;
      for (const { test, from } of joined) {
        if (!compare(test, claims[k]!, claims[chosen[from]!]!.value)) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      chosen[i] = k;
      if (search(i + 1)) return true;
    }
    chosen[i] = -1;
    failed.add(key);
    return false;
  };
  if (!search(0)) return undefined;
  const b: Bindings = new Map();
  rule.conditions.forEach((c, i) => {
    if (c.ident !== undefined) b.set(c.ident, claims[chosen[i]!]!);
  });
  return b;
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

export function evaluatePolicy(policy: Policy, incoming: readonly Claim[], maxSteps: number = POLICY_LIMITS.maxEvaluationSteps): PolicyOutcome {
  const budget = new Budget(maxSteps);
  const claims: Claim[] = [...incoming];
  let permit = false;
  let deniedAt: number | undefined;
  for (const rule of policy.authorizationRules) {
    const b = ruleFires(rule, claims, budget);
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
    const b = ruleFires(rule, claims, budget);
    if (!b) continue;
    const a = rule.action;
    if (a.kind !== 'issue' && a.kind !== 'add') continue;
    const c = claimFromAction(a, b);
    if (!c) continue;
    claims.push(c);
    if (a.kind === 'issue') {
      // Own properties only: an issued type such as "toString" must not find Object.prototype's.
      const prev = Object.hasOwn(issued, c.type) ? issued[c.type] : undefined;
      issued[c.type] = prev === undefined ? c.value : Array.isArray(prev) ? [...prev, c.value] : [prev, c.value];
    }
  }
  return { permitted: true, issued };
}
