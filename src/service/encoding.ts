/** Bounded JSON for request bodies and runtime data: nesting depth and parsing that names the field. */
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
 * allocating them, most of all objects with distinct keys: 1 MiB of
 * `{"k<n>":0}` (77,000 objects) took ~95 ms of main-thread CPU and 1 MiB of
 * `[[{}]]` ~110 ms, in one event-loop turn, on a loaded machine. 20,000 keeps
 * a parse near 20 ms and is far above the JSON clients send (a JWK, MAA's
 * body, runtime data of thousands of members).
 */
export const MAX_JSON_CONTAINERS = 20_000;

/**
 * Throws JSON_TOO_DEEP when the text opens more than MAX_JSON_DEPTH brackets
 * at once, JSON_TOO_LARGE when it opens more than MAX_JSON_CONTAINERS in all
 * (outside strings). One linear pass before JSON.parse: V8 parses a 1 MiB
 * body of half a million `[` in over 100 ms of one event-loop turn, this
 * refuses it in a few.
 */
function assertTextShape(text: string, what: string, path: ReadonlyArray<string | number>): void {
  let depth = 0;
  let containers = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw new KubeSgxError('JSON_TOO_DEEP', `${what} nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels`, { path });
      if (++containers > MAX_JSON_CONTAINERS) throw new KubeSgxError('JSON_TOO_LARGE', `${what} holds more than ${MAX_JSON_CONTAINERS} arrays/objects`, { path });
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** JSON.parse with the nesting limit; `code` names the error for text that is not JSON. */
export function parseJsonBounded(text: string, what: string, path: ReadonlyArray<string | number> = [], code: ErrorCode = 'INVALID_JSON'): unknown {
  assertTextShape(text, what, path);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KubeSgxError(code, `${what} is not JSON: ${(e as Error).message}`, { path, cause: e });
  }
  assertJsonDepth(v, what, path);
  return v;
}
