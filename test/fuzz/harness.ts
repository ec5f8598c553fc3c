/**
 * Shared pieces of the HTTP fuzz suites (issue 15 §5): raw HTTP/1.1 over
 * plain TCP on 127.0.0.1 (so framing can be wrong on purpose, which an HTTP
 * client would refuse to send), grammar-aware mutations of paths, headers
 * and JSON bodies, and the per-request cost measured in CPU time and
 * event-loop delay — never wall clock, so the suites hold on a loaded machine.
 */
import { connect } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import fc from 'fast-check';

/** CPU (user + system of this process: client, server, GC, thread pool) one request may cost. Generous: a loaded 2-core machine. */
export const CPU_BOUND_MS = 500;

/** The seed of every fuzz property: fixed for reproducible CI runs, FUZZ_SEED=n explores others. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 1515);

export interface RawAnswer {
  /** The final (non-1xx) status; undefined when the server closed without answering. */
  status: number | undefined;
  headers: Record<string, string>;
  body: string;
  /** CPU of this process while the exchange ran (ms). */
  cpuMs: number;
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** The first final response in `raw` (interim 1xx answers are skipped), and whether all of it has arrived. */
export function parseResponse(raw: Buffer, head = false): Omit<RawAnswer, 'cpuMs'> & { complete: boolean } {
  let at = 0;
  for (;;) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) return { status: undefined, headers: {}, body: '', complete: false };
    const lines = raw.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) return { status: undefined, headers: {}, body: '', complete: false };
    const status = Number(m[1]);
    if (status < 200) {
      at = end + 4;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let body = raw.subarray(end + 4);
    let complete = false;
    if (head || status === 204 || status === 304) {
      body = Buffer.alloc(0);
      complete = true;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      complete = /(^|\r\n)0\r\n\r\n$/.test(body.toString('latin1'));
      body = dechunk(body);
    } else if (headers['content-length'] !== undefined) {
      complete = body.length >= Number(headers['content-length']);
      body = body.subarray(0, Number(headers['content-length']));
    }
    return { status, headers, body: body.toString('utf8'), complete };
  }
}

/**
 * Sends raw bytes on a fresh connection and reads the first final answer
 * (then hangs up), or until the server closes. With `halfClose` the client
 * ends its side after writing, so a body shorter than its Content-Length
 * ends instead of waiting (Node then drops the request: no answer is owed).
 * The 60 s timer only turns a hang into a failure; no assertion depends on
 * how long anything took.
 */
export function exchange(url: string, bytes: Buffer, opts: { halfClose?: boolean; head?: boolean } = {}): Promise<RawAnswer> {
  const u = new URL(url);
  const cpu = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const used = process.cpuUsage(cpu);
      const { complete: _complete, ...answer } = parseResponse(Buffer.concat(chunks), opts.head);
      resolve({ ...answer, cpuMs: (used.user + used.system) / 1000 });
      sock.destroy();
    };
    const sock = connect({ host: u.hostname, port: Number(u.port) }, () => {
      sock.write(bytes);
      if (opts.halfClose) sock.end();
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer or close within 60 s for ${JSON.stringify(bytes.subarray(0, 300).toString('latin1'))}`));
    }, 60_000);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (parseResponse(Buffer.concat(chunks), opts.head).complete) finish();
    });
    // A reset after the answer was read is fine: the answer is what is checked.
    sock.on('error', () => undefined);
    sock.on('close', finish);
  });
}

/** How the body is framed: honestly, or lying about its length in the ways a hostile client can. */
export type Framing = 'exact' | 'none' | 'declared-shorter' | 'declared-longer' | 'chunked' | 'chunked-broken' | 'length-and-chunked' | 'length-junk' | 'two-lengths';

export const framingArb: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Framing>('exact') },
  { weight: 1, arbitrary: fc.constantFrom<Framing>('none', 'declared-shorter', 'declared-longer', 'chunked', 'chunked-broken', 'length-and-chunked', 'length-junk', 'two-lengths') },
);

export interface RawRequest {
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: Buffer;
  framing: Framing;
}

/** The request as bytes on the wire. Header names/values are written as given (no validation: that is the point). */
export function serialize(r: RawRequest): Buffer {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'host: 127.0.0.1', ...r.headers.map(([k, v]) => `${k}: ${v}`)];
  const n = r.body.length;
  let body = r.body;
  switch (r.framing) {
    case 'exact':
      if (n > 0 || r.method === 'POST' || r.method === 'PUT') lines.push(`content-length: ${n}`);
      break;
    case 'none':
      break;
    case 'declared-shorter':
      lines.push(`content-length: ${Math.max(0, n - 1 - (n >> 1))}`);
      break;
    case 'declared-longer':
      lines.push(`content-length: ${n + 1 + n}`);
      break;
    case 'chunked':
      lines.push('transfer-encoding: chunked');
      body = Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), r.body, Buffer.from(n > 0 ? '\r\n0\r\n\r\n' : '\r\n')]);
      break;
    case 'chunked-broken':
      lines.push('transfer-encoding: chunked');
      body = Buffer.concat([Buffer.from(`${(n + 7).toString(16)}zz\r\n`), r.body]);
      break;
    case 'length-and-chunked':
      lines.push(`content-length: ${n}`, 'transfer-encoding: chunked');
      break;
    case 'length-junk':
      lines.push('content-length: 12abc');
      break;
    case 'two-lengths':
      lines.push(`content-length: ${n}`, `content-length: ${n + 3}`);
      break;
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}

/** Sends a raw request; a body shorter than declared is followed by a half-close (the client giving up), so it cannot wait forever. */
export function send(url: string, r: RawRequest): Promise<RawAnswer> {
  return exchange(url, serialize(r), { halfClose: r.framing === 'declared-longer', head: r.method === 'HEAD' });
}

// ---------------------------------------------------------------- paths

/** Percent-encoding junk and path shapes that have broken routers: bad escapes, overlong UTF-8, dot segments, empty segments, NUL, length. */
export const NASTY_SEGMENTS = [
  '%ZZ', '%E0%A4%A', 'a%', '%', '%C0%AF', '%C0%AE%C0%AE', '%ff', '%00', '%2e%2e', '%2F', '%252F', '..', '.', '', '%u2215', '\u00e9', '%F0%9F%98%80',
  'x'.repeat(3000), 'a;b=c', '__proto__', 'constructor', 'toString', '%5C', '\\', '*',
];

/** A route mutated segment-wise: a junk segment inserted, replaced or appended, a query added, or the whole target replaced. */
export function pathArb(routes: readonly string[]): fc.Arbitrary<string> {
  const route = fc.constantFrom(...routes);
  const junk = fc.oneof(fc.constantFrom(...NASTY_SEGMENTS), fc.stringMatching(/^[!-~]{0,40}$/).map((s) => s.replace(/[?#]/g, '')));
  return fc.oneof(
    { weight: 3, arbitrary: route },
    {
      weight: 4,
      arbitrary: fc.tuple(route, junk, fc.nat(), fc.constantFrom('insert', 'replace', 'append')).map(([r, j, i, how]) => {
        const [p, q] = r.split('?') as [string, string | undefined];
        const segs = p.split('/');
        const at = 1 + (i % Math.max(1, segs.length - 1));
        if (how === 'insert') segs.splice(at, 0, j);
        else if (how === 'replace') segs[at] = j;
        else segs.push(j);
        return segs.join('/') + (q !== undefined ? `?${q}` : '');
      }),
    },
    { weight: 1, arbitrary: fc.tuple(route, fc.string({ maxLength: 40 })).map(([r, q]) => `${r}${r.includes('?') ? '&' : '?'}${encodeURIComponent(q)}=${q.length > 20 ? '%ZZ' : 'x'}`) },
    { weight: 1, arbitrary: route.map((r) => r.replace(/\//g, '//')) },
    { weight: 1, arbitrary: fc.constantFrom('*', 'http://evil.example/healthz', '/' + 'a/'.repeat(2000), `/healthz?${'q'.repeat(8000)}`, '/%', '/..', '/./metrics', '/healthz#x') },
  );
}

export const methodArb = (usual: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...usual) }, { weight: 2, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE') }, { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,10}$/) });

// ---------------------------------------------------------------- headers

export const contentTypeArb = fc.constantFrom(
  'application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jose', '', ';;;', 'application/json; charset=utf-16', '\u00ff/\u00ff',
);

/** Extra headers: cookies, Accept forms, junk names and values, repeated and oversized ones. */
export const junkHeadersArb: fc.Arbitrary<Array<[string, string]>> = fc.array(
  fc.oneof(
    fc.constantFrom<[string, string]>(
      ['cookie', 'kbs-session-id=00000000000000000000000000000000'], ['cookie', 'kbs-session-id='], ['cookie', 'kbs-session-id=%ZZ; kbs-session-id=x'], ['cookie', ';;==;'], ['cookie', `a=${'b'.repeat(4000)}`],
      ['accept', 'application/json'], ['accept', 'text/html'], ['accept', '*/*'], ['accept', 'application/problem+json;q=0'], ['expect', '100-continue'], ['expect', 'x-junk'],
      ['x-forwarded-for', '1.2.3.4'], ['connection', 'keep-alive'], ['connection', 'upgrade'], ['upgrade', 'websocket'], ['transfer-encoding', 'gzip'], ['content-encoding', 'gzip'], ['host', 'evil.example'], ['host', ''],
      ['authorization', 'Basic YWRtaW46YWRtaW4='], ['authorization', 'Bearer'], ['authorization', 'Bearer a.b.c'], ['authorization', `Bearer ${'x'.repeat(9000)}`], ['__proto__', 'x'], ['constructor', 'y'],
    ),
    fc.tuple(fc.stringMatching(/^[a-zA-Z0-9-]{1,20}$/), fc.stringMatching(/^[ -~]{0,80}$/)),
  ),
  { maxLength: 3 },
);

// ---------------------------------------------------------------- JSON bodies

/** Values of the wrong type or at the edges: huge and odd numbers, unicode, deep nesting, prototype keys. */
export const junkValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 0.5, '', ' ', 'null', '\u0000', '\ud800', '\u202e\u0000\uffff', '💥'.repeat(500), 'A'.repeat(70_000),
    [], {}, [[[]]], { __proto__: null }, JSON.parse('{"__proto__":{"polluted":true}}'), JSON.parse('{"constructor":{"prototype":{"x":1}}}'), { toString: 1, valueOf: 'x', hasOwnProperty: null },
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer({ min: 1, max: 90 }).map((d) => JSON.parse('['.repeat(d) + ']'.repeat(d)) as unknown),
  fc.jsonValue({ maxDepth: 3 }),
);

type Json = unknown;

function pathsOf(v: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...prefix, i], out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) pathsOf(x, [...prefix, k], out);
  return out;
}

/** A deep copy with `fn` applied at `path` (returns undefined from fn = delete). Own `__proto__` keys survive the copy. */
function updateAt(v: Json, path: ReadonlyArray<string | number>, fn: (x: Json) => Json): Json {
  if (path.length === 0) return fn(v);
  const [head, ...rest] = path;
  if (Array.isArray(v)) {
    const copy = [...(v as Json[])];
    const next = updateAt(copy[head as number], rest, fn);
    if (next === undefined && rest.length === 0) copy.splice(head as number, 1);
    else copy[head as number] = next;
    return copy;
  }
  const copy: Record<string, Json> = {};
  for (const [k, x] of Object.entries(v as Record<string, Json>)) Object.defineProperty(copy, k, { value: x, enumerable: true, writable: true, configurable: true });
  const next = updateAt(copy[head as string], rest, fn);
  if (next === undefined && rest.length === 0) delete copy[head as string];
  else Object.defineProperty(copy, head as string, { value: next, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** Mutates a base64/base64url string as an attacker would: truncated, a byte of the decoded bytes flipped, junk characters, padding games. */
export function base64MutationArb(s: string): fc.Arbitrary<string> {
  const bytes = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  const url = /[-_]/.test(s) || !/[+/=]/.test(s);
  const enc = (b: Buffer) => (url ? b.toString('base64url') : b.toString('base64'));
  return fc.oneof(
    fc.nat({ max: Math.max(0, s.length - 1) }).map((n) => s.slice(0, n)),
    fc.tuple(fc.nat({ max: Math.max(0, bytes.length - 1) }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const b = Buffer.from(bytes);
      if (b.length > 0) b[i % b.length] ^= x;
      return enc(b);
    }),
    fc.nat({ max: Math.max(0, bytes.length) }).map((n) => enc(bytes.subarray(0, n))),
    fc.tuple(fc.nat({ max: s.length }), fc.constantFrom('!', '=', '==', '===', ' ', '\n', '%', '.', '\u00e9', '+/', '-_')).map(([i, j]) => s.slice(0, i) + j + s.slice(i)),
    fc.constant(enc(Buffer.concat([bytes, bytes]))),
    fc.constant(s + '='),
  );
}

/**
 * Grammar-aware mutations of a valid JSON request: at a random place, put a
 * junk value, delete the member, add a prototype-named member, or (for a
 * string that is base64) truncate or flip bytes of it; then maybe mangle the
 * serialised text (truncation, invalid UTF-8, a trailing byte).
 */
export function jsonBodyArb(valid: Json, base64Fields: ReadonlySet<string> = new Set()): fc.Arbitrary<Buffer> {
  const paths = pathsOf(valid);
  const mutated = fc.oneof(
    { weight: 1, arbitrary: fc.constant(valid) },
    {
      weight: 4,
      arbitrary: fc.tuple(fc.constantFrom(...paths), junkValueArb).map(([p, j]) => updateAt(valid, p, () => j)),
    },
    { weight: 2, arbitrary: fc.constantFrom(...paths.filter((p) => p.length > 0)).map((p) => updateAt(valid, p, () => undefined)) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...paths), fc.constantFrom('__proto__', 'constructor', 'toString', 'prototype', 'hasOwnProperty', ''), junkValueArb).map(([p, k, j]) =>
        updateAt(valid, p, (x) => (typeof x === 'object' && x !== null && !Array.isArray(x) ? updateAt(x, [k], () => j) : x)),
      ),
    },
    ...paths
      .filter((p) => base64Fields.has(String(p[p.length - 1])))
      .map((p) => ({ weight: 4, arbitrary: base64MutationArb(String(paths.length > 0 ? getAt(valid, p) : '')).map((s) => updateAt(valid, p, () => s)) })),
  );
  return fc.tuple(mutated, fc.oneof({ weight: 6, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constantFrom('truncate', 'invalid-utf8', 'trailing', 'bom', 'empty', 'whitespace') }), fc.nat()).map(([v, how, n]) => {
    const text = Buffer.from(JSON.stringify(v) ?? 'null');
    switch (how) {
      case 'truncate':
        return text.subarray(0, n % Math.max(1, text.length));
      case 'invalid-utf8':
        return Buffer.concat([text.subarray(0, n % Math.max(1, text.length)), Buffer.from([0xc0, 0xaf, 0xff, 0xfe]), text.subarray(n % Math.max(1, text.length))]);
      case 'trailing':
        return Buffer.concat([text, Buffer.from('}')]);
      case 'bom':
        return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text]);
      case 'empty':
        return Buffer.alloc(0);
      case 'whitespace':
        return Buffer.from(' \n\t ');
      default:
        return text;
    }
  });
}

function getAt(v: Json, path: ReadonlyArray<string | number>): Json {
  let x = v;
  for (const k of path) x = (x as Record<string | number, Json>)[k];
  return x;
}

/** A whole body of raw junk, for routes that take none. */
export const junkBodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? '')),
  fc.constant(Buffer.from('['.repeat(100_000))),
);

// ---------------------------------------------------------------- cost

/** Event-loop delay while fuzzing: the longest stall of this process's loop (ms). Reported, not asserted: under load it includes time the OS ran others. */
export function loopMonitor(): { stop(): { maxMs: number; p99Ms: number } } {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  return {
    stop() {
      h.disable();
      return { maxMs: Math.round(h.max / 1e4) / 100, p99Ms: Math.round(h.percentile(99) / 1e4) / 100 };
    },
  };
}

/** Tracks the costliest request of a run, for the test's diagnostic line. */
export class CostLog {
  maxCpuMs = 0;
  worst = '';
  count = 0;
  note(what: string, cpuMs: number): void {
    this.count++;
    if (cpuMs > this.maxCpuMs) {
      this.maxCpuMs = Math.round(cpuMs * 10) / 10;
      this.worst = what.slice(0, 120);
    }
  }
  toString(): string {
    return `${this.count} requests; max CPU ${this.maxCpuMs} ms (${this.worst})`;
  }
}

/** Runs a property with the suite's seed; a failure reports the error and how to replay it, not the (large) counterexample. */
export async function checkProperty<T>(property: fc.IAsyncProperty<T>, numRuns: number): Promise<void> {
  const out = await fc.check(property, { numRuns, seed: FUZZ_SEED, endOnFailure: true });
  if (out.failed) {
    const err = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
    assert.fail(`after ${out.numRuns} runs (replay: FUZZ_SEED=${out.seed}, path ${out.counterexamplePath}): ${err.slice(0, 3000)}`);
  }
}

/** A short printable description of a raw request, for assertion messages. */
export function describeRequest(r: RawRequest): string {
  return `${r.method} ${r.target.slice(0, 200)} [${r.framing}] headers=${JSON.stringify(r.headers).slice(0, 200)} body=${JSON.stringify(r.body.subarray(0, 300).toString('latin1'))}`;
}
