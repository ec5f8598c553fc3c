/**
 * The project's one DER reader and writer: kube-sgx reads X.509 certificates and
 * CRLs (src/dcap), Intel's SGX extension and certification data (src/sgx) with
 * it, as byte offsets into the input — no object trees. Definite, minimal
 * lengths only (X.690 §10.1), every length bounds-checked; failures throw
 * KubeSgxError with the caller's code (default DER_MALFORMED), the path of the
 * structure being read and the byte offset; a BER length is always
 * DER_LENGTH_NOT_MINIMAL.
 */
import { KubeSgxError, type ErrorPath, type ErrorCode } from '../errors.js';

export const DER_TAG = {
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

/** One TLV, as offsets into the buffer it was read from. */
export interface DerNode {
  tag: number;
  /** offset of the tag byte */
  start: number;
  /** offset of the first content byte */
  body: number;
  /** offset just past the content */
  end: number;
}

/** The default code of a malformed encoding. */
export const DER_MALFORMED = 'DER_MALFORMED';
/** The code of a length that is valid BER but not DER (whatever code the caller reads with). */
export const DER_LENGTH_NOT_MINIMAL = 'DER_LENGTH_NOT_MINIMAL';

function derFail(code: ErrorCode, what: string, offset: number, path: ErrorPath = []): never {
  throw new KubeSgxError(code, `${path.length > 0 ? path.join('.') + ': ' : ''}${what} at offset ${offset}`, { path, offset });
}

/** Reads the TLV at `offset`; it must end by `limit`. */
export function readNode(buf: Uint8Array, offset: number, limit = buf.length, code: ErrorCode = DER_MALFORMED, path: ErrorPath = []): DerNode {
  if (offset + 2 > limit) derFail(code, 'truncated DER header', offset, path);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) derFail(code, 'multi-byte DER tags are not supported', offset, path);
  let p = offset + 1;
  let len = buf[p++];
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) derFail(code, 'unsupported DER length form', offset, path);
    if (p + n > limit) derFail(code, 'truncated DER length', offset, path);
    // DER (X.690 §10.1): the fewest length octets. A leading zero octet, or the long form for a
    // length below 128, is BER that OpenSSL and Intel's QVL refuse; refused here under its own code.
    if (buf[p] === 0) derFail(DER_LENGTH_NOT_MINIMAL, 'non-minimal DER length (leading zero octet)', offset, path);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
    if (len < 0x80) derFail(DER_LENGTH_NOT_MINIMAL, `non-minimal DER length (long form for ${len})`, offset, path);
  }
  if (len > limit - p) derFail(code, `DER length ${len} runs past its container`, offset, path);
  return { tag, start: offset, body: p, end: p + len };
}

/** Reads the TLV at `offset` and requires its tag. */
export function expectNode(buf: Uint8Array, offset: number, limit: number, tag: number, code: ErrorCode = DER_MALFORMED, path: ErrorPath = []): DerNode {
  const n = readNode(buf, offset, limit, code, path);
  if (n.tag !== tag) derFail(code, `expected DER tag 0x${tag.toString(16)}, got 0x${n.tag.toString(16)}`, offset, path);
  return n;
}

/** The TLVs inside a constructed one, in order. */
export function childNodes(buf: Uint8Array, parent: DerNode, code: ErrorCode = DER_MALFORMED, path: ErrorPath = []): DerNode[] {
  const out: DerNode[] = [];
  for (let p = parent.body; p < parent.end; ) {
    const n = readNode(buf, p, parent.end, code, path);
    out.push(n);
    p = n.end;
  }
  return out;
}

/** The content bytes of `n` (a view). */
export function nodeContent(buf: Uint8Array, n: DerNode): Uint8Array {
  return buf.subarray(n.body, n.end);
}

/** The whole encoding of `n`, tag and length included (a view). */
export function nodeBytes(buf: Uint8Array, n: DerNode): Uint8Array {
  return buf.subarray(n.start, n.end);
}

/** Dotted string of an OBJECT IDENTIFIER. */
export function oidString(buf: Uint8Array, n: DerNode, code: ErrorCode = DER_MALFORMED): string {
  if (n.tag !== DER_TAG.OID || n.end === n.body) derFail(code, 'expected OBJECT IDENTIFIER', n.start);
  const parts: number[] = [];
  let v = 0;
  for (let i = n.body; i < n.end; i++) {
    v = v * 128 + (buf[i] & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) derFail(code, 'OID arc too large', i);
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

/** UTCTime / GeneralizedTime (Z form, whole seconds) as epoch milliseconds. */
export function readTime(buf: Uint8Array, n: DerNode, code: ErrorCode = DER_MALFORMED): number {
  const s = Buffer.from(nodeContent(buf, n)).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (n.tag === DER_TAG.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (n.tag === DER_TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    return derFail(code, `bad time ${JSON.stringify(s)}`, n.start);
  }
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) derFail(code, `bad time ${JSON.stringify(s)}`, n.start);
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  if (!Number.isFinite(ms)) derFail(code, 'bad time', n.start);
  return ms;
}

/** INTEGER content as unsigned big-endian hex (leading zero octets removed), uppercase. */
export function integerHex(buf: Uint8Array, n: DerNode, code: ErrorCode = DER_MALFORMED): string {
  if (n.tag !== DER_TAG.INTEGER || n.end === n.body) derFail(code, 'expected INTEGER', n.start);
  let i = n.body;
  while (i < n.end - 1 && buf[i] === 0) i++;
  return Buffer.from(buf.subarray(i, n.end)).toString('hex').toUpperCase();
}

/** True when the OID node's content equals `oid` (encoded content bytes). */
export function oidEquals(buf: Uint8Array, n: DerNode, oid: Uint8Array): boolean {
  if (n.tag !== DER_TAG.OID || n.end - n.body !== oid.length) return false;
  for (let i = 0; i < oid.length; i++) if (buf[n.body + i] !== oid[i]) return false;
  return true;
}

/** Content bytes of a dotted OID. */
export function encodeOidContent(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => Number(s));
  const out: number[] = [];
  const push = (v: number): void => {
    const tmp = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) tmp.unshift((v & 0x7f) | 0x80);
    out.push(...tmp);
  };
  push(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return Buffer.from(out);
}

// ---- writer ----

function lengthBytes(len: number): number[] {
  if (len < 0x80) return [len];
  const b: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff);
  return [0x80 | b.length, ...b];
}

export function derTlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag, ...lengthBytes(content.length)]), content]);
}

export function derSequence(items: Uint8Array[]): Buffer {
  return derTlv(DER_TAG.SEQUENCE, Buffer.concat(items));
}

/** Minimal two's-complement INTEGER (or ENUMERATED) of a non-negative safe integer. */
export function derUint(value: number, tag: number = DER_TAG.INTEGER): Buffer {
  const b: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff);
  if (b.length === 0 || (b[0] & 0x80) !== 0) b.unshift(0);
  return derTlv(tag, Buffer.from(b));
}

export function derBoolean(v: boolean): Buffer {
  return derTlv(DER_TAG.BOOLEAN, Buffer.from([v ? 0xff : 0x00]));
}

export function derOid(dotted: string): Buffer {
  return derTlv(DER_TAG.OID, encodeOidContent(dotted));
}
