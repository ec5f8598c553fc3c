/**
 * Hard limits on a policy's size and shape, checked when a policy is parsed
 * (upload and draft), and the per-evaluation work budget. Together they
 * bound what one attestation can cost, whatever policy an attacker drafts.
 */
import type { Condition, SourcePos, ValueExpr } from './ast.js';
import { KubeSgxError } from '../../errors.js';
import { MAX_JSON_DEPTH } from '../encoding.js';

export const POLICY_LIMITS = {
  /** Characters of policy text. MAA's portal policies are a few KiB. */
  maxTextLength: 65_536,
  /** Rules in one section (configurationrules, authorizationrules, issuancerules). */
  maxRulesPerSection: 256,
  /** Conditions joined by && in one rule. */
  maxConditionsPerRule: 64,
  /** Property tests inside one [ … ]. */
  maxTestsPerCondition: 16,
  /**
   * Named conditions whose claims must be remembered at once while a rule is
   * matched (bound earlier, referenced later). Matching costs claims^(width+1)
   * per condition in the worst case, so this keeps it a small polynomial.
   */
  maxJoinWidth: 2,
  /** Function calls nested inside one another (policy 1.2). */
  maxCallDepth: 8,
  /** Array/object nesting of JSON in a policy (JmesPath's literal argument), as everywhere in the service. */
  maxJsonDepth: MAX_JSON_DEPTH,
  /** Claims add(), issue() and issueproperty() may add in one evaluation (a set from JsonToClaimValue counts each element). */
  maxAddedClaims: 4096,
  /** Elements of one set value (JsonToClaimValue of a JSON array). */
  maxSetSize: 1024,
  /** Characters of one string value a function builds (AppendString, JmesPath results). */
  maxStringLength: 1_048_576,
  /** Claim/property-test comparisons one policy evaluation may make before it is stopped. */
  maxEvaluationSteps: 200_000,
} as const;

export type PolicyLimitName = keyof typeof POLICY_LIMITS;

export function limitError(limit: PolicyLimitName, at: SourcePos, message: string): KubeSgxError {
  return new KubeSgxError('POLICY_TOO_LARGE', `line ${at.line}, column ${at.column}: ${message}`, {
    details: { line: at.line, column: at.column, limit, max: POLICY_LIMITS[limit] },
  });
}

/** Every `name.value` reference inside an expression (function arguments included). */
export function exprRefs(e: ValueExpr, out: Array<{ ident: string; pos: SourcePos }> = []): Array<{ ident: string; pos: SourcePos }> {
  if (e.kind === 'ref') out.push({ ident: e.ident, pos: e.pos });
  else if (e.kind === 'call') for (const a of e.args) exprRefs(a, out);
  return out;
}

/**
 * Per condition, per test: the conditions its operand reads (for each name,
 * the latest earlier condition so named). A reference inside a function
 * call may read the SET of claims meeting that condition, which depends on
 * the claims that condition itself reads: those count too, transitively.
 */
export function testSources(conditions: readonly Condition[]): number[][][] {
  const closure: number[][] = [];
  const out = conditions.map((c, k) => {
    const perTest = c.tests.map((t) => {
      const from: number[] = [];
      const addFrom = (j: number) => {
        if (!from.includes(j)) from.push(j);
      };
      for (const r of exprRefs(t.operand)) {
        for (let j = k - 1; j >= 0; j--) {
          if (conditions[j]!.ident === r.ident) {
            addFrom(j);
            if (t.operand.kind === 'call') for (const d of closure[j]!) addFrom(d);
            break;
          }
        }
      }
      return from;
    });
    const all: number[] = [];
    for (const from of perTest) for (const j of from) for (const d of [j, ...closure[j]!]) if (!all.includes(d)) all.push(d);
    closure.push(all);
    return perTest;
  });
  return out;
}

/**
 * For each condition index i (and i = length), the indices of conditions
 * before i whose matched claim a condition at i or later reads: the only
 * part of the earlier choices that can change whether conditions i… can
 * still be met. The evaluator memoizes failures on these; the parser
 * refuses rules where they are more than maxJoinWidth.
 */
export function liveSources(conditions: readonly Condition[]): number[][] {
  const sources = testSources(conditions);
  const lastUse = new Map<number, number>();
  sources.forEach((perTest, k) => {
    for (const from of perTest) for (const j of from) lastUse.set(j, k);
  });
  const live: number[][] = [];
  for (let i = 0; i <= conditions.length; i++) {
    const held: number[] = [];
    for (const [j, last] of lastUse) if (j < i && last >= i) held.push(j);
    live.push(held.sort((a, b) => a - b));
  }
  return live;
}
