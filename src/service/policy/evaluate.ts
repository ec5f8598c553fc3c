/**
 * Evaluates a parsed policy against the incoming claim set.
 *
 * - A condition holds if SOME claim satisfies all its tests (`![…]`: if
 *   none does); a rule fires if an assignment of claims satisfies all its
 *   conditions in order (names bind the matched claim for later
 *   `name.value` references; the first assignment in condition and claim
 *   order is the one the action uses). The search is memoized (see
 *   ruleFires) and every comparison is charged to a budget, so no policy can
 *   make one evaluation cost more than POLICY_LIMITS allow.
 * - Sections run in order: configurationrules (issueproperty only),
 *   authorizationrules, issuancerules. add() extends the incoming set;
 *   issue() also puts the claim in the token; issueproperty() records a
 *   property and adds the claim to the incoming set.
 * - Authorization: every rule runs; any deny() that fires denies, whatever
 *   its position (fail closed); else at least one permit() must fire.
 * - Issuance: issuing one type twice makes an array.
 * - Functions (1.2) follow Azure's "claim rule functions": JSON values are
 *   string claims holding JSON text; JsonToClaimValue turns a JSON array
 *   into a set (add/issue of a set adds one claim per element, null adds
 *   nothing); inside ContainsOnlyValue and IsSubsetOf, `c.value` is the set
 *   of values of every claim that satisfies condition c. A function applied
 *   to the wrong kind of value stops the evaluation with
 *   POLICY_EVALUATION_ERROR (never a silently false condition, which could
 *   skip a deny()).
 */
import { KubeSgxError } from '../../errors.js';
import type { Action, Claim, ClaimValue, Policy, PolicyFunction, PropertyTest, Rule, SourcePos, ValueExpr, ValueType } from './ast.js';
import { liveSources, POLICY_LIMITS, testSources } from './limits.js';
import { parseJmesPath, searchJmesPath, type Json } from './jmespath.js';
import { propertySpec } from './properties.js';
import { assertJsonDepth } from '../encoding.js';

export interface PolicyOutcome {
  permitted: boolean;
  /** Why not, for the error message (which rule decided, or "no permit"). */
  reason?: string;
  /** Claims issued by issuancerules, for the token (top level, as MAA does). */
  issued: Record<string, ClaimValue | ClaimValue[]>;
  /** Properties set with issueproperty() (1.1+); kube-sgx reports them and acts on none. */
  properties: Record<string, ClaimValue>;
}

/** A value during evaluation: one claim value, a set (JsonToClaimValue of an array, or c.value inside a set function), or empty (JSON null). */
type Val = ClaimValue | ClaimValue[] | null;

type Bindings = Map<string, Claim>;
const NO_BINDINGS: Bindings = new Map();

function valueTypeOf(v: ClaimValue): ValueType {
  return typeof v === 'boolean' ? 'Boolean' : typeof v === 'number' ? 'Integer' : 'String';
}

function evalError(pos: SourcePos | undefined, message: string): KubeSgxError {
  return new KubeSgxError('POLICY_EVALUATION_ERROR', pos ? `policy line ${pos.line}, column ${pos.column}: ${message}` : message, { details: pos ? { line: pos.line, column: pos.column } : {} });
}

/** Per-evaluation state: the work budget and a cache of parsed JSON claim values. */
class Evaluation {
  private used = 0;
  private added = 0;
  /** Parsed JSON claim values, made on first use (most policies never parse any). */
  private json: Map<string, Json> | undefined;
  constructor(private readonly max: number) {}
  spend(n: number): void {
    this.used += n;
    if (this.used > this.max) {
      throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy evaluation stopped after ${this.max} claim comparisons: simplify the rules that join named conditions or query large JSON`, {
        details: { limit: 'maxEvaluationSteps', max: this.max },
      });
    }
  }
  countAdded(n: number): void {
    this.added += n;
    if (this.added > POLICY_LIMITS.maxAddedClaims) {
      throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy evaluation stopped: rules added more than ${POLICY_LIMITS.maxAddedClaims} claims`, {
        details: { limit: 'maxAddedClaims', max: POLICY_LIMITS.maxAddedClaims },
      });
    }
  }
  parseJson(text: string, pos: SourcePos): Json {
    const hit = this.json?.get(text);
    if (hit !== undefined) return hit;
    this.spend(Math.ceil(text.length / 16));
    let v: Json;
    try {
      v = JSON.parse(text) as Json;
    } catch {
      throw evalError(pos, 'a JSON argument is not valid JSON');
    }
    // JSON built inside the policy (AppendString) could nest deep enough to overflow the recursive steps after it.
    try {
      assertJsonDepth(v, 'a JSON argument');
    } catch {
      throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy line ${pos.line}, column ${pos.column}: a JSON argument nests arrays/objects too deep`, { details: { line: pos.line, column: pos.column, limit: 'jsonDepth' } });
    }
    (this.json ??= new Map()).set(text, v);
    return v;
  }
}

/** How a rule's references resolve while it is matched: the bound claim, or every claim meeting a condition. */
interface RefScope {
  value(ident: string): ClaimValue | undefined;
  set(ident: string): ClaimValue[] | undefined;
}

const EMPTY_SCOPE: RefScope = { value: () => undefined, set: () => undefined };

function single(v: Val, pos: SourcePos, what: string): ClaimValue | null {
  if (Array.isArray(v)) throw evalError(pos, `${what} takes one value, not a set of ${v.length}`);
  return v;
}

function asSet(v: Val): ClaimValue[] {
  return v === null ? [] : Array.isArray(v) ? v : [v];
}

function checkString(s: string, pos: SourcePos): string {
  if (s.length > POLICY_LIMITS.maxStringLength) {
    throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy line ${pos.line}, column ${pos.column}: a value of ${s.length} characters exceeds ${POLICY_LIMITS.maxStringLength}`, {
      details: { line: pos.line, column: pos.column, limit: 'maxStringLength', max: POLICY_LIMITS.maxStringLength },
    });
  }
  return s;
}

/** JsonToClaimValue: a JSON value → a claim value, a set, or empty. */
function jsonToClaimValue(v: Json, pos: SourcePos): Val {
  const one = (x: Json): ClaimValue | null => {
    if (x === null) return null;
    if (typeof x === 'number') {
      if (!Number.isSafeInteger(x)) throw evalError(pos, `JsonToClaimValue: ${x} is not an integer claim value`);
      return x;
    }
    if (typeof x === 'boolean' || typeof x === 'string') return x;
    throw evalError(pos, `JsonToClaimValue: JSON ${Array.isArray(x) ? 'arrays inside arrays' : 'objects'} have no claim value`);
  };
  if (!Array.isArray(v)) return one(v);
  if (v.length > POLICY_LIMITS.maxSetSize) {
    throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy line ${pos.line}, column ${pos.column}: JsonToClaimValue of an array of ${v.length} elements (at most ${POLICY_LIMITS.maxSetSize})`, {
      details: { line: pos.line, column: pos.column, limit: 'maxSetSize', max: POLICY_LIMITS.maxSetSize },
    });
  }
  const out: ClaimValue[] = [];
  for (const x of v) {
    const c = one(x);
    if (c !== null) out.push(c);
  }
  return out;
}

/** Functions whose arguments are sets: there `c.value` means every claim meeting condition c. */
const SET_ARGS: Partial<Record<PolicyFunction, readonly number[]>> = { ContainsOnlyValue: [0], IsSubsetOf: [0, 1] };

function evalExpr(e: ValueExpr, scope: RefScope, ev: Evaluation, asSetArg = false): Val {
  ev.spend(1);
  if (e.kind === 'literal') return e.value;
  if (e.kind === 'ref') {
    if (asSetArg) return scope.set(e.ident) ?? null;
    return scope.value(e.ident) ?? null;
  }
  const setArgs = SET_ARGS[e.fn] ?? [];
  const args = e.args.map((a, i) => evalExpr(a, scope, ev, setArgs.includes(i)));
  const str = (v: Val, what: string): string => {
    const s = single(v, e.pos, `${e.fn}()`);
    if (typeof s !== 'string') throw evalError(e.pos, `${e.fn}(): ${what} must be a string, found ${s === null ? 'an empty value' : valueTypeOf(s)}`);
    return s;
  };
  switch (e.fn) {
    case 'JmesPath': {
      const data = ev.parseJson(str(args[0]!, 'the JSON argument'), e.pos);
      const query = str(args[1]!, 'the query');
      // A query built from claims (AppendString) is parsed here, at evaluation: bounded like policy text, and charged.
      if (query.length > POLICY_LIMITS.maxTextLength) {
        throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy line ${e.pos.line}, column ${e.pos.column}: a JMESPath query of ${query.length} characters (at most ${POLICY_LIMITS.maxTextLength})`, {
          details: { line: e.pos.line, column: e.pos.column, limit: 'maxTextLength', max: POLICY_LIMITS.maxTextLength },
        });
      }
      ev.spend(Math.ceil(query.length / 16));
      let node;
      try {
        node = parseJmesPath(query);
      } catch (err) {
        if (err instanceof KubeSgxError) throw evalError(e.pos, err.message);
        throw err;
      }
      const result = searchJmesPath(node, data, (n) => ev.spend(n));
      const text = JSON.stringify(result);
      // Building strings costs their length: charged, so no policy can make megabytes per rule for free.
      ev.spend(Math.ceil(text.length / 16));
      return checkString(text, e.pos);
    }
    case 'JsonToClaimValue':
      return jsonToClaimValue(ev.parseJson(str(args[0]!, 'the argument'), e.pos), e.pos);
    case 'AppendString': {
      const joined = checkString(str(args[0]!, 'the first argument') + str(args[1]!, 'the second argument'), e.pos);
      ev.spend(Math.ceil(joined.length / 16));
      return joined;
    }
    case 'NegateBool': {
      const b = single(args[0]!, e.pos, 'NegateBool()');
      if (typeof b !== 'boolean') throw evalError(e.pos, 'NegateBool() takes a Boolean value');
      return !b;
    }
    case 'ContainsOnlyValue': {
      const set = asSet(args[0]!);
      const v = single(args[1]!, e.pos, 'the second argument of ContainsOnlyValue()');
      return set.length > 0 && set.every((x) => x === v);
    }
    case 'IsSubsetOf': {
      const sup = asSet(args[1]!);
      return asSet(args[0]!).every((x) => sup.includes(x));
    }
  }
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

/** A test's right-hand side as one value (undefined: empty, the test cannot hold). */
function operandValue(t: PropertyTest, scope: RefScope, ev: Evaluation): ClaimValue | undefined {
  if (t.operand.kind === 'literal') return t.operand.value;
  return single(evalExpr(t.operand, scope, ev), t.pos, `the ${t.property} comparison`) ?? undefined;
}

/** Per rule, computed once: which tests read an earlier condition's claim, and which claims each level must remember. */
interface RulePlan {
  /** Per condition: tests whose operand reads no condition (filter the claims once per evaluation). */
  literal: PropertyTest[][];
  /** Per condition: tests whose operand reads an earlier condition's claim. */
  joined: PropertyTest[][];
  live: number[][];
  /** For each name, the index of the last condition so named (what the action's references read). */
  named: Map<string, number>;
  /** No condition reads another and every operand is a literal: each condition is matched alone (the common case). */
  independent: boolean;
}

const plans = new WeakMap<Rule, RulePlan>();
function planOf(rule: Rule): RulePlan {
  let p = plans.get(rule);
  if (p) return p;
  const sources = testSources(rule.conditions);
  const named = new Map<string, number>();
  rule.conditions.forEach((c, i) => {
    if (c.ident !== undefined) named.set(c.ident, i);
  });
  p = {
    literal: rule.conditions.map((c, i) => c.tests.filter((_, k) => sources[i]![k]!.length === 0)),
    joined: rule.conditions.map((c, i) => c.tests.filter((_, k) => sources[i]![k]!.length > 0)),
    live: liveSources(rule.conditions),
    named,
    independent: rule.conditions.every((c) => c.tests.every((t) => t.operand.kind === 'literal')),
  };
  plans.set(rule, p);
  return p;
}

interface Match {
  bindings: Bindings;
  scope: RefScope;
}

function literalMatch(tests: readonly PropertyTest[], claim: Claim): boolean {
  for (const t of tests) if (!compare(t, claim, (t.operand as { value: ClaimValue }).value)) return false;
  return true;
}

/**
 * Rules whose conditions only compare with literals (the default policies,
 * Azure's samples): each condition takes its first matching claim, without
 * the search's allocations. Same result as the search: with nothing joined,
 * the first assignment is each condition's first match.
 */
function independentRuleFires(rule: Rule, plan: RulePlan, claims: readonly Claim[], ev: Evaluation): Match | undefined {
  const n = rule.conditions.length;
  ev.spend(n * claims.length);
  let chosen: number[] | undefined;
  for (let i = 0; i < n; i++) {
    const c = rule.conditions[i]!;
    let hit = -1;
    for (let k = 0; k < claims.length; k++) {
      if (literalMatch(c.tests, claims[k]!)) {
        hit = k;
        break;
      }
    }
    if (c.negated ? hit >= 0 : hit < 0) return undefined;
    if (c.ident !== undefined) (chosen ??= new Array<number>(n).fill(-1))[i] = hit;
  }
  if (!chosen) return { bindings: NO_BINDINGS, scope: EMPTY_SCOPE };
  const picked = chosen;
  const bindings: Bindings = new Map();
  for (const [ident, i] of plan.named) if (picked[i]! >= 0) bindings.set(ident, claims[picked[i]!]!);
  const scope: RefScope = {
    value: (ident) => bindings.get(ident)?.value,
    set: (ident) => {
      const j = plan.named.get(ident);
      if (j === undefined) return undefined;
      ev.spend(claims.length);
      return claims.filter((cl) => literalMatch(rule.conditions[j]!.tests, cl)).map((cl) => cl.value);
    },
  };
  return { bindings, scope };
}

/**
 * Returns the first satisfying assignment (conditions in order, claims in
 * set order), or undefined. Plain backtracking over assignments is
 * exponential in the number of conditions. Here each condition's literal
 * tests filter the claims once; the search then remembers, per condition
 * index, which choices of the claims still read later (liveSources) already
 * failed, so each (index, live choices) pair is explored once: conditions
 * nobody refers to are matched independently, and the work is at most
 * conditions × claims^(join width + 1), the width capped at parse time and
 * every comparison charged to the budget.
 */
function ruleFires(rule: Rule, claims: readonly Claim[], ev: Evaluation): Match | undefined {
  const n = rule.conditions.length;
  if (n === 0) return { bindings: NO_BINDINGS, scope: EMPTY_SCOPE };
  const plan = planOf(rule);
  if (plan.independent) return independentRuleFires(rule, plan, claims, ev);
  const candidates: number[][] = [];
  for (let i = 0; i < n; i++) {
    ev.spend(claims.length);
    const tests = plan.literal[i]!;
    const rhs = tests.map((t) => operandValue(t, EMPTY_SCOPE, ev));
    const list: number[] = [];
    if (!rhs.includes(undefined)) {
      for (let k = 0; k < claims.length; k++) {
        let ok = true;
        for (let x = 0; x < tests.length; x++) {
          if (!compare(tests[x]!, claims[k]!, rhs[x]!)) {
            ok = false;
            break;
          }
        }
        if (ok) list.push(k);
      }
    }
    // A condition no claim can meet: the rule cannot fire, whatever the joins.
    if (list.length === 0 && !rule.conditions[i]!.negated) return undefined;
    candidates.push(list);
  }
  const chosen = new Int32Array(n).fill(-1);
  // While matching condition i, a name resolves to the latest condition before i so named.
  let level = 0;
  const latestBefore = (ident: string, before: number): number => {
    for (let j = before - 1; j >= 0; j--) if (rule.conditions[j]!.ident === ident) return j;
    return -1;
  };
  /** Candidates of condition j that pass its joined tests under the current choices. */
  const matching = (j: number): number[] => {
    const joined = plan.joined[j]!;
    const saved = level;
    level = j;
    try {
      const rhs = joined.map((t) => operandValue(t, scope, ev));
      if (rhs.includes(undefined)) return [];
      const list = candidates[j]!;
      ev.spend(list.length);
      return list.filter((k) => joined.every((t, x) => compare(t, claims[k]!, rhs[x]!)));
    } finally {
      level = saved;
    }
  };
  const scope: RefScope = {
    value: (ident) => {
      const j = latestBefore(ident, level);
      return j >= 0 && chosen[j]! >= 0 ? claims[chosen[j]!]!.value : undefined;
    },
    set: (ident) => {
      const j = latestBefore(ident, level);
      return j >= 0 ? matching(j).map((k) => claims[k]!.value) : undefined;
    },
  };
  // Numeric keys (index, live choices): exact while n·(claims+1)^width < 2^53, which the parse-time limits keep.
  const failed = new Set<number>();
  const radix = claims.length + 1;
  const search = (i: number): boolean => {
    if (i === n) return true;
    let key = i;
    let scale = n;
    for (const j of plan.live[i]!) {
      key += (chosen[j]! + 1) * scale;
      scale *= radix;
    }
    if (failed.has(key)) return false;
    level = i;
    const hits = matching(i);
    if (rule.conditions[i]!.negated) {
      if (hits.length === 0 && search(i + 1)) return true;
    } else {
      for (const k of hits) {
        chosen[i] = k;
        if (search(i + 1)) return true;
      }
      chosen[i] = -1;
    }
    failed.add(key);
    return false;
  };
  if (!search(0)) return undefined;
  level = n;
  const bindings: Bindings = new Map();
  for (const [ident, i] of plan.named) if (chosen[i]! >= 0) bindings.set(ident, claims[chosen[i]!]!);
  return { bindings, scope };
}

/** The claims an add/issue/issueproperty action produces (none for an empty value; one per element of a set). */
function claimsFromAction(a: Extract<Action, { kind: 'issue' | 'add' | 'issueproperty' }>, m: Match, ev: Evaluation, pos: SourcePos): Claim[] {
  if ('ref' in a.claim) {
    const c = m.bindings.get(a.claim.ref);
    return c ? [{ ...c, issuer: 'AttestationPolicy' }] : [];
  }
  const v = evalExpr(a.claim.value, m.scope, ev);
  const values = asSet(v);
  const explicit = 'valueType' in a.claim ? a.claim.valueType : undefined;
  const out: Claim[] = [];
  for (const value of values) {
    const valueType = valueTypeOf(value);
    // An explicit valueType must agree with the value; a mismatch issues nothing.
    if (explicit !== undefined && explicit !== valueType) continue;
    if (typeof value === 'string') checkString(value, pos);
    out.push({ type: a.claim.type, value, valueType, issuer: 'AttestationPolicy' });
  }
  return out;
}

export function evaluatePolicy(policy: Policy, incoming: readonly Claim[], maxSteps: number = POLICY_LIMITS.maxEvaluationSteps): PolicyOutcome {
  try {
    return evaluateBounded(policy, incoming, maxSteps);
  } catch (e) {
    // The limits keep recursion shallow; should any path still overflow the stack, the answer is a typed refusal, not a 500.
    if (e instanceof RangeError) throw new KubeSgxError('POLICY_EVALUATION_LIMIT', `policy evaluation stopped: ${e.message}`, { details: { limit: 'stack' } });
    throw e;
  }
}

function evaluateBounded(policy: Policy, incoming: readonly Claim[], maxSteps: number): PolicyOutcome {
  const ev = new Evaluation(maxSteps);
  const claims: Claim[] = [...incoming];
  const properties: Record<string, ClaimValue> = {};
  const add = (cs: Claim[]) => {
    ev.countAdded(cs.length);
    for (const c of cs) claims.push(c);
  };
  const setProperty = (a: Extract<Action, { kind: 'issueproperty' }>, m: Match, pos: SourcePos) => {
    const v = single(evalExpr(a.claim.value, m.scope, ev), pos, 'issueproperty()');
    if (v === null) return;
    const spec = propertySpec(a.claim.type);
    if (!spec || valueTypeOf(v) !== spec.valueType) throw evalError(pos, `property ${a.claim.type} takes a ${spec?.valueType ?? 'known'} value, found ${valueTypeOf(v)}`);
    Object.defineProperty(properties, a.claim.type, { value: v, enumerable: true, writable: true, configurable: true });
    add([{ type: a.claim.type, value: v, valueType: spec.valueType, issuer: 'AttestationPolicy' }]);
  };

  for (const rule of policy.configurationRules) {
    const m = ruleFires(rule, claims, ev);
    if (m && rule.action.kind === 'issueproperty') setProperty(rule.action, m, rule.pos);
  }

  let permit = false;
  let deniedAt: number | undefined;
  for (const rule of policy.authorizationRules) {
    const m = ruleFires(rule, claims, ev);
    if (!m) continue;
    const a = rule.action;
    if (a.kind === 'deny') deniedAt ??= rule.pos.line;
    else if (a.kind === 'permit') permit = true;
    else if (a.kind === 'add' || a.kind === 'issue') add(claimsFromAction(a, m, ev, rule.pos));
  }
  if (deniedAt !== undefined) return { permitted: false, reason: `deny() at policy line ${deniedAt}`, issued: {}, properties };
  if (!permit) return { permitted: false, reason: 'no authorization rule permitted the evidence', issued: {}, properties };

  const issued: Record<string, ClaimValue | ClaimValue[]> = {};
  for (const rule of policy.issuanceRules) {
    const m = ruleFires(rule, claims, ev);
    if (!m) continue;
    const a = rule.action;
    if (a.kind === 'issueproperty') {
      setProperty(a, m, rule.pos);
      continue;
    }
    if (a.kind !== 'issue' && a.kind !== 'add') continue;
    const cs = claimsFromAction(a, m, ev, rule.pos);
    add(cs);
    if (a.kind !== 'issue') continue;
    for (const c of cs) {
      // Own properties only: an issued type such as "toString" must not find Object.prototype's.
      const prev = Object.hasOwn(issued, c.type) ? issued[c.type] : undefined;
      issued[c.type] = prev === undefined ? c.value : Array.isArray(prev) ? [...prev, c.value] : [prev, c.value];
    }
  }
  return { permitted: true, issued, properties };
}
