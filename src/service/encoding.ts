/** Strict base64/base64url/hex decoding for request fields: bad input names its field. */
import { KubeSgxError } from '../errors.js';

const B64ANY = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes base64url or standard base64, padded or not (MAA clients send
 * unpadded base64url; others send standard base64). Rejects any other
 * character and impossible lengths instead of skipping them as Buffer does.
 */
export function decodeBase64Any(value: unknown, path: string): Uint8Array {
  if (typeof value !== 'string') {
    throw new KubeSgxError('INVALID_BASE64', `${path} must be a base64url string`, { path: [path] });
  }
  const s = value.trim();
  if (!B64ANY.test(s) || s.replace(/=+$/, '').length % 4 === 1) {
    throw new KubeSgxError('INVALID_BASE64', `${path} is not valid base64url/base64`, { path: [path] });
  }
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  return new Uint8Array(Buffer.from(std, 'base64'));
}

export function b64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64url');
}

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

/** JSON.parse with the nesting limit; `code` names the error for text that is not JSON. */
export function parseJsonBounded(text: string, what: string, path: ReadonlyArray<string | number> = [], code = 'INVALID_JSON'): unknown {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KubeSgxError(code, `${what} is not JSON: ${(e as Error).message}`, { path, cause: e });
  }
  assertJsonDepth(v, what, path);
  return v;
}
