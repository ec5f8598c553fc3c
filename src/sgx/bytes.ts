/**
 * `decodeQuoteFile`: accepts a quote file as raw bytes, hex text
 * (optionally `0x`-prefixed, whitespace allowed) or base64 / base64url text.
 */
import { decodeBase64, decodeHex, isHex } from '../encoding.js';
import { KubeSgxError } from '../errors.js';
import { QUOTE_HEADER_SIZE, QUOTE_MAX_SIGNATURE_DATA_SIZE } from './constants.js';
import { asBuffer } from './reader.js';

/** Largest quote file accepted (binary size; text forms may be about twice as long). */
export const QUOTE_FILE_MAX_SIZE = 2 * QUOTE_MAX_SIGNATURE_DATA_SIZE;

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
  if (isHex(unprefixed)) out = decodeHex(unprefixed, 'quote');
  else if (/^[A-Za-z0-9+/_=-]+$/.test(compact)) {
    try {
      out = decodeBase64(compact, 'quote');
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
