/**
 * The JMESPath subset that MAA policy 1.2's `JmesPath(json, query)` needs:
 * everything Azure's published policies use (fields, sub-expressions,
 * indexes and slices, `[*]`/`*` projections, `[]` flatten, `[?…]` filters,
 * `|`, `||`, `&&`, `!`, comparisons, `@`, `` `json` `` and `'raw'`
 * literals, multi-select lists and hashes) and the common built-in
 * functions, plus Microsoft's `equals_ignore_case`. Written from the
 * JMESPath specification (jmespath.org/specification.html). Expression
 * references (`&expr`) and the functions that take them are refused with
 * POLICY_JMESPATH_UNSUPPORTED; malformed queries with POLICY_JMESPATH_SYNTAX,
 * both naming the character offset. Evaluation charges every node visited
 * to the caller's budget, so a query over a large document stays bounded.
 */
import { KubeSgxError } from '../../errors.js';
import { assertJsonDepth } from '../encoding.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type JmesNode =
  | { t: 'field'; name: string }
  | { t: 'current' }
  | { t: 'literal'; value: Json }
  | { t: 'sub'; left: JmesNode; right: JmesNode }
  | { t: 'index'; index: number }
  | { t: 'slice'; start: number | null; stop: number | null; step: number | null }
  | { t: 'project'; left: JmesNode; right: JmesNode }
  | { t: 'valueProject'; left: JmesNode; right: JmesNode }
  | { t: 'flatten'; left: JmesNode }
  | { t: 'filter'; left: JmesNode; cond: JmesNode; right: JmesNode }
  | { t: 'pipe'; left: JmesNode; right: JmesNode }
  | { t: 'or' | 'and'; left: JmesNode; right: JmesNode }
  | { t: 'not'; expr: JmesNode }
  | { t: 'cmp'; op: '==' | '!=' | '<' | '<=' | '>' | '>='; left: JmesNode; right: JmesNode }
  | { t: 'list'; items: JmesNode[] }
  | { t: 'hash'; entries: Array<[string, JmesNode]> }
  | { t: 'call'; name: JmesFunction; args: JmesNode[] };

type Tok =
  | { k: 'ident' | 'qident' | 'raw'; v: string; at: number }
  | { k: 'lit'; v: Json; at: number }
  | { k: 'num'; v: number; at: number }
  | { k: 'p'; v: string; at: number }
  | { k: 'eof'; at: number };

function syntax(at: number, message: string): KubeSgxError {
  return new KubeSgxError('POLICY_JMESPATH_SYNTAX', `JMESPath query, offset ${at}: ${message}`, { details: { queryOffset: at } });
}
function unsupported(at: number, message: string): KubeSgxError {
  return new KubeSgxError('POLICY_JMESPATH_UNSUPPORTED', `JMESPath query, offset ${at}: ${message}`, { details: { queryOffset: at } });
}

const PUNCT = ['[?', '[]', '||', '&&', '==', '!=', '<=', '>=', '.', '*', '[', ']', '{', '}', '(', ')', ',', ':', '|', '!', '<', '>', '@', '&'];

function lex(q: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const at = i;
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < q.length && /[A-Za-z0-9_]/.test(q[j]!)) j++;
      out.push({ k: 'ident', v: q.slice(i, j), at });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(q[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < q.length && /[0-9]/.test(q[j]!)) j++;
      out.push({ k: 'num', v: Number(q.slice(i, j)), at });
      i = j;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= q.length) throw syntax(at, `unterminated ${c === '"' ? 'quoted identifier' : c === "'" ? 'raw string' : 'literal'}`);
        const d = q[j]!;
        if (d === c) break;
        if (d === '\\' && q[j + 1] === c) {
          // Raw strings and literals unescape their own delimiter; quoted identifiers are JSON strings (below).
          text += c === '"' ? '\\"' : c;
          j += 2;
          continue;
        }
        if (d === '\\' && c === "'" && q[j + 1] === '\\') {
          // JEP 12: a raw string's "\\" is one backslash (Azure's samples write Windows paths so); other escapes stay as written.
          text += '\\';
          j += 2;
          continue;
        }
        if (d === '\\' && c === '"' && j + 1 < q.length) {
          text += d + q[j + 1]!;
          j += 2;
          continue;
        }
        text += d;
        j++;
      }
      i = j + 1;
      if (c === "'") out.push({ k: 'raw', v: text, at });
      else if (c === '"') {
        try {
          out.push({ k: 'qident', v: JSON.parse(`"${text}"`) as string, at });
        } catch {
          throw syntax(at, 'invalid escape in quoted identifier');
        }
      } else {
        let v: Json;
        try {
          v = JSON.parse(text) as Json;
        } catch {
          throw syntax(at, `literal \`${text}\` is not JSON`);
        }
        try {
          assertJsonDepth(v, 'a JMESPath literal');
        } catch {
          throw unsupported(at, 'a literal nests arrays/objects too deep');
        }
        out.push({ k: 'lit', v, at });
      }
      continue;
    }
    const p = PUNCT.find((x) => q.startsWith(x, i));
    if (!p) throw syntax(at, `unexpected character ${JSON.stringify(c)}`);
    out.push({ k: 'p', v: p, at });
    i += p.length;
  }
  out.push({ k: 'eof', at: q.length });
  return out;
}

// Binding powers from the specification's reference grammar.
const LBP: Record<string, number> = { '|': 1, '||': 2, '&&': 3, '==': 5, '!=': 5, '<': 5, '<=': 5, '>': 5, '>=': 5, '[]': 9, '*': 20, '[?': 21, '.': 40, '!': 45, '{': 50, '[': 55, '(': 60 };
const PROJECTION_STOP = 10;

const FUNCTIONS = {
  length: 1,
  contains: 2,
  starts_with: 2,
  ends_with: 2,
  equals_ignore_case: 2,
  to_string: 1,
  to_number: 1,
  type: 1,
  keys: 1,
  values: 1,
  not_null: -1,
  join: 2,
  abs: 1,
  max: 1,
  min: 1,
  sum: 1,
  reverse: 1,
} as const;
export type JmesFunction = keyof typeof FUNCTIONS;

class JmesParser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}
  private get cur(): Tok {
    return this.toks[this.i]!;
  }
  private isP(v: string): boolean {
    const t = this.cur;
    return t.k === 'p' && t.v === v;
  }
  private lbp(): number {
    const t = this.cur;
    return t.k === 'p' ? (LBP[t.v] ?? 0) : 0;
  }
  private expectP(v: string): void {
    if (!this.isP(v)) throw syntax(this.cur.at, `expected "${v}"`);
    this.i++;
  }

  parse(): JmesNode {
    const n = this.expr(0);
    if (this.cur.k !== 'eof') throw syntax(this.cur.at, 'unexpected token after the expression');
    return n;
  }

  private expr(rbp: number): JmesNode {
    let left = this.nud();
    while (rbp < this.lbp()) left = this.led(left);
    return left;
  }

  private nud(): JmesNode {
    const t = this.cur;
    this.i++;
    switch (t.k) {
      case 'ident':
        return { t: 'field', name: t.v };
      case 'qident':
        if (this.isP('(')) throw syntax(t.at, 'a quoted identifier cannot name a function');
        return { t: 'field', name: t.v };
      case 'raw':
        return { t: 'literal', value: t.v };
      case 'lit':
        return { t: 'literal', value: t.v };
      case 'num':
        throw syntax(t.at, 'a number must be inside [ ] or a `literal`');
      case 'eof':
        throw syntax(t.at, 'the query ends too early');
      case 'p':
        break;
    }
    switch (t.v) {
      case '@':
        return { t: 'current' };
      case '*':
        return { t: 'valueProject', left: { t: 'current' }, right: this.projectionRhs(LBP['*']!) };
      case '!':
        return { t: 'not', expr: this.expr(LBP['!']!) };
      case '(': {
        const e = this.expr(0);
        this.expectP(')');
        return e;
      }
      case '[]':
        return { t: 'project', left: { t: 'flatten', left: { t: 'current' } }, right: this.projectionRhs(LBP['[]']!) };
      case '[?':
        return this.filterAfterOpen({ t: 'current' });
      case '[':
        return this.bracketAfterOpen({ t: 'current' });
      case '{':
        return this.hashAfterOpen();
      case '&':
        throw unsupported(t.at, 'expression references (&expr) are not supported');
      default:
        throw syntax(t.at, `unexpected "${t.v}"`);
    }
  }

  private led(left: JmesNode): JmesNode {
    const t = this.cur as Extract<Tok, { k: 'p' }>;
    this.i++;
    switch (t.v) {
      case '.':
        if (this.isP('*')) {
          this.i++;
          return { t: 'valueProject', left, right: this.projectionRhs(LBP['*']!) };
        }
        return { t: 'sub', left, right: this.dotRhs() };
      case '|':
        return { t: 'pipe', left, right: this.expr(LBP['|']!) };
      case '||':
        return { t: 'or', left, right: this.expr(LBP['||']!) };
      case '&&':
        return { t: 'and', left, right: this.expr(LBP['&&']!) };
      case '==':
      case '!=':
      case '<':
      case '<=':
      case '>':
      case '>=':
        return { t: 'cmp', op: t.v, left, right: this.expr(LBP[t.v]!) };
      case '[]':
        return { t: 'project', left: { t: 'flatten', left }, right: this.projectionRhs(LBP['[]']!) };
      case '[?':
        return this.filterAfterOpen(left);
      case '[':
        return this.bracketAfterOpen(left, true);
      case '(': {
        if (left.t !== 'field') throw syntax(t.at, 'only a function name can be called');
        const name = left.name;
        if (!Object.hasOwn(FUNCTIONS, name)) {
          if (['sort_by', 'max_by', 'min_by', 'map', 'group_by', 'sort', 'merge', 'floor', 'ceil', 'avg', 'to_array', 'items', 'from_items', 'zip'].includes(name)) {
            throw unsupported(t.at, `function ${name}() is not supported here (${Object.keys(FUNCTIONS).join(', ')})`);
          }
          throw syntax(t.at, `unknown function ${name}()`);
        }
        const args: JmesNode[] = [];
        if (!this.isP(')')) {
          for (;;) {
            args.push(this.expr(0));
            if (!this.isP(',')) break;
            this.i++;
          }
        }
        this.expectP(')');
        const arity = FUNCTIONS[name as JmesFunction];
        if (arity >= 0 ? args.length !== arity : args.length === 0) throw syntax(t.at, `${name}() takes ${arity >= 0 ? arity : 'at least one'} argument(s)`);
        return { t: 'call', name: name as JmesFunction, args };
      }
      default:
        throw syntax(t.at, `unexpected "${t.v}"`);
    }
  }

  /** After `[`: an index, a slice (then a projection), `*]` (a projection) or a multi-select list. */
  private bracketAfterOpen(left: JmesNode, afterExpression = false): JmesNode {
    const t = this.cur;
    if (t.k === 'num' || this.isP(':')) {
      const parts: Array<number | null> = [null, null, null];
      let k = 0;
      let sawColon = false;
      for (;;) {
        const c = this.cur;
        if (c.k === 'num') {
          parts[k] = c.v;
          this.i++;
        } else if (c.k === 'p' && c.v === ':') {
          sawColon = true;
          if (++k > 2) throw syntax(c.at, 'too many ":" in a slice');
          this.i++;
        } else if (c.k === 'p' && c.v === ']') {
          this.i++;
          break;
        } else throw syntax(c.at, 'expected a number, ":" or "]"');
      }
      if (!sawColon) return left.t === 'current' ? { t: 'index', index: parts[0]! } : { t: 'sub', left, right: { t: 'index', index: parts[0]! } };
      if (parts[2] === 0) throw syntax(t.at, 'a slice step cannot be 0');
      const slice: JmesNode = { t: 'slice', start: parts[0]!, stop: parts[1]!, step: parts[2]! };
      return { t: 'project', left: left.t === 'current' ? slice : { t: 'sub', left, right: slice }, right: this.projectionRhs(LBP['*']!) };
    }
    if (this.isP('*') && this.toks[this.i + 1]?.k === 'p' && (this.toks[this.i + 1] as { v: string }).v === ']') {
      this.i += 2;
      return { t: 'project', left, right: this.projectionRhs(LBP['*']!) };
    }
    // A multi-select list may only start an expression or follow ".": after an expression "[" is an index.
    if (afterExpression) throw syntax(t.at, 'expected an index, a slice or "*" inside [ ]');
    return { t: 'list', items: this.listItems() };
  }

  private listItems(): JmesNode[] {
    const items: JmesNode[] = [];
    for (;;) {
      items.push(this.expr(0));
      if (this.isP(',')) {
        this.i++;
        continue;
      }
      this.expectP(']');
      return items;
    }
  }

  private hashAfterOpen(): JmesNode {
    const entries: Array<[string, JmesNode]> = [];
    for (;;) {
      const k = this.cur;
      if (k.k !== 'ident' && k.k !== 'qident') throw syntax(k.at, 'expected a key in a multi-select hash');
      this.i++;
      this.expectP(':');
      entries.push([k.v, this.expr(0)]);
      if (this.isP(',')) {
        this.i++;
        continue;
      }
      this.expectP('}');
      return { t: 'hash', entries };
    }
  }

  private filterAfterOpen(left: JmesNode): JmesNode {
    const cond = this.expr(0);
    this.expectP(']');
    return { t: 'filter', left, cond, right: this.projectionRhs(LBP['[?']!) };
  }

  private dotRhs(): JmesNode {
    const t = this.cur;
    if (t.k === 'ident' || t.k === 'qident') {
      this.i++;
      if (t.k === 'ident' && this.isP('(')) {
        // a.b(...) is not JMESPath: functions are called bare.
        throw syntax(this.cur.at, 'a function cannot follow "."');
      }
      return { t: 'field', name: t.v };
    }
    if (this.isP('[')) {
      this.i++;
      return { t: 'list', items: this.listItems() };
    }
    if (this.isP('{')) {
      this.i++;
      return this.hashAfterOpen();
    }
    throw syntax(t.at, 'expected a field, [list] or {hash} after "."');
  }

  /** What a projection applies to each element: stops at tokens binding looser than a projection. */
  private projectionRhs(rbp: number): JmesNode {
    if (this.lbp() < PROJECTION_STOP) return { t: 'current' };
    if (this.isP('[') || this.isP('[?') || this.isP('[]')) return this.expr(rbp);
    if (this.isP('.')) {
      this.i++;
      if (this.isP('*')) {
        this.i++;
        return { t: 'valueProject', left: { t: 'current' }, right: this.projectionRhs(LBP['*']!) };
      }
      let node = this.dotRhs();
      while (rbp < this.lbp()) node = this.led(node);
      return node;
    }
    throw syntax(this.cur.at, 'unexpected token after a projection');
  }
}

/** Deepest query accepted: evaluation recurses once per level (a.b.c… is as deep as it is long). */
export const MAX_JMESPATH_DEPTH = 128;

function checkDepth(root: JmesNode): void {
  const stack: Array<[JmesNode, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [n, d] = stack.pop()!;
    if (d > MAX_JMESPATH_DEPTH) throw unsupported(0, `the query nests more than ${MAX_JMESPATH_DEPTH} levels`);
    if (n.t === 'literal') continue;
    for (const v of Object.values(n)) {
      if (Array.isArray(v)) {
        for (const x of v) {
          if (Array.isArray(x)) stack.push([x[1] as JmesNode, d + 1]);
          else if (x !== null && typeof x === 'object' && 't' in x) stack.push([x as JmesNode, d + 1]);
        }
      } else if (v !== null && typeof v === 'object' && 't' in v) stack.push([v as JmesNode, d + 1]);
    }
  }
}

const parsed = new Map<string, JmesNode>();

/** Parses (and caches) a query; throws POLICY_JMESPATH_SYNTAX / POLICY_JMESPATH_UNSUPPORTED with the offset. */
export function parseJmesPath(query: string): JmesNode {
  const hit = parsed.get(query);
  if (hit) return hit;
  let node: JmesNode;
  try {
    node = new JmesParser(lex(query)).parse();
  } catch (e) {
    // The parser recurses per nesting level: a query of thousands of "(" or "!" ends here, typed.
    if (e instanceof RangeError) throw unsupported(0, 'the query nests too deep');
    throw e;
  }
  checkDepth(node);
  // Queries come from policies (bounded in size and number) and from claim values: cache only short ones, and few.
  if (query.length <= 4096) {
    if (parsed.size >= 512) parsed.clear();
    parsed.set(query, node);
  }
  return node;
}

function truthy(v: Json): boolean {
  if (v === null || v === false || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function deepEqual(a: Json, b: Json, spend: (n: number) => void): boolean {
  spend(1);
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as Json[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]!, spend));
  }
  const ao = a as Record<string, Json>;
  const bo = b as Record<string, Json>;
  const ak = Object.keys(ao);
  return ak.length === Object.keys(bo).length && ak.every((k) => Object.hasOwn(bo, k) && deepEqual(ao[k]!, bo[k]!, spend));
}

function typeName(v: Json): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v;
}

function sliceOf(arr: Json[], start: number | null, stop: number | null, step: number | null): Json[] {
  const n = arr.length;
  const st = step ?? 1;
  const clamp = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, x));
  const norm = (x: number | null, dflt: number) => (x === null ? dflt : x < 0 ? (st > 0 ? clamp(x + n, 0, n) : clamp(x + n, -1, n - 1)) : st > 0 ? clamp(x, 0, n) : clamp(x, -1, n - 1));
  const a = norm(start, st > 0 ? 0 : n - 1);
  const b = norm(stop, st > 0 ? n : -1);
  const out: Json[] = [];
  if (st > 0) for (let i = a; i < b; i += st) out.push(arr[i]!);
  else for (let i = a; i > b; i += st) out.push(arr[i]!);
  return out;
}

function argError(name: string, message: string): KubeSgxError {
  return new KubeSgxError('POLICY_EVALUATION_ERROR', `JMESPath ${name}(): ${message}`);
}

/** Charges a function's work: the elements or characters it walks. */
function sizeOf(v: Json | undefined): number {
  return typeof v === 'string' ? v.length : Array.isArray(v) ? v.length : v !== null && typeof v === 'object' ? Object.keys(v).length : 1;
}

function callFunction(name: JmesFunction, args: Json[], spend: (n: number) => void): Json {
  const [a, b] = args;
  spend(args.reduce((t: number, x) => t + sizeOf(x), 0));
  const str = (v: Json | undefined, what: string): string => {
    if (typeof v !== 'string') throw argError(name, `${what} must be a string, found ${typeName(v ?? null)}`);
    return v;
  };
  const arr = (v: Json | undefined): Json[] => {
    if (!Array.isArray(v)) throw argError(name, `expects an array, found ${typeName(v ?? null)}`);
    return v;
  };
  switch (name) {
    case 'length':
      if (typeof a === 'string') return [...a].length;
      if (Array.isArray(a)) return a.length;
      if (a !== null && typeof a === 'object') return Object.keys(a!).length;
      throw argError(name, `expects a string, array or object, found ${typeName(a ?? null)}`);
    case 'contains':
      if (typeof a === 'string') return a.includes(str(b, 'the search value'));
      return arr(a).some((x) => deepEqual(x, b ?? null, spend));
    case 'starts_with':
      return str(a, 'the subject').startsWith(str(b, 'the prefix'));
    case 'ends_with':
      return str(a, 'the subject').endsWith(str(b, 'the suffix'));
    case 'equals_ignore_case':
      return str(a, 'the first argument').toLowerCase() === str(b, 'the second argument').toLowerCase();
    case 'to_string':
      return typeof a === 'string' ? a : JSON.stringify(a ?? null);
    case 'to_number': {
      if (typeof a === 'number') return a;
      if (typeof a !== 'string') return null;
      const n = Number(a);
      return a.trim() !== '' && Number.isFinite(n) ? n : null;
    }
    case 'type':
      return typeName(a ?? null);
    case 'keys':
    case 'values':
      if (a === null || typeof a !== 'object' || Array.isArray(a)) throw argError(name, `expects an object, found ${typeName(a ?? null)}`);
      return name === 'keys' ? Object.keys(a!) : Object.values(a!);
    case 'not_null':
      return args.find((x) => x !== null) ?? null;
    case 'join':
      return arr(b).map((x) => str(x, 'each element')).join(str(a, 'the glue'));
    case 'abs':
      if (typeof a !== 'number') throw argError(name, 'expects a number');
      return Math.abs(a);
    case 'max':
    case 'min':
    case 'sum': {
      const xs = arr(a);
      if (xs.length === 0) return name === 'sum' ? 0 : null;
      if (name === 'sum' || typeof xs[0] === 'number') {
        if (!xs.every((x) => typeof x === 'number')) throw argError(name, 'expects an array of numbers' + (name === 'sum' ? '' : ' or of strings'));
        const ns = xs as number[];
        return name === 'sum' ? ns.reduce((s, x) => s + x, 0) : name === 'max' ? Math.max(...ns) : Math.min(...ns);
      }
      if (!xs.every((x) => typeof x === 'string')) throw argError(name, 'expects an array of numbers or of strings');
      const ss = [...(xs as string[])].sort();
      return name === 'max' ? ss[ss.length - 1]! : ss[0]!;
    }
    case 'reverse':
      if (typeof a === 'string') return [...a].reverse().join('');
      return [...arr(a)].reverse();
  }
}

/** Evaluates a parsed query against JSON data; `spend(1)` is called for every node visited. */
export function searchJmesPath(node: JmesNode, data: Json, spend: (n: number) => void): Json {
  const ev = (n: JmesNode, v: Json): Json => {
    spend(1);
    switch (n.t) {
      case 'field':
        return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, n.name) ? v[n.name]! : null;
      case 'current':
        return v;
      case 'literal':
        return n.value;
      case 'sub': {
        const l = ev(n.left, v);
        return l === null ? null : ev(n.right, l);
      }
      case 'index': {
        if (!Array.isArray(v)) return null;
        const i = n.index < 0 ? v.length + n.index : n.index;
        return i >= 0 && i < v.length ? v[i]! : null;
      }
      case 'slice':
        return Array.isArray(v) ? sliceOf(v, n.start, n.stop, n.step) : null;
      case 'project': {
        const base = ev(n.left, v);
        return Array.isArray(base) ? project(base, n.right) : null;
      }
      case 'valueProject': {
        const base = ev(n.left, v);
        return base !== null && typeof base === 'object' && !Array.isArray(base) ? project(Object.values(base), n.right) : null;
      }
      case 'flatten': {
        const base = ev(n.left, v);
        if (!Array.isArray(base)) return null;
        spend(base.length);
        const out: Json[] = [];
        for (const el of base) {
          if (Array.isArray(el)) out.push(...el);
          else out.push(el);
        }
        return out;
      }
      case 'filter': {
        const base = ev(n.left, v);
        if (!Array.isArray(base)) return null;
        const out: Json[] = [];
        for (const el of base) {
          if (!truthy(ev(n.cond, el))) continue;
          const r = ev(n.right, el);
          if (r !== null) out.push(r);
        }
        return out;
      }
      case 'pipe':
        return ev(n.right, ev(n.left, v));
      case 'or': {
        const l = ev(n.left, v);
        return truthy(l) ? l : ev(n.right, v);
      }
      case 'and': {
        const l = ev(n.left, v);
        return truthy(l) ? ev(n.right, v) : l;
      }
      case 'not':
        return !truthy(ev(n.expr, v));
      case 'cmp': {
        const l = ev(n.left, v);
        const r = ev(n.right, v);
        if (n.op === '==') return deepEqual(l, r, spend);
        if (n.op === '!=') return !deepEqual(l, r, spend);
        if (typeof l !== 'number' || typeof r !== 'number') return null;
        return n.op === '<' ? l < r : n.op === '<=' ? l <= r : n.op === '>' ? l > r : l >= r;
      }
      case 'list':
        return v === null ? null : n.items.map((x) => ev(x, v));
      case 'hash': {
        if (v === null) return null;
        const out: Record<string, Json> = {};
        for (const [k, x] of n.entries) Object.defineProperty(out, k, { value: ev(x, v), enumerable: true, writable: true, configurable: true });
        return out;
      }
      case 'call':
        return callFunction(
          n.name,
          n.args.map((x) => ev(x, v)),
          spend,
        );
    }
  };
  /** A projection: `right` applied to each element, null results dropped. */
  const project = (items: Json[], right: JmesNode): Json[] => {
    const out: Json[] = [];
    for (const el of items) {
      const r = ev(right, el);
      if (r !== null) out.push(r);
    }
    return out;
  };
  return ev(node, data);
}
