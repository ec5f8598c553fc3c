/**
 * Hard limits on a policy's size and shape, checked when a policy is parsed
 * (upload and draft), and the per-evaluation work budget. Together they
 * bound what one attestation can cost, whatever policy an attacker drafts.
 */
import type { Condition, SourcePos } from './ast.js';
import { KubeSgxError } from '../../errors.js';

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
  /** Claim/property-test comparisons one policy evaluation may make before it is stopped. */
  maxEvaluationSteps: 200_000,
} as const;

export type PolicyLimitName = keyof typeof POLICY_LIMITS;

export function limitError(limit: PolicyLimitName, at: SourcePos, message: string): KubeSgxError {
  return new KubeSgxError('POLICY_TOO_LARGE', `line ${at.line}, column ${at.column}: ${message}`, {
    details: { line: at.line, column: at.column, limit, max: POLICY_LIMITS[limit] },
  });
}

/** Where each test's operand reads an earlier condition: the index of the latest earlier condition with that name, per test. */
export function testSources(conditions: readonly Condition[]): Array<Array<number | undefined>> {
  return conditions.map((c, k) =>
    c.tests.map((t) => {
      if (t.operand.kind !== 'ref') return undefined;
      for (let j = k - 1; j >= 0; j--) if (conditions[j]!.ident === t.operand.ident) return j;
      return undefined;
    }),
  );
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
    for (const j of perTest) if (j !== undefined) lastUse.set(j, k);
  });
  const live: number[][] = [];
  for (let i = 0; i <= conditions.length; i++) {
    const held: number[] = [];
    for (const [j, last] of lastUse) if (j < i && last >= i) held.push(j);
    live.push(held.sort((a, b) => a - b));
  }
  return live;
}
