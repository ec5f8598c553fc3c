/** Bounded JSON for request bodies and runtime data: nesting depth, size, and parsing that names the field. */
import { KubeSgxError, type ErrorCode } from '../errors.js';

/** Deepest array/object nesting accepted in any JSON the service reads (request bodies, JSON runtime data). */
export const MAX_JSON_DEPTH = 64;

/**
 * Throws JSON_TOO_DEEP when `value` nests arrays/objects deeper than
 * `max`. Iterative, so it is safe on the values JSON.parse accepts (V8
 * parses a million levels) that recursive code — JSON.stringify when signing,
 * canonicalisation — would overflow the stack on.
 */
export function assertJsonDepth(value: unknown, what: string, path: ReadonlyArray<string | number> = [], max = MAX_JSON_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) throw new KubeSgxError('JSON_TOO_DEEP', `${what} nests arrays/objects deeper than ${max} levels`, { path });
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
}

/**
 * Arrays and objects accepted in one JSON document. JSON.parse's cost is in
 * allocating them: 1 MiB of `[[{}]]` (450,000 containers) took ~110 ms of
 * main-thread CPU in one event-loop turn on a loaded machine. 20,000 keeps
 * that part of a parse near 15 ms.
 */
export const MAX_JSON_CONTAINERS = 20_000;

/**
 * Object members (key: value pairs, all objects together) accepted in one
 * JSON document. V8 gives small objects a hidden class per set of keys, so
 * members whose keys the process has not seen cost a new class each: 23,000
 * of them (370 KiB of `{"k1":0,…,"k8":0}` with fresh keys) took 50-80 ms of
 * one turn on a loaded 2-core machine, under 10 ms when the keys repeat; and
 * JSON runtime data is parsed twice when a policy queries it. 5,000 is far
 * above what clients send (a JWK has under 10 members, MAA's body 5).
 */
export const MAX_JSON_MEMBERS = 5_000;

/**
 * Throws JSON_TOO_DEEP when the text opens more than MAX_JSON_DEPTH brackets
 * at once, JSON_TOO_LARGE when it opens more than MAX_JSON_CONTAINERS in all
 * or holds more than MAX_JSON_MEMBERS members (counted outside strings). One
 * linear pass before JSON.parse: V8 parses a 1 MiB body of half a million
 * `[` in over 100 ms of one event-loop turn, this refuses it in a few.
 * Strings are skipped with indexOf (a base64 field is most of an attestation
 * body). For text JSON.parse accepts, the bracket depth counted here is the
 * nesting of the value it returns, so the value needs no second walk.
 */
function assertTextShape(text: string, what: string, path: ReadonlyArray<string | number>): void {
  let depth = 0;
  let containers = 0;
  let members = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // To the closing quote: the next one not escaped by an odd run of backslashes.
      for (;;) {
        const q = text.indexOf('"', i + 1);
        if (q < 0) return; // unterminated: JSON.parse refuses it
        let slashes = 0;
        while (text.charCodeAt(q - 1 - slashes) === 0x5c) slashes++;
        i = q;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x3a) {
      if (++members > MAX_JSON_MEMBERS) throw new KubeSgxError('JSON_TOO_LARGE', `${what} holds more than ${MAX_JSON_MEMBERS} object members`, { path });
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw new KubeSgxError('JSON_TOO_DEEP', `${what} nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels`, { path });
      if (++containers > MAX_JSON_CONTAINERS) throw new KubeSgxError('JSON_TOO_LARGE', `${what} holds more than ${MAX_JSON_CONTAINERS} arrays/objects`, { path });
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** JSON.parse with the nesting and size limits; `code` names the error for text that is not JSON. */
export function parseJsonBounded(text: string, what: string, path: ReadonlyArray<string | number> = [], code: ErrorCode = 'INVALID_JSON'): unknown {
  assertTextShape(text, what, path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new KubeSgxError(code, `${what} is not JSON: ${(e as Error).message}`, { path, cause: e });
  }
}
