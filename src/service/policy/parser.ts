/**
 * Recursive-descent parser for MAA policy versions 1.0, 1.1 and 1.2. The
 * language accepted is exactly what this file accepts; anything else is
 * refused at its line and column — never skipped, so a policy never silently
 * means less than it says:
 * - 1.1 adds `configurationrules` and `issueproperty(type=, value=)` with the
 *   property names in properties.ts (others: POLICY_UNKNOWN_PROPERTY);
 * - 1.2 adds `![…]` and the claim-rule functions (unknown names:
 *   POLICY_UNKNOWN_FUNCTION); literal JmesPath queries are parsed here too.
 * Features of a later version in an earlier one are POLICY_UNSUPPORTED, as
 * are `||`, block comments, other claim properties and action arguments.
 */
import { KubeSgxError } from '../../errors.js';
import { policyError, tokenize, type Token } from './lexer.js';
import { exprRefs, liveSources, limitError, POLICY_LIMITS } from './limits.js';
import { propertySpec, POLICY_PROPERTIES } from './properties.js';
import { parseJmesPath } from './jmespath.js';
import { assertJsonDepth } from '../encoding.js';
import { POLICY_FUNCTIONS, type Action, type ClaimValue, type CompareOp, type Condition, type Policy, type PolicyFunction, type PolicyVersion, type PropertyTest, type Rule, type SourcePos, type ValueExpr, type ValueType } from './ast.js';

/** Claim names the service owns: policies may test them but not issue or add them. */
const RESERVED_PREFIXES = ['x-ms-', 'x-kube-sgx-'];
// `__proto__` could never become an own claim of a plain object: refused rather than silently dropped.
const RESERVED_NAMES = new Set(['iss', 'iat', 'nbf', 'exp', 'jti', 'nonce', 'cnf', '__proto__']);

export function isReservedClaimType(type: string): boolean {
  return RESERVED_NAMES.has(type) || RESERVED_PREFIXES.some((p) => type.toLowerCase().startsWith(p));
}

type Section = 'configuration' | 'authorization' | 'issuance';
const VERSIONS: readonly PolicyVersion[] = ['1.0', '1.1', '1.2'];

class Parser {
  private i = 0;
  private version: PolicyVersion = '1.0';
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
      if (t.kind === 'punct' && t.text === '||') throw policyError('POLICY_UNSUPPORTED', t, '"||" is not part of the MAA policy language: write one rule per alternative');
      throw policyError('POLICY_SYNTAX', t, `expected "${p}" ${context}, found ${this.describe(t)}`);
    }
    return this.next();
  }
  private expectWord(w: string, context: string): Token {
    if (!this.isWord(w)) throw policyError('POLICY_SYNTAX', this.cur, `expected "${w}" ${context}, found ${this.describe(this.cur)}`);
    return this.next();
  }
  /** Refuses a construct of a later language version than the policy declares. */
  private requireVersion(min: PolicyVersion, at: SourcePos, what: string): void {
    if (VERSIONS.indexOf(this.version) < VERSIONS.indexOf(min)) {
      throw policyError('POLICY_UNSUPPORTED', at, `${what} belongs to policy ${min} (this policy declares version=${this.version})`);
    }
  }

  parsePolicy(): Policy {
    this.expectWord('version', 'at the start of the policy');
    this.expectPunct('=', 'after "version"');
    const v = this.cur;
    if (v.kind !== 'number' && v.kind !== 'integer') throw policyError('POLICY_SYNTAX', v, `expected a version number, found ${this.describe(v)}`);
    const version = VERSIONS.find((x) => x === v.text);
    if (!version) throw policyError('POLICY_UNSUPPORTED', v, `policy version ${v.text} is not supported (1.0, 1.1, 1.2)`);
    this.version = version;
    this.next();
    this.expectPunct(';', 'after the version');
    const policy: Policy = { version, configurationRules: [], authorizationRules: [], issuanceRules: [] };
    const seen = new Set<string>();
    while (this.cur.kind !== 'eof') {
      const t = this.cur;
      if (t.kind !== 'ident') throw policyError('POLICY_SYNTAX', t, `expected a section name, found ${this.describe(t)}`);
      const name = t.text.toLowerCase();
      const section: Section | undefined = name === 'configurationrules' ? 'configuration' : name === 'authorizationrules' ? 'authorization' : name === 'issuancerules' ? 'issuance' : undefined;
      if (!section) throw policyError('POLICY_SYNTAX', t, `unknown section "${t.text}" (expected configurationrules, authorizationrules or issuancerules)`);
      if (section === 'configuration') this.requireVersion('1.1', t, 'configurationrules');
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
        rules.push(this.parseRule(section));
      }
      this.next();
      this.expectPunct(';', `after the closing "}" of ${t.text}`);
      if (section === 'configuration') policy.configurationRules = rules;
      else if (section === 'authorization') policy.authorizationRules = rules;
      else policy.issuanceRules = rules;
    }
    if (!seen.has('authorizationrules')) throw policyError('POLICY_SYNTAX', this.cur, 'the policy has no authorizationrules section');
    return policy;
  }

  private parseRule(section: Section): Rule {
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
    this.checkConditionRefs(conditions);
    this.checkJoinWidth(conditions);
    this.expectPunct('=>', 'between the conditions and the action');
    const action = this.parseAction(section, conditions);
    // MAA's grammar ends each rule with ";" (some published examples omit it).
    if (this.isPunct(';')) this.next();
    else if (!this.isPunct('}') && !this.isPunct('[') && !this.isPunct('!') && !(this.cur.kind === 'ident')) {
      throw policyError('POLICY_SYNTAX', this.cur, `expected ";" after the action, found ${this.describe(this.cur)}`);
    }
    return { conditions, action, pos };
  }

  /** A reference inside a condition must name an earlier, non-negated condition of the rule. */
  private checkConditionRefs(conditions: Condition[]): void {
    conditions.forEach((c, k) => {
      for (const t of c.tests) {
        for (const r of exprRefs(t.operand)) {
          if (!conditions.slice(0, k).some((x) => x.ident === r.ident)) throw policyError('POLICY_SYNTAX', r.pos, `"${r.ident}" must name an earlier condition of this rule`);
        }
      }
    });
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
    let negated = false;
    if (this.isPunct('!')) {
      this.requireVersion('1.2', pos, '"![…]" (no claim matches)');
      this.next();
      negated = true;
      if (this.cur.kind === 'ident') throw policyError('POLICY_SYNTAX', this.cur, 'a negated condition "![…]" matches no claim, so it cannot be named');
    }
    if (this.cur.kind === 'ident') {
      const id = this.next();
      if (!this.isPunct(':')) {
        if (this.isPunct('(')) throw policyError('POLICY_SYNTAX', id, `a function call "${id.text}(…)" cannot stand as a condition: compare it inside [ … ]`);
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
    const c: Condition = { tests, pos };
    if (ident !== undefined) c.ident = ident;
    if (negated) c.negated = true;
    return c;
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
    const operand = this.parseValueExpr(0);
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

  private parseValueExpr(depth: number): ValueExpr {
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
      if (this.isPunct('(')) return this.parseCall(t, depth);
      throw policyError('POLICY_SYNTAX', t, `"${t.text}" is not a value: use a "string", an integer, true, false or name.value`);
    }
    throw policyError('POLICY_SYNTAX', t, `expected a value, found ${this.describe(t)}`);
  }

  private parseCall(name: Token, depth: number): ValueExpr {
    const pos = { line: name.line, column: name.column };
    const fn = (Object.keys(POLICY_FUNCTIONS) as PolicyFunction[]).find((f) => f.toLowerCase() === name.text.toLowerCase());
    if (!fn) {
      throw new KubeSgxError('POLICY_UNKNOWN_FUNCTION', `line ${pos.line}, column ${pos.column}: unknown function "${name.text}" (${Object.keys(POLICY_FUNCTIONS).join(', ')})`, { details: { ...pos, function: name.text } });
    }
    this.requireVersion('1.2', pos, `function "${name.text}"`);
    if (depth + 1 > POLICY_LIMITS.maxCallDepth) throw limitError('maxCallDepth', pos, `function calls are nested more than ${POLICY_LIMITS.maxCallDepth} deep`);
    this.next(); // (
    const args: ValueExpr[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        args.push(this.parseValueExpr(depth + 1));
        if (!this.isPunct(',')) break;
        this.next();
      }
    }
    this.expectPunct(')', `to close ${fn}(`);
    const arity = POLICY_FUNCTIONS[fn];
    if (args.length !== arity) throw policyError('POLICY_SYNTAX', pos, `${fn}() takes ${arity} argument${arity === 1 ? '' : 's'}, found ${args.length}`);
    if (fn === 'JmesPath') {
      const [json, query] = args;
      if (json!.kind === 'literal') {
        if (typeof json!.value !== 'string') throw policyError('POLICY_SYNTAX', pos, 'JmesPath() takes JSON text (a string) as its first argument');
        let parsedJson: unknown;
        try {
          parsedJson = JSON.parse(json!.value);
        } catch {
          throw policyError('POLICY_SYNTAX', pos, 'the first argument of JmesPath() is not valid JSON');
        }
        try {
          assertJsonDepth(parsedJson, 'JSON');
        } catch {
          throw limitError('maxJsonDepth', pos, `the first argument of JmesPath() nests arrays/objects deeper than ${POLICY_LIMITS.maxJsonDepth} levels`);
        }
      }
      if (query!.kind === 'literal') {
        if (typeof query!.value !== 'string' || query!.value === '') throw policyError('POLICY_SYNTAX', pos, 'JmesPath() takes a non-empty query string as its second argument');
        // Refused here, with the policy's line/column, rather than at every attestation.
        try {
          parseJmesPath(query!.value);
        } catch (e) {
          if (e instanceof KubeSgxError) throw new KubeSgxError(e.code, `line ${pos.line}, column ${pos.column}: ${e.message}`, { details: { ...pos, ...e.details } });
          throw e;
        }
      }
    }
    return { kind: 'call', fn, args, pos };
  }

  private parseAction(section: Section, conditions: Condition[]): Action {
    const t = this.cur;
    if (t.kind !== 'ident') throw policyError('POLICY_SYNTAX', t, `expected an action, found ${this.describe(t)}`);
    const name = t.text.toLowerCase();
    this.next();
    const idents = new Set(conditions.map((c) => c.ident).filter((x): x is string => x !== undefined));
    const checkRefs = (e: ValueExpr) => {
      for (const r of exprRefs(e)) if (!idents.has(r.ident)) throw policyError('POLICY_SYNTAX', r.pos, `"${r.ident}" names no condition of this rule`);
    };
    if (section === 'configuration' && name !== 'issueproperty') {
      throw policyError('POLICY_SYNTAX', t, `configurationrules only take issueproperty(), found ${t.text}()`);
    }
    if (name === 'permit' || name === 'deny') {
      if (section !== 'authorization') throw policyError('POLICY_SYNTAX', t, `${name}() is only allowed in authorizationrules`);
      this.expectPunct('(', `after ${t.text}`);
      this.expectPunct(')', `: ${t.text}() takes no arguments`);
      return { kind: name };
    }
    if (name === 'issue' || name === 'add' || name === 'issueproperty') {
      if (name === 'issue' && section !== 'issuance') throw policyError('POLICY_SYNTAX', t, 'issue() is only allowed in issuancerules (use add() in authorizationrules)');
      if (name === 'issueproperty') {
        this.requireVersion('1.1', t, 'issueproperty()');
        if (section === 'authorization') throw policyError('POLICY_SYNTAX', t, 'issueproperty() is only allowed in configurationrules and issuancerules');
      }
      this.expectPunct('(', `after ${t.text}`);
      const args = this.parseActionArgs(t, name === 'issueproperty' ? ['type', 'value'] : ['type', 'value', 'valueType', 'claim']);
      const claimArg = args.get('claim');
      if (claimArg && name !== 'issueproperty') {
        if (args.size > 1) throw policyError('POLICY_SYNTAX', claimArg.pos, 'claim= cannot be combined with other arguments');
        checkRefs(claimArg.expr);
        return { kind: name, claim: { ref: (claimArg.expr as { ident: string }).ident } };
      }
      const typeArg = args.get('type');
      const valueArg = args.get('value');
      if (!typeArg || !valueArg) throw policyError('POLICY_SYNTAX', t, `${t.text}() needs type= and value=${name === 'issueproperty' ? '' : ' (or claim=)'}`);
      if (typeArg.expr.kind !== 'literal' || typeof typeArg.expr.value !== 'string') throw policyError('POLICY_SYNTAX', typeArg.pos, 'type= takes a string');
      const type = typeArg.expr.value;
      checkRefs(valueArg.expr);
      if (name === 'issueproperty') {
        const spec = propertySpec(type);
        if (!spec) {
          throw new KubeSgxError('POLICY_UNKNOWN_PROPERTY', `line ${typeArg.pos.line}, column ${typeArg.pos.column}: unknown property "${type}" (${Object.keys(POLICY_PROPERTIES).join(', ')})`, {
            details: { ...typeArg.pos, property: type },
          });
        }
        const v = valueArg.expr;
        if (v.kind === 'literal' && valueTypeOf(v.value) !== spec.valueType) {
          throw policyError('POLICY_SYNTAX', valueArg.pos, `property ${type} takes a${spec.valueType === 'Integer' ? 'n' : ''} ${spec.valueType} value`);
        }
        return { kind: 'issueproperty', claim: { type, value: v } };
      }
      if (isReservedClaimType(type)) throw policyError('POLICY_UNSUPPORTED', typeArg.pos, `claim type "${type}" is reserved for the service`);
      let valueType: ValueType | undefined;
      const vt = args.get('valueType');
      if (vt) {
        if (vt.expr.kind !== 'literal' || !['String', 'Integer', 'Boolean'].includes(String(vt.expr.value))) {
          throw policyError('POLICY_SYNTAX', vt.pos, 'valueType= takes "String", "Integer" or "Boolean"');
        }
        valueType = vt.expr.value as ValueType;
      }
      return { kind: name, claim: { type, value: valueArg.expr, ...(valueType ? { valueType } : {}) } };
    }
    throw policyError('POLICY_SYNTAX', t, `unknown action "${t.text}" (permit, deny, issue, add, issueproperty)`);
  }

  private parseActionArgs(action: Token, allowed: readonly string[]): Map<string, { expr: ValueExpr; pos: SourcePos }> {
    const args = new Map<string, { expr: ValueExpr; pos: SourcePos }>();
    for (;;) {
      const k = this.cur;
      if (k.kind !== 'ident') throw policyError('POLICY_SYNTAX', k, `expected an argument name (${allowed.join(', ')}), found ${this.describe(k)}`);
      const key = allowed.find((x) => x.toLowerCase() === k.text.toLowerCase());
      if (!key) throw policyError('POLICY_UNSUPPORTED', k, `argument "${k.text}" is not supported (${allowed.join(', ')})`);
      if (args.has(key)) throw policyError('POLICY_SYNTAX', k, `argument ${key} given twice`);
      this.next();
      this.expectPunct('=', `after ${key}`);
      if (key === 'claim') {
        const r = this.cur;
        if (r.kind !== 'ident') throw policyError('POLICY_SYNTAX', r, 'claim= takes the name of a condition');
        this.next();
        args.set(key, { expr: { kind: 'ref', ident: r.text, pos: { line: r.line, column: r.column } }, pos: { line: k.line, column: k.column } });
      } else {
        args.set(key, { expr: this.parseValueExpr(0), pos: { line: k.line, column: k.column } });
      }
      if (this.isPunct(',')) {
        this.next();
        continue;
      }
      this.expectPunct(')', `to close ${action.text}(`);
      return args;
    }
  }
}

function valueTypeOf(v: ClaimValue): ValueType {
  return typeof v === 'boolean' ? 'Boolean' : typeof v === 'number' ? 'Integer' : 'String';
}

/** Parses policy text; throws POLICY_SYNTAX / POLICY_UNSUPPORTED / POLICY_UNKNOWN_* / POLICY_TOO_* with line and column. */
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
