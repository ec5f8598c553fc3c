/**
 * Text encodings of binary SGX data: strict hex and base64, and
 * `decodeQuoteFile`, which accepts a quote file as raw bytes, hex text
 * (optionally `0x`-prefixed, whitespace allowed) or base64 / base64url text.
 */
import { KubeSgxError } from '../errors.js';
import { QUOTE_HEADER_SIZE, QUOTE_MAX_SIGNATURE_DATA_SIZE } from './constants.js';
import { asBuffer } from './reader.js';

/** Largest quote file accepted (binary size; text forms may be about twice as long). */
export const QUOTE_FILE_MAX_SIZE = 2 * QUOTE_MAX_SIGNATURE_DATA_SIZE;

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Strict hex (even length, hex digits only; optional 0x prefix and whitespace). */
export function hexDecodeStrict(text: string, what = 'hex'): Buffer {
  let s = text.replace(/\s+/g, '');
  if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
  if (!HEX.test(s)) throw new KubeSgxError('BAD_HEX', `${what}: not valid hex`, { path: [what] });
  return Buffer.from(s, 'hex');
}

/** Strict base64 or base64url (padding optional for base64url); whitespace ignored. */
export function base64DecodeStrict(text: string, what = 'base64'): Buffer {
  const s = text.replace(/\s+/g, '');
  if (BASE64.test(s) && s.length % 4 === 0) return Buffer.from(s, 'base64');
  if (BASE64URL.test(s) && s.length % 4 !== 1) return Buffer.from(s, 'base64url');
  throw new KubeSgxError('BAD_BASE64', `${what}: not valid base64`, { path: [what] });
}

/** Quote versions 3–5 start `03 00 02 00`, `04 00 02 00`, `05 00 02 00` in binary. */
function looksBinaryQuote(b: Buffer): boolean {
  return b.length >= 4 && b[0] >= 3 && b[0] <= 5 && b[1] === 0 && b[3] === 0;
}

/**
 * Turns the contents of a quote file into quote bytes: binary is returned as
 * is; otherwise the text must be hex or base64 of the quote. Does not parse
 * the quote (use parseQuote on the result).
 */
export function decodeQuoteFile(file: Uint8Array): Buffer {
  const buf = asBuffer(file);
  if (buf.length > QUOTE_FILE_MAX_SIZE * 2) {
    throw new KubeSgxError('QUOTE_TOO_LARGE', `quote file is ${buf.length} bytes; the limit is ${QUOTE_FILE_MAX_SIZE * 2}`, { details: { size: buf.length } });
  }
  if (looksBinaryQuote(buf)) return buf;
  const text = buf.toString('latin1').trim();
  if (text.length === 0) throw new KubeSgxError('QUOTE_TRUNCATED', 'quote file is empty', { offset: 0 });
  let out: Buffer | undefined;
  const compact = text.replace(/\s+/g, '');
  const unprefixed = compact.startsWith('0x') || compact.startsWith('0X') ? compact.slice(2) : compact;
  if (HEX.test(unprefixed)) out = Buffer.from(unprefixed, 'hex');
  else if (/^[A-Za-z0-9+/_=-]+$/.test(compact)) {
    try {
      out = base64DecodeStrict(compact, 'quote');
    } catch {
      out = undefined;
    }
  }
  if (out === undefined) {
    throw new KubeSgxError('QUOTE_BAD_ENCODING', 'quote file is neither a binary quote nor hex or base64 text', { details: { size: buf.length } });
  }
  if (out.length < QUOTE_HEADER_SIZE && !looksBinaryQuote(out)) {
    throw new KubeSgxError('QUOTE_BAD_ENCODING', 'decoded quote file does not start like a quote', { details: { size: out.length } });
  }
  return out;
}
