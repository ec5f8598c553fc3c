/**
 * Secret release policies in Azure Key Vault's secure-key-release grammar:
 *
 *   {"version": "1.0.0", "anyOf": [{"authority": "<iss>", "allOf": [
 *      {"claim": "x-ms-sgx-mrsigner", "equals": "<hex>"},
 *      {"claim": "x-ms-sgx-svn", "greaterOrEquals": 2},
 *      {"anyOf": [ … ]} ]}]}
 *
 * Conditions are evaluated against the verified token claims. `authority`
 * must equal the token's `iss` (this service's issuer). A missing claim fails
 * its condition (except `exists: false`); dot paths walk objects; no array
 * indexing; objects are never values. Unknown keys are refused at upload.
 */
import { KubeSgxError } from '../errors.js';

export type Scalar = string | number | boolean;
const OPS = ['equals', 'notEquals', 'greater', 'greaterOrEquals', 'less', 'lessOrEquals', 'exists'] as const;
type Op = (typeof OPS)[number];

export type ReleaseCondition =
  | { claim: string; op: Op; value: Scalar }
  | { allOf: ReleaseCondition[] }
  | { anyOf: ReleaseCondition[] };

export interface ReleaseAuthority {
  authority: string;
  mode: 'allOf' | 'anyOf';
  conditions: ReleaseCondition[];
}

export interface ReleasePolicy {
  version: string;
  anyOf: ReleaseAuthority[];
}

const MAX_DEPTH = 8;

function bad(path: (string | number)[], message: string): never {
  throw new KubeSgxError('RELEASE_POLICY_INVALID', `${path.join('.') || 'policy'}: ${message}`, { path });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseConditionList(v: unknown, path: (string | number)[], depth: number): ReleaseCondition[] {
  if (!Array.isArray(v) || v.length === 0) bad(path, 'must be a non-empty array of conditions');
  return v.map((c, i) => parseCondition(c, [...path, i], depth));
}

function parseCondition(v: unknown, path: (string | number)[], depth: number): ReleaseCondition {
  if (depth > MAX_DEPTH) bad(path, `conditions nest deeper than ${MAX_DEPTH}`);
  if (!isObject(v)) bad(path, 'a condition must be an object');
  const keys = Object.keys(v);
  if ('allOf' in v || 'anyOf' in v) {
    if (keys.length !== 1) bad(path, 'a nested condition has exactly one key, allOf or anyOf');
    return 'allOf' in v ? { allOf: parseConditionList(v.allOf, [...path, 'allOf'], depth + 1) } : { anyOf: parseConditionList(v.anyOf, [...path, 'anyOf'], depth + 1) };
  }
  if (typeof v.claim !== 'string' || v.claim.length === 0) bad([...path, 'claim'], 'must be a non-empty string');
  const ops = keys.filter((k) => k !== 'claim');
  if (ops.length !== 1) bad(path, `a claim condition has exactly one operator (${OPS.join(', ')})`);
  const op = ops[0]!;
  if (!(OPS as readonly string[]).includes(op)) bad([...path, op], `unknown operator (${OPS.join(', ')})`);
  const value = v[op];
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') bad([...path, op], 'must be a string, number or boolean');
  if (op === 'exists' && typeof value !== 'boolean') bad([...path, op], 'exists takes true or false');
  if (['greater', 'greaterOrEquals', 'less', 'lessOrEquals'].includes(op) && typeof value !== 'number') bad([...path, op], `${op} takes a number`);
  return { claim: v.claim, op: op as Op, value };
}

export function parseReleasePolicy(input: unknown): ReleasePolicy {
  let v = input;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch (e) {
      throw new KubeSgxError('RELEASE_POLICY_INVALID', `release policy is not JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!isObject(v)) bad([], 'must be a JSON object');
  for (const k of Object.keys(v)) if (k !== 'version' && k !== 'anyOf') bad([k], 'unknown key (version, anyOf)');
  if (typeof v.version !== 'string' || !/^1\.\d+\.\d+$/.test(v.version)) bad(['version'], 'must be "1.0.0"');
  if (!Array.isArray(v.anyOf) || v.anyOf.length === 0) bad(['anyOf'], 'must be a non-empty array of authorities');
  const anyOf = v.anyOf.map((a: unknown, i: number): ReleaseAuthority => {
    const path = ['anyOf', i];
    if (!isObject(a)) bad(path, 'an authority must be an object');
    for (const k of Object.keys(a)) if (!['authority', 'allOf', 'anyOf'].includes(k)) bad([...path, k], 'unknown key (authority, allOf, anyOf)');
    if (typeof a.authority !== 'string' || a.authority === '') bad([...path, 'authority'], 'must be the issuer URL');
    if (('allOf' in a) === ('anyOf' in a)) bad(path, 'an authority has exactly one of allOf and anyOf');
    const mode = 'allOf' in a ? 'allOf' : 'anyOf';
    return { authority: a.authority.replace(/\/+$/, ''), mode, conditions: parseConditionList(a[mode], [...path, mode], 1) };
  });
  return { version: v.version, anyOf };
}

/**
 * The claim at `path`, own properties only: `in` would also see
 * Object.prototype, making `{"claim": "toString", "exists": true}` true for
 * every token.
 */
function lookup(claims: Record<string, unknown>, path: string): unknown {
  // A claim name may itself contain dots (rare): try the whole name first.
  if (Object.hasOwn(claims, path)) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (!isObject(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function holds(c: ReleaseCondition, claims: Record<string, unknown>): boolean {
  if ('allOf' in c) return c.allOf.every((x) => holds(x, claims));
  if ('anyOf' in c) return c.anyOf.some((x) => holds(x, claims));
  const actual = lookup(claims, c.claim);
  if (c.op === 'exists') return (actual !== undefined && actual !== null) === c.value;
  if (actual === undefined || actual === null || typeof actual === 'object') return false;
  switch (c.op) {
    case 'equals':
      return scalarEquals(actual as Scalar, c.value);
    case 'notEquals':
      return !scalarEquals(actual as Scalar, c.value);
    default: {
      if (typeof actual !== 'number' || typeof c.value !== 'number') return false;
      if (c.op === 'greater') return actual > c.value;
      if (c.op === 'greaterOrEquals') return actual >= c.value;
      if (c.op === 'less') return actual < c.value;
      return actual <= c.value;
    }
  }
}

/** Hex identities compare case-insensitively (MAA emits lowercase, policies are often uppercase). */
function scalarEquals(a: Scalar, b: Scalar): boolean {
  if (typeof a === 'string' && typeof b === 'string' && /^[0-9a-fA-F]+$/.test(a) && /^[0-9a-fA-F]+$/.test(b)) return a.toLowerCase() === b.toLowerCase();
  return a === b;
}

export function evaluateReleasePolicy(policy: ReleasePolicy, claims: Record<string, unknown>): boolean {
  const iss = typeof claims.iss === 'string' ? claims.iss.replace(/\/+$/, '') : undefined;
  return policy.anyOf.some((a) => {
    if (a.authority !== iss) return false;
    return a.mode === 'allOf' ? a.conditions.every((c) => holds(c, claims)) : a.conditions.some((c) => holds(c, claims));
  });
}
