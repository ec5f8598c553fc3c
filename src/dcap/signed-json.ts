/**
 * Intel signs the exact bytes of the `tcbInfo` / `enclaveIdentity` value as PCS
 * sends it. This scanner finds the raw text span of each top-level member of a
 * JSON object (never re-serialising) and rejects duplicate top-level keys,
 * which would let a second unsigned copy shadow the signed one.
 */
import { KubeSgxError } from '../errors.js';

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function fail(what: string, message: string, offset: number): never {
  throw new KubeSgxError('SIGNED_JSON_MALFORMED', `${what}: ${message} at offset ${offset}`, { path: [what], offset });
}

function skipWs(s: string, i: number): number {
  while (i < s.length && WS.has(s.charCodeAt(i))) i++;
  return i;
}

/** Index just past the JSON string starting at `i` (which is a quote). */
function skipString(s: string, i: number, what: string): number {
  i++;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return fail(what, 'unterminated string', i);
}

/** Index just past the JSON value starting at `i` (structure only; JSON.parse validates contents). */
function skipValue(s: string, i: number, what: string): number {
  const c = s[i];
  if (c === '"') return skipString(s, i, what);
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < s.length) {
      const d = s[i];
      if (d === '"') {
        i = skipString(s, i, what);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return fail(what, 'unterminated object or array', i);
  }
  const m = /^[-+0-9.eEtruefalsn]+/.exec(s.slice(i, i + 64));
  if (!m) return fail(what, 'unexpected character', i);
  return i + m[0].length;
}

/** Raw text of each top-level member value of the JSON object in `text`. */
export function topLevelSpans(text: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = skipWs(text, 0);
  if (text[i] !== '{') fail(what, 'expected a JSON object', i);
  i = skipWs(text, i + 1);
  if (text[i] === '}') return out;
  for (;;) {
    if (text[i] !== '"') fail(what, 'expected a key', i);
    const keyEnd = skipString(text, i, what);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    if (text[i] !== ':') fail(what, 'expected ":"', i);
    i = skipWs(text, i + 1);
    const valueEnd = skipValue(text, i, what);
    if (out.has(key)) fail(what, `duplicate key ${JSON.stringify(key)}`, i);
    out.set(key, text.slice(i, valueEnd));
    i = skipWs(text, valueEnd);
    if (text[i] === ',') {
      i = skipWs(text, i + 1);
      continue;
    }
    if (text[i] === '}') break;
    fail(what, 'expected "," or "}"', i);
  }
  if (skipWs(text, i + 1) !== text.length) fail(what, 'trailing characters after the object', i + 1);
  return out;
}

export interface SignedBody {
  /** exact signed text of the inner object */
  body: string;
  /** hex r‖s */
  signature: string;
}

/**
 * Splits a PCS response body `{"tcbInfo":{…},"signature":"…"}` (or
 * `enclaveIdentity`) into the signed text and its signature.
 */
export function splitSignedBody(text: string, key: 'tcbInfo' | 'enclaveIdentity'): SignedBody {
  const spans = topLevelSpans(text, key);
  const body = spans.get(key);
  const sig = spans.get('signature');
  if (body === undefined || !body.startsWith('{')) fail(key, `missing "${key}" object`, 0);
  if (sig === undefined) fail(key, 'missing "signature"', 0);
  let signature: unknown;
  try {
    signature = JSON.parse(sig);
  } catch {
    signature = undefined;
  }
  if (typeof signature !== 'string') fail(key, '"signature" is not a string', 0);
  return { body, signature };
}
