/**
 * Quote certification data (types 1–6). Types 1–3 carry the PPID (clear or
 * RSA-encrypted) with CPUSVN/PCESVN/PCE-ID, type 4 a PCK certificate, type 5
 * the PCK chain (PEM; Intel's synthetic TDX sample puts DER there), and type 6
 * the QE report certification data that v4/v5 quotes wrap around types 1–5.
 */
import { KubeSgxError, type ErrorPath } from '../errors.js';
import { CERT_DATA_TYPE, ECDSA_P256_SIGNATURE_SIZE, SGX_REPORT_BODY_SIZE } from './constants.js';
import { DER_TAG, readNode } from './der.js';
import { ByteReader } from './reader.js';
import { readReportBody, writeReportBody, type ReportBody } from './report.js';
import { ByteWriter } from './writer.js';

/** Types 1–3: PPID ‖ CPUSVN(16) ‖ PCESVN(u16) ‖ PCE-ID(u16); Intel's sample type 1 omits PCE-ID. */
export interface PpidCertificationData {
  type: 1 | 2 | 3;
  data: Buffer;
  /** 16 bytes in clear (type 1) or the RSA-OAEP ciphertext (256 / 384 bytes). */
  ppid: Buffer;
  cpuSvn: Buffer;
  pceSvn: number;
  /** u16 PCE-ID, or undefined when the data stops after PCESVN (Intel's sampleData/quote.dat). */
  pceId: number | undefined;
}

export interface PckCertCertificationData {
  type: 4;
  data: Buffer;
}

export interface PckChainCertificationData {
  type: 5;
  data: Buffer;
  /** How the chain is encoded: PEM in every real quote, DER in Intel's synthetic TDX sample. */
  encoding: 'pem' | 'der';
  /** The certificates in quote order (leaf first in real quotes), DER, views or decoded copies. */
  certificates: Buffer[];
  /** The PEM blocks as they appear (for 'der' encoding: PEM rendered from the DER). */
  pem: string[];
}

/** Type 6 content (and the inline tail of a v3 quote's signature data). */
export interface QeReportCertificationData {
  qeReport: ReportBody;
  /** The exact 384 QE report bytes the PCK key signed. */
  qeReportBytes: Buffer;
  qeReportSignature: Buffer;
  qeAuthData: Buffer;
  certificationData: CertificationData;
}

/** What the encoders need of QE report certification data (`qeReportBytes` is derived). */
export type QeReportCertificationDataInit = Omit<QeReportCertificationData, 'qeReportBytes'> & { qeReportBytes?: Buffer };

export interface QeReportCertCertificationData {
  type: 6;
  data: Buffer;
  qeReportCertificationData: QeReportCertificationData;
}

export type CertificationData =
  | PpidCertificationData
  | PckCertCertificationData
  | PckChainCertificationData
  | QeReportCertCertificationData;

const PPID_SIZE: Record<1 | 2 | 3, number> = { 1: 16, 2: 256, 3: 384 };
/** Certification data nests at most once (type 6 → 1..5). */
const MAX_NESTING = 1;

/**
 * Reads `u16 type ‖ u32 size ‖ data` at the reader's position.
 * `allowed` lists acceptable types (Intel: v3 1–5, v4/v5 outer 6, inner 1–5).
 */
export function readCertificationData(r: ByteReader, path: ErrorPath, allowed: readonly number[], depth = 0): CertificationData {
  const typeOffset = r.pos;
  const type = r.u16(path, 'type');
  if (!allowed.includes(type)) {
    throw new KubeSgxError('CERT_DATA_UNSUPPORTED_TYPE', `${[...path, 'type'].join('.')}: certification data type ${type} is not allowed here (expected ${allowed.join(', ')})`, {
      path: [...path, 'type'],
      offset: typeOffset,
      details: { type, allowed },
    });
  }
  const size = r.u32(path, 'size');
  const dataOffset = r.pos;
  if (size > r.remaining) {
    throw new KubeSgxError(r.overflowCode.endsWith('_TRUNCATED') ? r.overflowCode : 'CERT_DATA_BAD_LENGTH', `${[...path, 'size'].join('.')}: declares ${size} bytes, only ${r.remaining} available`, {
      path: [...path, 'size'],
      offset: dataOffset - 4,
      details: { declared: size, available: r.remaining },
    });
  }
  const data = r.bytes(size, path, 'data');
  return decodeCertificationData(type, data, r.buf, dataOffset, path, depth);
}

/**
 * Decodes certification data of `type` whose bytes are `data` (= buf[dataOffset, +len)).
 * `buf`/`dataOffset` locate it in the enclosing input so error offsets are absolute.
 */
export function decodeCertificationData(type: number, data: Buffer, buf: Buffer, dataOffset: number, path: ErrorPath, depth = 0): CertificationData {
  switch (type) {
    case CERT_DATA_TYPE.PPID_CLEARTEXT:
    case CERT_DATA_TYPE.PPID_RSA2048_ENCRYPTED:
    case CERT_DATA_TYPE.PPID_RSA3072_ENCRYPTED:
      return decodePpid(type, data, dataOffset, path);
    case CERT_DATA_TYPE.PCK_CERT:
      if (data.length === 0) throw new KubeSgxError('CERT_DATA_BAD_LENGTH', `${path.join('.')}: empty PCK certificate`, { path: [...path, 'size'], offset: dataOffset });
      return { type: 4, data };
    case CERT_DATA_TYPE.PCK_CERT_CHAIN:
      return decodeChain(data, dataOffset, path);
    case CERT_DATA_TYPE.QE_REPORT_CERT_DATA: {
      if (depth >= MAX_NESTING) {
        throw new KubeSgxError('CERT_DATA_UNSUPPORTED_TYPE', `${path.join('.')}: type 6 cannot nest inside type 6`, { path: [...path, 'type'], offset: dataOffset - 6 });
      }
      const r = new ByteReader(buf, dataOffset, dataOffset + data.length, 'CERT_DATA_BAD_LENGTH');
      const q = readQeReportCertificationData(r, path, [1, 2, 3, 4, 5], depth + 1);
      if (r.remaining !== 0) {
        throw new KubeSgxError('CERT_DATA_TRAILING_BYTES', `${path.join('.')}: ${r.remaining} bytes after the inner certification data`, {
          path: [...path, 'size'],
          offset: r.pos,
          details: { trailing: r.remaining },
        });
      }
      return { type: 6, data, qeReportCertificationData: q };
    }
    default:
      throw new KubeSgxError('CERT_DATA_UNSUPPORTED_TYPE', `${path.join('.')}: unknown certification data type ${type}`, { path: [...path, 'type'], offset: dataOffset - 6, details: { type } });
  }
}

/** QE report ‖ QE report signature ‖ u16 auth size ‖ auth data ‖ certification data. */
export function readQeReportCertificationData(r: ByteReader, path: ErrorPath, allowed: readonly number[], depth = 0): QeReportCertificationData {
  const qeReportStart = r.pos;
  const qeReport = readReportBody(r, [...path, 'qeReport']);
  const qeReportBytes = r.buf.subarray(qeReportStart, qeReportStart + SGX_REPORT_BODY_SIZE);
  const qeReportSignature = r.bytes(ECDSA_P256_SIGNATURE_SIZE, path, 'qeReportSignature');
  const authSize = r.u16([...path, 'qeAuthData', 'size']);
  if (authSize > r.remaining) {
    throw new KubeSgxError(r.overflowCode, `${[...path, 'qeAuthData', 'size'].join('.')}: declares ${authSize} bytes, only ${r.remaining} available`, {
      path: [...path, 'qeAuthData', 'size'],
      offset: r.pos - 2,
      details: { declared: authSize, available: r.remaining },
    });
  }
  const qeAuthData = r.bytes(authSize, [...path, 'qeAuthData', 'data']);
  const certificationData = readCertificationData(r, [...path, 'certificationData'], allowed, depth);
  return { qeReport, qeReportBytes, qeReportSignature, qeAuthData, certificationData };
}

function decodePpid(type: 1 | 2 | 3, data: Buffer, dataOffset: number, path: ErrorPath): PpidCertificationData {
  const ppidSize = PPID_SIZE[type];
  const full = ppidSize + 20;
  if (data.length !== full && data.length !== full - 2) {
    throw new KubeSgxError('CERT_DATA_BAD_LENGTH', `${path.join('.')}: type ${type} needs ${full} (or ${full - 2}) bytes, got ${data.length}`, {
      path: [...path, 'size'],
      offset: dataOffset - 4,
      details: { type, expected: full, actual: data.length },
    });
  }
  return {
    type,
    data,
    ppid: data.subarray(0, ppidSize),
    cpuSvn: data.subarray(ppidSize, ppidSize + 16),
    pceSvn: data.readUInt16LE(ppidSize + 16),
    pceId: data.length === full ? data.readUInt16LE(ppidSize + 18) : undefined,
  };
}

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';
const PEM_BEGIN_BYTES = Buffer.from(PEM_BEGIN, 'latin1');
const PEM_END_BYTES = Buffer.from(PEM_END, 'latin1');

/** Only whitespace and NULs may surround the PEM blocks (real quotes end with `\n\0`). */
function isFillerByte(c: number): boolean {
  return c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09 || c === 0x00;
}

function allFiller(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isFillerByte(b[i])) return false;
  return true;
}

/** Base64 with line whitespace, and at most two '=' (with whitespace around them) only at the end. */
const BASE64_LINES = /^[A-Za-z0-9+/\n\r\t ]*(?:=[\n\r\t ]*){0,2}$/;
const LINE_WHITESPACE = /[\n\r\t ]+/g;

/**
 * Strict base64 with line breaks (this is the bulk of parsing a quote):
 * validated by one regular expression, decoded by Node's native decoder.
 * Returns undefined if the text is not base64: bad characters, '=' anywhere
 * but the end, or a length that is not a multiple of 4.
 */
function decodeBase64Lines(b: Uint8Array, start: number, end: number): Buffer | undefined {
  const text = Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
  if (!BASE64_LINES.test(text)) return undefined;
  const compact = text.replace(LINE_WHITESPACE, '');
  if (compact.length === 0 || compact.length % 4 !== 0) return undefined;
  // zero-filled, own memory (not a pool slice): callers may hand `.buffer` to other libraries
  const out = Buffer.alloc((compact.length / 4) * 3);
  return out.subarray(0, out.write(compact, 'base64'));
}

/**
 * PEM chains already decoded, by their exact text. Every quote from a platform
 * carries the same PCK chain, so on a busy verifier this skips three base64
 * decodes per quote. Only chains that decoded are remembered; the Buffers are
 * shared between results and are only read (verify.ts, cli/verifier.ts).
 */
const decodedPemChains = new Map<string, { certificates: Buffer[]; pem: string[] }>();
const MAX_DECODED_PEM_CHAINS = 64;

function decodeChain(data: Buffer, dataOffset: number, path: ErrorPath): PckChainCertificationData {
  if (data.indexOf(PEM_BEGIN_BYTES) < 0) return decodeDerChain(data, dataOffset, path);
  const key = data.toString('latin1');
  const seen = decodedPemChains.get(key);
  if (seen) return { type: 5, data, encoding: 'pem', certificates: seen.certificates, pem: seen.pem };
  const decoded = decodePemChain(data, dataOffset, path);
  if (decodedPemChains.size >= MAX_DECODED_PEM_CHAINS) decodedPemChains.clear();
  decodedPemChains.set(key, { certificates: decoded.certificates, pem: decoded.pem });
  return decoded;
}

function decodePemChain(data: Buffer, dataOffset: number, path: ErrorPath): PckChainCertificationData {
  const certificates: Buffer[] = [];
  const pem: string[] = [];
  let p = 0;
  for (;;) {
    const begin = data.indexOf(PEM_BEGIN_BYTES, p);
    if (!allFiller(data, p, begin < 0 ? data.length : begin)) {
      throw new KubeSgxError('CERT_DATA_BAD_PEM', `${path.join('.')}: unexpected bytes outside PEM blocks`, { path: [...path, 'data'], offset: dataOffset + p });
    }
    if (begin < 0) break;
    const end = data.indexOf(PEM_END_BYTES, begin + PEM_BEGIN_BYTES.length);
    if (end < 0) {
      throw new KubeSgxError('CERT_DATA_BAD_PEM', `${path.join('.')}: unterminated PEM block`, { path: [...path, 'data', certificates.length], offset: dataOffset + begin });
    }
    const der = decodeBase64Lines(data, begin + PEM_BEGIN_BYTES.length, end);
    if (der === undefined) {
      throw new KubeSgxError('CERT_DATA_BAD_PEM', `${path.join('.')}: certificate ${certificates.length} has invalid base64`, { path: [...path, 'data', certificates.length], offset: dataOffset + begin });
    }
    checkCertDer(der, 0, der.length, dataOffset + begin, [...path, 'data', certificates.length], true);
    certificates.push(der);
    pem.push(data.toString('latin1', begin, end + PEM_END_BYTES.length));
    p = end + PEM_END_BYTES.length;
  }
  return { type: 5, data, encoding: 'pem', certificates, pem };
}

/** Checks a certificate's outer SEQUENCE; `exact` requires it to fill [start, limit). Returns its end. */
function checkCertDer(buf: Uint8Array, start: number, limit: number, errOffset: number, path: ErrorPath, exact: boolean): number {
  let n;
  try {
    n = readNode(buf, start, limit, 'CERT_DATA_BAD_DER');
  } catch (e) {
    throw new KubeSgxError('CERT_DATA_BAD_DER', `${path.join('.')}: not a DER certificate`, { path, offset: errOffset, cause: e });
  }
  if (n.tag !== DER_TAG.SEQUENCE || (exact && n.end !== limit)) {
    throw new KubeSgxError('CERT_DATA_BAD_DER', `${path.join('.')}: not a DER certificate`, { path, offset: errOffset });
  }
  return n.end;
}

/** Concatenated DER certificates, optionally followed by NUL padding. */
function decodeDerChain(data: Buffer, dataOffset: number, path: ErrorPath): PckChainCertificationData {
  const certificates: Buffer[] = [];
  let p = 0;
  while (p < data.length && !allFiller(data, p, data.length)) {
    const end = checkCertDer(data, p, data.length, dataOffset + p, [...path, 'data', certificates.length], false);
    certificates.push(data.subarray(p, end));
    p = end;
  }
  if (certificates.length === 0) {
    throw new KubeSgxError('CERT_DATA_EMPTY_CHAIN', `${path.join('.')}: no certificates in the PCK chain`, { path: [...path, 'data'], offset: dataOffset });
  }
  const pem = certificates.map((c) => `${PEM_BEGIN}\n${c.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n${PEM_END}`);
  return { type: 5, data, encoding: 'der', certificates, pem };
}

// ---- encoders ----

/** Throws ENCODE_BAD_FIELD unless `c` looks like certification data (recursively for type 6). */
export function checkCertificationDataShape(c: unknown, path: ErrorPath): void {
  const bad = (what: string): never => {
    throw new KubeSgxError('ENCODE_BAD_FIELD', `${path.join('.')}: ${what}`, { path });
  };
  if (typeof c !== 'object' || c === null) bad('missing certification data');
  const cd = c as Partial<QeReportCertCertificationData> & { type?: unknown; data?: unknown };
  if (typeof cd.type !== 'number' || !Number.isInteger(cd.type) || cd.type < 1 || cd.type > 6) bad('type must be 1–6');
  if (cd.type === 6) {
    const q = cd.qeReportCertificationData;
    if (typeof q !== 'object' || q === null || !(q.qeAuthData instanceof Uint8Array) || q.qeAuthData.length > 0xffff) return bad('malformed QE report certification data');
    checkCertificationDataShape(q.certificationData, [...path, 'certificationData']);
  } else if (!(cd.data instanceof Uint8Array) || cd.data.length > 0xffffffff) {
    bad('data must be bytes');
  }
}

/** Size of `u16 type ‖ u32 size ‖ data` for this certification data. */
export function certificationDataSize(c: CertificationData): number {
  return 6 + certificationDataBodySize(c);
}

function certificationDataBodySize(c: CertificationData): number {
  if (c.type === 6) return qeReportCertificationDataSize(c.qeReportCertificationData);
  return c.data.length;
}

export function qeReportCertificationDataSize(q: QeReportCertificationDataInit): number {
  return SGX_REPORT_BODY_SIZE + ECDSA_P256_SIGNATURE_SIZE + 2 + q.qeAuthData.length + certificationDataSize(q.certificationData);
}

export function writeCertificationData(w: ByteWriter, c: CertificationData, path: ErrorPath): void {
  w.u16(c.type, [...path, 'type']);
  if (c.type === 6) {
    w.u32(qeReportCertificationDataSize(c.qeReportCertificationData), [...path, 'size']);
    writeQeReportCertificationData(w, c.qeReportCertificationData, path);
    return;
  }
  w.u32(c.data.length, [...path, 'size']);
  w.raw(c.data);
}

export function writeQeReportCertificationData(w: ByteWriter, q: QeReportCertificationDataInit, path: ErrorPath): void {
  writeReportBody(w, q.qeReport, [...path, 'qeReport']);
  w.fixed(q.qeReportSignature, ECDSA_P256_SIGNATURE_SIZE, [...path, 'qeReportSignature']);
  w.u16(q.qeAuthData.length, [...path, 'qeAuthData', 'size']);
  w.raw(q.qeAuthData);
  writeCertificationData(w, q.certificationData, [...path, 'certificationData']);
}

/** Encodes `u16 type ‖ u32 size ‖ data`. */
export function encodeCertificationData(c: CertificationData): Buffer {
  checkCertificationDataShape(c, []);
  const w = new ByteWriter(Buffer.alloc(certificationDataSize(c)));
  writeCertificationData(w, c, []);
  return w.buf;
}

/** Parses `u16 type ‖ u32 size ‖ data` (exactly; types 1–6). */
export function parseCertificationData(bytes: Uint8Array): CertificationData {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new ByteReader(buf, 0, buf.length, 'CERT_DATA_TRUNCATED');
  const c = readCertificationData(r, [], [1, 2, 3, 4, 5, 6]);
  if (r.remaining !== 0) {
    throw new KubeSgxError('CERT_DATA_TRAILING_BYTES', `${r.remaining} bytes after the certification data`, { offset: r.pos });
  }
  return c;
}

/**
 * Type-5 certification data for a PEM chain (leaf first), laid out as Intel's
 * quote provider does: each block ends with `\n`, then one NUL.
 */
export function pckChainCertificationData(pemChain: string | readonly string[]): PckChainCertificationData {
  const blocks = typeof pemChain === 'string' ? [pemChain] : pemChain;
  const text = blocks.map((b) => (b.endsWith('\n') ? b : b + '\n')).join('') + '\0';
  const data = Buffer.from(text, 'latin1');
  const parsed = decodeChain(data, 0, []);
  return parsed;
}
