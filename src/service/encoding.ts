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
