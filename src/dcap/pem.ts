/**
 * PEM and the other text encodings Intel's collateral arrives in: certificate
 * chains as concatenated PEM (quote type-5 data ends with `\n\0`), CRLs as PEM,
 * lowercase hex of DER, or raw DER — all normalised to DER bytes here, at the edge.
 */
import { decodeBase64, decodeHex, isHex } from '../encoding.js';
import { KubeSgxError } from '../errors.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function decodeBase64Strict(body: string, what: string): Uint8Array {
  let der: Uint8Array | undefined;
  try {
    der = decodeBase64(body, what, { alphabet: 'standard' });
  } catch {
    der = undefined;
  }
  if (der === undefined || der.length === 0) throw new KubeSgxError('PEM_MALFORMED', `${what}: invalid base64 in PEM block`);
  return der;
}

/** DER bytes of every `label` block in `text` (trailing NULs tolerated), in order. */
export function pemBlocks(text: string, label: string, what = 'PEM'): Uint8Array[] {
  const out: Uint8Array[] = [];
  const trimmed = text.replace(/\0+$/, '');
  for (const m of trimmed.matchAll(PEM_BLOCK)) {
    if (m[1] === label) out.push(decodeBase64Strict(m[2], what));
  }
  return out;
}

/** Certificates of a PEM chain; at least one required. */
export function pemCertificates(text: string, what: string): Uint8Array[] {
  const certs = pemBlocks(text, 'CERTIFICATE', what);
  if (certs.length === 0) throw new KubeSgxError('PEM_MALFORMED', `${what}: no PEM certificate found`, { path: [what] });
  return certs;
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** A CRL given as PEM text, hex of DER, or DER bytes → DER. */
export function crlToDer(input: string | Uint8Array, path: string): Uint8Array {
  if (typeof input !== 'string') {
    if (input.length > 0 && input[0] === 0x30) return input;
    return crlToDer(Buffer.from(input).toString('latin1'), path);
  }
  const s = input.trim();
  if (s.startsWith('-----BEGIN')) {
    const blocks = pemBlocks(s, 'X509 CRL', path);
    if (blocks.length !== 1) throw new KubeSgxError('CRL_MALFORMED', `${path}: expected one X509 CRL PEM block`, { path: [path] });
    return blocks[0];
  }
  if (isHex(s)) return decodeHex(s, path);
  throw new KubeSgxError('CRL_MALFORMED', `${path}: not PEM, hex or DER`, { path: [path] });
}

/** A certificate given as PEM or DER (trusted roots) → DER. */
export function certToDer(input: string | Uint8Array, what: string): Uint8Array {
  if (typeof input === 'string') {
    const certs = pemCertificates(input, what);
    if (certs.length !== 1) throw new KubeSgxError('PEM_MALFORMED', `${what}: expected exactly one certificate`);
    return certs[0];
  }
  if (input.length > 0 && input[0] === 0x30) return input;
  return certToDer(Buffer.from(input).toString('utf8'), what);
}
