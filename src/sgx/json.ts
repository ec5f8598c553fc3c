/**
 * Plain-JSON rendering of parsed structures (for `kube-sgx quote inspect`
 * and logs): Buffers become lowercase hex, bigints become 0x-hex strings.
 */
import type { Quote } from './quote.js';
import type { PckExtensions } from './pck-extensions.js';

export type SgxJson = string | number | boolean | null | SgxJson[] | { [k: string]: SgxJson };

/** Converts any parsed structure into JSON-safe data (hex for bytes, 0x-hex for bigints). */
export function sgxToJson(value: unknown): SgxJson {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (typeof value === 'bigint') return '0x' + value.toString(16);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(sgxToJson);
  if (typeof value === 'object') {
    const out: { [k: string]: SgxJson } = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = sgxToJson(v);
    return out;
  }
  return String(value);
}

/**
 * Every field of a quote as JSON. The raw `bytes`/`signedBytes` views and
 * the type-5 `data` blob are left out (they repeat other fields); the PCK
 * chain appears as its PEM blocks.
 */
export function quoteToJson(q: Quote): { [k: string]: SgxJson } {
  const { bytes: _bytes, signedBytes: _signed, signatureData, ...rest } = q;
  const { certificationData: cd, qeReportBytes: _qeBytes, ...sig } = signatureData;
  let cert: SgxJson;
  if (cd.type === 5) cert = { type: 5, size: cd.data.length, encoding: cd.encoding, pem: cd.pem };
  else cert = sgxToJson({ ...cd, size: cd.data.length });
  const out = sgxToJson(rest) as { [k: string]: SgxJson };
  out.size = q.bytes.length + q.trailingZeros;
  out.signatureData = { ...(sgxToJson(sig) as { [k: string]: SgxJson }), certificationData: cert };
  return out;
}

export function pckExtensionsToJson(e: PckExtensions): { [k: string]: SgxJson } {
  return sgxToJson(e) as { [k: string]: SgxJson };
}
