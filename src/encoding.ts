/**
 * The text encodings binary data arrives in, decoded strictly in one place:
 * hex and base64. Bad input is a KubeSgxError naming the field (`BAD_HEX`,
 * `INVALID_BASE64`), never bytes silently skipped as Buffer.from would.
 */
import { KubeSgxError } from './errors.js';

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64_ANY = /^[A-Za-z0-9+/_-]*={0,2}$/;
const BASE64_STD = /^[A-Za-z0-9+/]*={0,2}$/;

/** Non-empty, even-length hex digits (either case), nothing else. */
export function isHex(text: string): boolean {
  return text.length > 0 && HEX.test(text);
}

/** Strict hex: even length, hex digits only; an optional 0x prefix and whitespace are allowed. */
export function decodeHex(text: string, what = 'hex'): Buffer {
  let s = text.replace(/\s+/g, '');
  if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
  if (!HEX.test(s)) throw new KubeSgxError('BAD_HEX', `${what}: not valid hex`, { path: [what] });
  return Buffer.from(s, 'hex');
}

export interface Base64Options {
  /**
   * 'any' (default): base64 or base64url, padded or not (MAA clients send
   * unpadded base64url, others standard base64). 'standard': RFC 4648 §4
   * alphabet, padded to a multiple of 4 (PEM bodies).
   */
  alphabet?: 'any' | 'standard';
}

/** Strict base64; whitespace is ignored; any other stray character or an impossible length is refused. */
export function decodeBase64(value: unknown, what = 'base64', opts: Base64Options = {}): Buffer {
  if (typeof value !== 'string') throw new KubeSgxError('INVALID_BASE64', `${what} must be a base64url string`, { path: [what] });
  const alphabet = opts.alphabet === 'standard' ? BASE64_STD : BASE64_ANY;
  // Quotes arrive on every attestation without whitespace: test them as they are, and copy only text that has some.
  let s = value;
  let ok = alphabet.test(s);
  if (!ok) ok = alphabet.test((s = value.replace(/\s+/g, '')));
  if (!ok || !base64LengthPossible(s, opts.alphabet === 'standard')) {
    throw new KubeSgxError('INVALID_BASE64', `${what} is not valid ${opts.alphabet === 'standard' ? 'base64' : 'base64url/base64'}`, { path: [what] });
  }
  // Node's base64 decoder reads both alphabets (RFC 4648 §4 and §5), so base64url needs no translation.
  return Buffer.from(s, 'base64');
}

/** Standard base64 is padded to whole quanta; unpadded text may not leave a lone 6-bit character. */
function base64LengthPossible(s: string, padded: boolean): boolean {
  if (padded) return s.length % 4 === 0;
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--;
  return end % 4 !== 1;
}

export function encodeBase64Url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64url');
}
