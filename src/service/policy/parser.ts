/**
 * Recursive-descent parser for MAA policy version 1.0. The supported subset
 * is exactly what this file accepts; everything else (1.1 configuration
 * rules, 1.2 functions and `!`, `||`, issueproperty, comments, unknown
 * properties) is refused with POLICY_UNSUPPORTED at its line and column —
 * never skipped, so a policy never silently means less than it says.
 */
import { KubeSgxError } from '../../errors.js';
import { policyError, tokenize, type Token } from './lexer.js';
import { liveSources, limitError, POLICY_LIMITS } from './limits.js';
import type { Action, ClaimValue, CompareOp, Condition, Policy, PropertyTest, Rule, SourcePos, ValueExpr, ValueType } from './ast.js';

/** Claim names the service owns: policies may test them but not issue or add them. */
const RESERVED_PREFIXES = ['x-ms-', 'x-kube-sgx-'];
// `__proto__` could never become an own claim of a plain object: refused rather than silently dropped.
const RESERVED_NAMES = new Set(['iss', 'iat', 'nbf', 'exp', 'jti', 'nonce', 'cnf', '__proto__']);

export function isReservedClaimType(type: string): boolean {
  return RESERVED_NAMES.has(type) || RESERVED_PREFIXES.some((p) => type.toLowerCase().startsWith(p));
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private get cur(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    const t = this.toks[this.i]!;
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  private atEof(): boolean {
    return this.toks[this.i]!.kind === 'eof';
  }
  private isPunct(p: string): boolean {
    return this.cur.kind === 'punct' && this.cur.text === p;
  }
  private isWord(w: string): boolean {
    return this.cur.kind === 'ident' && this.cur.text.toLowerCase() === w.toLowerCase();
  }
  private describe(t: Token): string {
    return t.kind === 'eof' ? 'end of policy' : t.kind === 'string' ? `string "${t.text}"` : `"${t.text}"`;
  }
  private expectPunct(p: string, context: string): Token {
    if (!this.isPunct(p)) {
      const t = this.cur;
      if (p === '==' && t.kind === 'punct' && t.text === '=') {
        throw policyError('POLICY_SYNTAX', t, `"=" in a claim condition: comparisons use "=="`);
      }
      if (t.kind === 'punct' && t.text === '||') throw policyError('POLICY_UNSUPPORTED', t, '"||" is not part of policy 1.0: write one rule per alternative');
      throw policyError('POLICY_SYNTAX', t, `expected "${p}" ${context}, found ${this.describe(t)}`);
    }
    return this.next();
  }
  private expectWord(w: string, context: string): Token {
    if (!this.isWord(w)) throw policyError('POLICY_SYNTAX', this.cur, `expected "${w}" ${context}, found ${this.describe(this.cur)}`);
    return this.next();
  }

  parsePolicy(): Policy {
    this.expectWord('version', 'at the start of the policy');
    this.expectPunct('=', 'after "version"');
    const v = this.cur;
    if (v.kind !== 'number' && v.kind !== 'integer') throw policyError('POLICY_SYNTAX', v, `expected a version number, found ${this.describe(v)}`);
    if (v.text !== '1.0') throw policyError('POLICY_UNSUPPORTED', v, `policy version ${v.text} is not supported (only 1.0)`);
    this.next();
    this.expectPunct(';', 'after the version');
    const policy: Policy = { version: '1.0', authorizationRules: [], issuanceRules: [] };
    const seen = new Set<string>();
    while (this.cur.kind !== 'eof') {
      const t = this.cur;
      if (t.kind !== 'ident') throw policyError('POLICY_SYNTAX', t, `expected a section name, found ${this.describe(t)}`);
      const name = t.text.toLowerCase();
      if (name === 'configurationrules') throw policyError('POLICY_UNSUPPORTED', t, 'configurationrules belong to policy 1.1, which is not supported');
      if (name !== 'authorizationrules' && name !== 'issuancerules') {
        throw policyError('POLICY_SYNTAX', t, `unknown section "${t.text}" (expected authorizationrules or issuancerules)`);
      }
      if (seen.has(name)) throw policyError('POLICY_SYNTAX', t, `section ${t.text} appears twice`);
      seen.add(name);
      this.next();
      this.expectPunct('{', `after ${t.text}`);
      const rules: Rule[] = [];
      while (!this.isPunct('}')) {
        if (this.atEof()) throw policyError('POLICY_SYNTAX', this.cur, `missing "}" closing ${t.text}`);
        if (rules.length === POLICY_LIMITS.maxRulesPerSection) {
          throw limitError('maxRulesPerSection', this.cur, `${t.text} has more than ${POLICY_LIMITS.maxRulesPerSection} rules`);
        }
        rules.push(this.parseRule(name === 'authorizationrules' ? 'authorization' : 'issuance'));
      }
      this.next();
      this.expectPunct(';', `after the closing "}" of ${t.text}`);
      if (name === 'authorizationrules') policy.authorizationRules = rules;
      else policy.issuanceRules = rules;
    }
    if (!seen.has('authorizationrules')) throw policyError('POLICY_SYNTAX', this.cur, 'the policy has no authorizationrules section');
    return policy;
  }

  private parseRule(section: 'authorization' | 'issuance'): Rule {
    const pos = this.pos();
    const conditions: Condition[] = [];
    if (!this.isPunct('=>')) {
      conditions.push(this.parseCondition());
      while (this.isPunct('&&')) {
        this.next();
        if (conditions.length === POLICY_LIMITS.maxConditionsPerRule) {
          throw limitError('maxConditionsPerRule', this.cur, `a rule has more than ${POLICY_LIMITS.maxConditionsPerRule} conditions`);
        }
        conditions.push(this.parseCondition());
      }
    }
    this.checkJoinWidth(conditions);
    this.expectPunct('=>', 'between the conditions and the action');
    const action = this.parseAction(section, conditions);
    // MAA's grammar ends each rule with ";" (some published examples omit it).
    if (this.isPunct(';')) this.next();
    else if (!this.isPunct('}') && !this.isPunct('[') && !(this.cur.kind === 'ident')) {
      throw policyError('POLICY_SYNTAX', this.cur, `expected ";" after the action, found ${this.describe(this.cur)}`);
    }
    return { conditions, action, pos };
  }

  /** Refuses a rule whose matching would have to remember too many named claims at once (see limits.ts). */
  private checkJoinWidth(conditions: Condition[]): void {
    const live = liveSources(conditions);
    for (let i = 0; i < conditions.length; i++) {
      if (live[i]!.length > POLICY_LIMITS.maxJoinWidth) {
        const at = conditions[i]!.pos;
        const names = live[i]!.map((j) => conditions[j]!.ident ?? '?').join(', ');
        throw new KubeSgxError('POLICY_TOO_COMPLEX', `line ${at.line}, column ${at.column}: this condition is matched while ${live[i]!.length} named conditions (${names}) are still referenced later in the rule; at most ${POLICY_LIMITS.maxJoinWidth} may be (split the rule, using add() for intermediate claims)`, {
          details: { line: at.line, column: at.column, limit: 'maxJoinWidth', max: POLICY_LIMITS.maxJoinWidth },
        });
      }
    }
  }

  private pos(): SourcePos {
    return { line: this.cur.line, column: this.cur.column };
  }

  private parseCondition(): Condition {
    const pos = this.pos();
    let ident: string | undefined;
    if (this.isPunct('!')) throw policyError('POLICY_UNSUPPORTED', this.cur, '"![…]" (no claim matches) belongs to policy 1.2, which is not supported');
    if (this.cur.kind === 'ident') {
      const id = this.next();
      if (!this.isPunct(':')) {
        if (this.isPunct('(')) throw policyError('POLICY_UNSUPPORTED', id, `function "${id.text}" is not supported (functions belong to policy 1.2)`);
        throw policyError('POLICY_SYNTAX', this.cur, `expected ":" after the condition name "${id.text}"`);
      }
      this.next();
      ident = id.text;
    }
    this.expectPunct('[', 'to open a claim condition');
    const tests: PropertyTest[] = [this.parseTest()];
    while (this.isPunct(',')) {
      this.next();
      if (tests.length === POLICY_LIMITS.maxTestsPerCondition) {
        throw limitError('maxTestsPerCondition', this.cur, `a condition has more than ${POLICY_LIMITS.maxTestsPerCondition} property tests`);
      }
      tests.push(this.parseTest());
    }
    this.expectPunct(']', 'to close the claim condition');
    return ident === undefined ? { tests, pos } : { ident, tests, pos };
  }

  private parseTest(): PropertyTest {
    const t = this.cur;
    if (t.kind !== 'ident') throw policyError('POLICY_SYNTAX', t, `expected a claim property (type, value, valueType, issuer), found ${this.describe(t)}`);
    const name = t.text;
    const property = (['type', 'value', 'issuer', 'valueType'] as const).find((p) => p.toLowerCase() === name.toLowerCase());
    if (!property) throw policyError('POLICY_UNSUPPORTED', t, `claim property "${name}" is not supported (type, value, valueType, issuer)`);
    this.next();
    const opTok = this.cur;
    const op = (['==', '!=', '<', '<=', '>', '>='] as const).find((o) => this.isPunct(o));
    if (!op) {
      if (this.isPunct('=')) throw policyError('POLICY_SYNTAX', opTok, `"=" in a claim condition: comparisons use "=="`);
      throw policyError('POLICY_SYNTAX', opTok, `expected a comparison operator after "${name}", found ${this.describe(opTok)}`);
    }
    this.next();
    const operand = this.parseValueExpr();
    if (property !== 'value' && operand.kind === 'literal' && typeof operand.value !== 'string') {
      throw policyError('POLICY_SYNTAX', opTok, `${property} is compared with a string`);
    }
    if (op !== '==' && op !== '!=') {
      if (property !== 'value') throw policyError('POLICY_SYNTAX', opTok, `"${op}" applies to integer values only`);
      if (operand.kind === 'literal' && typeof operand.value !== 'number') {
        throw policyError('POLICY_SYNTAX', opTok, `"${op}" applies to integer values only; strings and booleans support == and !=`);
      }
    }
    if (property === 'valueType' && operand.kind === 'literal' && !['String', 'Integer', 'Boolean'].includes(String(operand.value))) {
      throw policyError('POLICY_SYNTAX', opTok, `valueType must be "String", "Integer" or "Boolean"`);
    }
    return { property, op: op as CompareOp, operand, pos: { line: t.line, column: t.column } };
  }

  private parseValueExpr(): ValueExpr {
    const t = this.cur;
    if (t.kind === 'string') {
      this.next();
      return { kind: 'literal', value: t.text };
    }
    if (t.kind === 'integer') {
      this.next();
      const n = Number(t.text);
      if (!Number.isSafeInteger(n)) throw policyError('POLICY_SYNTAX', t, `integer ${t.text} is out of range`);
      return { kind: 'literal', value: n };
    }
    if (t.kind === 'number') throw policyError('POLICY_SYNTAX', t, `${t.text} is not an integer (values are String, Integer or Boolean)`);
    if (t.kind === 'ident') {
      const lower = t.text.toLowerCase();
      this.next();
      if (lower === 'true' || lower === 'false') return { kind: 'literal', value: lower === 'true' };
      if (this.isPunct('.')) {
        this.next();
        const prop = this.cur;
        if (!(prop.kind === 'ident' && prop.text.toLowerCase() === 'value')) {
          throw policyError('POLICY_UNSUPPORTED', prop, `only "${t.text}.value" can be referenced`);
        }
        this.next();
        return { kind: 'ref', ident: t.text, pos: { line: t.line, column: t.column } };
      }
      if (this.isPunct('(')) throw policyError('POLICY_UNSUPPORTED', t, `function "${t.text}" is not supported (functions belong to policy 1.2)`);
      throw policyError('POLICY_SYNTAX', t, `"${t.text}" is not a value: use a "string", an integer, true, false or name.value`);
    }
    throw policyError('POLICY_SYNTAX', t, `expected a value, found ${this.describe(t)}`);
  }

  private parseAction(section: 'authorization' | 'issuance', conditions: Condition[]): Action {
    const t = this.cur;
    if (t.kind !== 'ident') throw policyError('POLICY_SYNTAX', t, `expected an action, found ${this.describe(t)}`);
    const name = t.text.toLowerCase();
    this.next();
    const idents = new Set(conditions.map((c) => c.ident).filter((x): x is string => x !== undefined));
    const checkRef = (e: ValueExpr) => {
      if (e.kind === 'ref' && !idents.has(e.ident)) throw policyError('POLICY_SYNTAX', e.pos, `"${e.ident}" names no condition of this rule`);
    };
    for (const c of conditions) {
      for (const test of c.tests) {
        // A reference inside a condition must name an earlier condition.
        if (test.operand.kind === 'ref') {
          const earlier = conditions.slice(0, conditions.indexOf(c)).some((x) => x.ident === (test.operand as { ident: string }).ident);
          if (!earlier) throw policyError('POLICY_SYNTAX', test.operand.pos, `"${test.operand.ident}" must name an earlier condition of this rule`);
        }
      }
    }
    if (name === 'permit' || name === 'deny') {
      if (section !== 'authorization') throw policyError('POLICY_SYNTAX', t, `${name}() is only allowed in authorizationrules`);
      this.expectPunct('(', `after ${t.text}`);
      this.expectPunct(')', `: ${t.text}() takes no arguments`);
      return { kind: name };
    }
    if (name === 'issue' || name === 'add') {
      if (name === 'issue' && section !== 'issuance') throw policyError('POLICY_SYNTAX', t, 'issue() is only allowed in issuancerules (use add() in authorizationrules)');
      this.expectPunct('(', `after ${t.text}`);
      const args = new Map<string, { expr: ValueExpr; pos: SourcePos }>();
      for (;;) {
        const k = this.cur;
        if (k.kind !== 'ident') throw policyError('POLICY_SYNTAX', k, `expected an argument name (type, value, valueType, claim), found ${this.describe(k)}`);
        const key = (['type', 'value', 'valueType', 'claim'] as const).find((x) => x.toLowerCase() === k.text.toLowerCase());
        if (!key) throw policyError('POLICY_UNSUPPORTED', k, `argument "${k.text}" is not supported (type, value, valueType, claim)`);
        if (args.has(key)) throw policyError('POLICY_SYNTAX', k, `argument ${key} given twice`);
        this.next();
        this.expectPunct('=', `after ${key}`);
        if (key === 'claim') {
          const r = this.cur;
          if (r.kind !== 'ident') throw policyError('POLICY_SYNTAX', r, 'claim= takes the name of a condition');
          this.next();
          args.set(key, { expr: { kind: 'ref', ident: r.text, pos: { line: r.line, column: r.column } }, pos: { line: k.line, column: k.column } });
        } else {
          args.set(key, { expr: this.parseValueExpr(), pos: { line: k.line, column: k.column } });
        }
        if (this.isPunct(',')) {
          this.next();
          continue;
        }
        this.expectPunct(')', `to close ${t.text}(`);
        break;
      }
      const claimArg = args.get('claim');
      if (claimArg) {
        if (args.size > 1) throw policyError('POLICY_SYNTAX', claimArg.pos, 'claim= cannot be combined with other arguments');
        checkRef(claimArg.expr);
        return { kind: name, claim: { ref: (claimArg.expr as { ident: string }).ident } };
      }
      const typeArg = args.get('type');
      const valueArg = args.get('value');
      if (!typeArg || !valueArg) throw policyError('POLICY_SYNTAX', t, `${t.text}() needs type= and value= (or claim=)`);
      if (typeArg.expr.kind !== 'literal' || typeof typeArg.expr.value !== 'string') throw policyError('POLICY_SYNTAX', typeArg.pos, 'type= takes a string');
      if (isReservedClaimType(typeArg.expr.value)) {
        throw policyError('POLICY_UNSUPPORTED', typeArg.pos, `claim type "${typeArg.expr.value}" is reserved for the service`);
      }
      checkRef(valueArg.expr);
      let valueType: ValueType | undefined;
      const vt = args.get('valueType');
      if (vt) {
        if (vt.expr.kind !== 'literal' || !['String', 'Integer', 'Boolean'].includes(String(vt.expr.value))) {
          throw policyError('POLICY_SYNTAX', vt.pos, 'valueType= takes "String", "Integer" or "Boolean"');
        }
        valueType = vt.expr.value as ValueType;
      }
      const claim = { type: typeArg.expr.value, value: valueArg.expr, ...(valueType ? { valueType } : {}) };
      return { kind: name, claim };
    }
    if (name === 'issueproperty') throw policyError('POLICY_UNSUPPORTED', t, 'issueproperty() belongs to policy 1.1, which is not supported');
    throw policyError('POLICY_SYNTAX', t, `unknown action "${t.text}" (permit, deny, issue, add)`);
  }
}

/** Parses policy text; throws POLICY_SYNTAX / POLICY_UNSUPPORTED with line and column. */
export function parsePolicy(text: string): Policy {
  if (text.length > POLICY_LIMITS.maxTextLength) {
    const before = text.slice(0, POLICY_LIMITS.maxTextLength);
    const line = before.split('\n').length;
    const column = POLICY_LIMITS.maxTextLength - before.lastIndexOf('\n');
    throw limitError('maxTextLength', { line, column }, `the policy is ${text.length} characters long; at most ${POLICY_LIMITS.maxTextLength} are accepted`);
  }
  return new Parser(tokenize(text)).parsePolicy();
}

export type { ClaimValue };
