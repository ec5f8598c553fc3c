/**
 * A minimal DER reader: just enough ASN.1 to take X.509 certificates and CRLs
 * apart (byte slices for signatures, names, times, extensions) without
 * allocating object trees. Every length is bounds-checked; malformed input
 * throws KubeSgxError('DER_MALFORMED') naming the offset.
 */
import { KubeSgxError } from '../errors.js';
import { readNode } from '../sgx/der.js';

export interface Tlv {
  tag: number;
  /** offset of the tag byte */
  start: number;
  /** offset of the first content byte */
  contentStart: number;
  /** offset just past the content */
  end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function malformed(what: string, offset: number): never {
  throw new KubeSgxError('DER_MALFORMED', `DER: ${what} at offset ${offset}`, { offset });
}

/**
 * Reads the TLV starting at `offset`, which must end at or before `limit`.
 * The TLV parsing itself is src/sgx/der.ts's (one DER length decoder in the
 * project); this layer names its failures DER_MALFORMED.
 */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  const n = readNode(buf, offset, limit, 'DER_MALFORMED');
  return { tag: n.tag, start: n.start, contentStart: n.body, end: n.end };
}

/** Reads a TLV and requires its tag. */
export function expectTlv(buf: Uint8Array, offset: number, tag: number, limit = buf.length, what = 'element'): Tlv {
  const t = readTlv(buf, offset, limit);
  if (t.tag !== tag) malformed(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`, offset);
  return t;
}

/** The children of a constructed TLV, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function content(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.contentStart, t.end);
}

export function whole(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

/** Dotted OID string of an OBJECT IDENTIFIER TLV. */
export function oidString(buf: Uint8Array, t: Tlv): string {
  if (t.tag !== TAG.OID || t.end === t.contentStart) malformed('expected OBJECT IDENTIFIER', t.start);
  const parts: number[] = [];
  let v = 0;
  for (let i = t.contentStart; i < t.end; i++) {
    v = v * 128 + (buf[i] & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) malformed('OID arc too large', i);
    if ((buf[i] & 0x80) === 0) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** UTCTime / GeneralizedTime (Z form, whole seconds) to epoch milliseconds. */
export function readTime(buf: Uint8Array, t: Tlv): number {
  const s = Buffer.from(content(buf, t)).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === TAG.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    return malformed(`bad time ${JSON.stringify(s)}`, t.start);
  }
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) malformed(`bad time ${JSON.stringify(s)}`, t.start);
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  if (!Number.isFinite(ms)) malformed('bad time', t.start);
  return ms;
}

/** INTEGER content as unsigned big-endian hex (leading zero octets removed), uppercase. */
export function integerHex(buf: Uint8Array, t: Tlv): string {
  if (t.tag !== TAG.INTEGER || t.end === t.contentStart) malformed('expected INTEGER', t.start);
  let i = t.contentStart;
  while (i < t.end - 1 && buf[i] === 0) i++;
  return Buffer.from(buf.subarray(i, t.end)).toString('hex').toUpperCase();
}

/** Small non-negative INTEGER / ENUMERATED as a number. */
export function smallInt(buf: Uint8Array, t: Tlv): number {
  const len = t.end - t.contentStart;
  if (len === 0 || len > 6 || (buf[t.contentStart] & 0x80) !== 0) malformed('expected a small non-negative integer', t.start);
  let v = 0;
  for (let i = t.contentStart; i < t.end; i++) v = v * 256 + buf[i];
  return v;
}
