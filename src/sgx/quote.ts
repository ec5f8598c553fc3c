/**
 * DCAP quotes v3 (SGX), v4 (SGX or TDX) and v5 (SGX, TD 1.0 or TD 1.5 body
 * behind a type/size descriptor), ECDSA P-256 only.
 *
 *   header(48) ‖ [v5: u16 bodyType ‖ u32 bodySize] ‖ body ‖ u32 sigDataLen ‖ signature data
 *
 * Signature data = sig(64) ‖ attestation key(64) ‖ then
 *   v3:    QE report ‖ QE report sig ‖ u16 N ‖ auth(N) ‖ cert data (type 1–5)
 *   v4/v5: cert data type 6 whose content is that same tail with inner type 1–5.
 *
 * The parser returns views into the input, never copies, and keeps the exact
 * signed byte ranges so verifiers need not re-encode anything.
 */
import { KubeSgxError, type ErrorPath, type ErrorCode } from '../errors.js';
import {
  ATTESTATION_KEY_TYPE,
  CERT_DATA_TYPE,
  ECDSA_P256_PUBLIC_KEY_SIZE,
  ECDSA_P256_SIGNATURE_SIZE,
  INTEL_QE_VENDOR_ID,
  QUOTE_BODY_TYPE,
  QUOTE_HEADER_SIZE,
  QUOTE_MAX_SIGNATURE_DATA_SIZE,
  QUOTE_V5_BODY_DESCRIPTOR_SIZE,
  SGX_REPORT_BODY_SIZE,
  TD_REPORT10_SIZE,
  TD_REPORT15_SIZE,
  TEE_TYPE,
} from './constants.js';
import {
  checkCertificationDataShape,
  qeReportCertificationDataSize,
  readCertificationData,
  readQeReportCertificationData,
  writeQeReportCertificationData,
  type CertificationData,
  type QeReportCertificationData,
} from './cert-data.js';
import { ByteReader, asBuffer, describeValue } from './reader.js';
import { readReportBody, writeReportBody, type ReportBody } from './report.js';
import { readTdReport10, readTdReport15, writeTdReport10, writeTdReport15, type TdReport10, type TdReport15 } from './td-report.js';
import { ByteWriter } from './writer.js';

export interface QuoteHeader {
  /** 3, 4 or 5 */
  version: number;
  /** 2 = ECDSA-256-with-P-256 (the only one parsed) */
  attestationKeyType: number;
  /** u32 at offset 4: 0 = SGX, 0x81 = TDX (v3: reserved, must be 0) */
  teeType: number;
  /** u16 at 8; reserved in v4/v5 (0 in TDX quotes) */
  qeSvn: number;
  /** u16 at 10; reserved in v4/v5 */
  pceSvn: number;
  /** 16 bytes; Intel = 939A7233F79C4CA9940A0DB3957F0607 */
  qeVendorId: Buffer;
  /** 20 bytes; Intel's QE puts its 16-byte QE ID first (see `qeId`) */
  userData: Buffer;
  /** Derived: the first 16 bytes of `userData` (encoders ignore it). */
  qeId: Buffer;
}

export type QuoteBody =
  | { type: typeof QUOTE_BODY_TYPE.SGX; sgx: ReportBody }
  | { type: typeof QUOTE_BODY_TYPE.TD10; td10: TdReport10 }
  | { type: typeof QUOTE_BODY_TYPE.TD15; td15: TdReport15 };

export interface QuoteSignatureData {
  /** ECDSA r‖s by the attestation key over `Quote.signedBytes` */
  signature: Buffer;
  /** attestation public key x‖y */
  attestationKey: Buffer;
  /** QE report body (signed by the PCK key) */
  qeReport: ReportBody;
  /** exactly the 384 bytes of the QE report, for the PCK signature check */
  qeReportBytes: Buffer;
  qeReportSignature: Buffer;
  qeAuthData: Buffer;
  /**
   * The PCK certification data (type 1–5). In v4/v5 quotes this is the inner
   * data of the outer type-6 wrapper, which the encoder re-creates.
   */
  certificationData: CertificationData;
}

export interface Quote {
  header: QuoteHeader;
  /** The body kind: for v5 the declared body type, for v3/v4 implied by the TEE type. */
  body: QuoteBody;
  signatureData: QuoteSignatureData;
  /** Declared signature data length (u32 before the signature data). */
  signatureDataLength: number;
  /** Exactly the bytes the attestation key signed: header (‖ v5 descriptor) ‖ body. */
  signedBytes: Buffer;
  /** Offset of the signature data in the quote. */
  signatureDataOffset: number;
  /** The quote's bytes without trailing padding. */
  bytes: Buffer;
  /** Count of zero bytes after the signature data (fixed-size quote buffers from TDX guests). */
  trailingZeros: number;
}

export interface ParseQuoteOptions {
  /**
   * What to do with bytes after the declared signature data:
   * 'zeros' (default) accepts all-zero padding (real TDX quotes come in zero-padded
   * fixed-size buffers) and rejects anything else; 'reject' rejects any trailing byte.
   */
  trailing?: 'zeros' | 'reject';
}

const PCK_CERT_TYPES = [1, 2, 3, 4, 5] as const;
const OUTER_V4_TYPES = [CERT_DATA_TYPE.QE_REPORT_CERT_DATA] as const;

function fail(code: ErrorCode, message: string, path: ErrorPath, offset: number, details?: Record<string, unknown>): never {
  throw new KubeSgxError(code, `${path.join('.')}: ${message}`, { path, offset, details });
}

function readHeader(r: ByteReader): QuoteHeader {
  const path = ['header'];
  r.need(QUOTE_HEADER_SIZE, path);
  const version = r.u16(['header', 'version']);
  if (version !== 3 && version !== 4 && version !== 5) {
    fail('QUOTE_UNSUPPORTED_VERSION', `quote version ${version} is not supported (3, 4, 5)`, ['header', 'version'], 0, { version });
  }
  const attestationKeyType = r.u16(['header', 'attestationKeyType']);
  if (attestationKeyType !== ATTESTATION_KEY_TYPE.ECDSA_P256) {
    fail('QUOTE_UNSUPPORTED_KEY_TYPE', `attestation key type ${attestationKeyType} is not supported (2 = ECDSA P-256)`, ['header', 'attestationKeyType'], 2, { attestationKeyType });
  }
  const teeType = r.u32(['header', 'teeType']);
  if (teeType !== TEE_TYPE.SGX && (version === 3 || teeType !== TEE_TYPE.TDX)) {
    fail('QUOTE_UNSUPPORTED_TEE', `TEE type 0x${teeType.toString(16)} is not supported in a v${version} quote`, ['header', 'teeType'], 4, { teeType });
  }
  const qeSvn = r.u16(['header', 'qeSvn']);
  const pceSvn = r.u16(['header', 'pceSvn']);
  const qeVendorId = r.bytes(16, ['header', 'qeVendorId']);
  const userData = r.bytes(20, ['header', 'userData']);
  return { version, attestationKeyType, teeType, qeSvn, pceSvn, qeVendorId, userData, qeId: userData.subarray(0, 16) };
}

function readBody(r: ByteReader, header: QuoteHeader): QuoteBody {
  let type: number;
  if (header.version === 5) {
    const typeOffset = r.pos;
    type = r.u16(['bodyType']);
    const size = r.u32(['bodySize']);
    const expected = BODY_SIZE[type];
    if (expected === undefined) fail('QUOTE_UNSUPPORTED_BODY_TYPE', `v5 body type ${type} is not supported (1 SGX, 2 TD 1.0, 3 TD 1.5)`, ['bodyType'], typeOffset, { bodyType: type });
    if ((type === QUOTE_BODY_TYPE.SGX) !== (header.teeType === TEE_TYPE.SGX)) {
      fail('QUOTE_BAD_FIELD', `v5 body type ${type} does not match TEE type 0x${header.teeType.toString(16)}`, ['bodyType'], typeOffset, { bodyType: type, teeType: header.teeType });
    }
    if (size !== expected) fail('QUOTE_BAD_FIELD', `v5 body type ${type} has size ${expected}, quote declares ${size}`, ['bodySize'], typeOffset + 2, { declared: size, expected });
  } else {
    type = header.teeType === TEE_TYPE.SGX ? QUOTE_BODY_TYPE.SGX : QUOTE_BODY_TYPE.TD10;
  }
  switch (type) {
    case QUOTE_BODY_TYPE.SGX:
      return { type, sgx: readReportBody(r, ['body']) };
    case QUOTE_BODY_TYPE.TD10:
      return { type, td10: readTdReport10(r, ['body']) };
    default:
      return { type: QUOTE_BODY_TYPE.TD15, td15: readTdReport15(r, ['body']) };
  }
}

const BODY_SIZE: Record<number, number | undefined> = {
  [QUOTE_BODY_TYPE.SGX]: SGX_REPORT_BODY_SIZE,
  [QUOTE_BODY_TYPE.TD10]: TD_REPORT10_SIZE,
  [QUOTE_BODY_TYPE.TD15]: TD_REPORT15_SIZE,
};

function readSignatureData(r: ByteReader, version: number): QuoteSignatureData {
  const path = ['signatureData'];
  const signature = r.bytes(ECDSA_P256_SIGNATURE_SIZE, path, 'signature');
  const attestationKey = r.bytes(ECDSA_P256_PUBLIC_KEY_SIZE, path, 'attestationKey');
  let tail: QeReportCertificationData;
  if (version === 3) {
    tail = readQeReportCertificationData(r, path, PCK_CERT_TYPES);
  } else {
    const outer = readCertificationData(r, [...path, 'certificationData'], OUTER_V4_TYPES);
    if (outer.type !== 6) throw new Error('unreachable: outer type checked');
    tail = outer.qeReportCertificationData;
  }
  return { signature, attestationKey, ...tail };
}

/**
 * Parses a DCAP quote (v3/v4/v5, ECDSA P-256). Every length is checked against
 * its container; byte fields are views into `bytes` (no copies).
 */
export function parseQuote(bytes: Uint8Array, options: ParseQuoteOptions = {}): Quote {
  const buf = asBuffer(bytes);
  const r = new ByteReader(buf, 0, buf.length, 'QUOTE_TRUNCATED');
  const header = readHeader(r);
  const body = readBody(r, header);
  const signedEnd = r.pos;
  const signatureDataLength = r.u32(['signatureDataLength']);
  if (signatureDataLength > QUOTE_MAX_SIGNATURE_DATA_SIZE) {
    fail('QUOTE_BAD_LENGTH', `declared signature data length ${signatureDataLength} exceeds the ${QUOTE_MAX_SIGNATURE_DATA_SIZE}-byte limit`, ['signatureDataLength'], signedEnd, { declared: signatureDataLength });
  }
  const signatureDataOffset = r.pos;
  if (signatureDataLength > r.remaining) {
    fail('QUOTE_TRUNCATED', `declares ${signatureDataLength} bytes of signature data, only ${r.remaining} present`, ['signatureDataLength'], signedEnd, {
      declared: signatureDataLength,
      available: r.remaining,
    });
  }
  const end = signatureDataOffset + signatureDataLength;
  const sr = new ByteReader(buf, signatureDataOffset, end, 'QUOTE_BAD_LENGTH');
  const signatureData = readSignatureData(sr, header.version);
  if (sr.remaining !== 0) {
    fail('QUOTE_BAD_LENGTH', `declared signature data length ${signatureDataLength} leaves ${sr.remaining} unparsed bytes`, ['signatureDataLength'], signedEnd, {
      declared: signatureDataLength,
      unparsed: sr.remaining,
    });
  }
  let trailingZeros = 0;
  if (end < buf.length) {
    const mode = options.trailing ?? 'zeros';
    for (let i = end; i < buf.length; i++) {
      if (buf[i] !== 0 || mode === 'reject') {
        fail('QUOTE_TRAILING_BYTES', `${buf.length - end} bytes after the signature data`, ['signatureData'], end, { trailing: buf.length - end });
      }
    }
    trailingZeros = buf.length - end;
  }
  return {
    header,
    body,
    signatureData,
    signatureDataLength,
    signedBytes: buf.subarray(0, signedEnd),
    signatureDataOffset,
    bytes: buf.subarray(0, end),
    trailingZeros,
  };
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null;
}

/** Encoders take data from callers: check the shape before sizes are computed from it. */
function checkSignatureDataShape(s: unknown): void {
  if (!isObject(s)) fail('ENCODE_BAD_FIELD', 'missing signature data', ['signatureData'], 0);
  const sd = s as Partial<QuoteSignatureData>;
  if (!(sd.qeAuthData instanceof Uint8Array)) fail('ENCODE_BAD_FIELD', 'qeAuthData must be bytes', ['signatureData', 'qeAuthData'], 0);
  if (sd.qeAuthData.length > 0xffff) fail('ENCODE_BAD_FIELD', 'qeAuthData is longer than 65535 bytes', ['signatureData', 'qeAuthData'], 0);
  checkCertificationDataShape(sd.certificationData, ['signatureData', 'certificationData']);
}

function bodySize(body: QuoteBody): number {
  const type: unknown = body?.type;
  const size = typeof type === 'number' ? BODY_SIZE[type] : undefined;
  if (size === undefined) fail('ENCODE_BAD_FIELD', `unknown body type ${describeValue(type)}`, ['body', 'type'], 0);
  return size;
}

/** The size of the signature data (the value of the u32 length field) of `q`. */
export function signatureDataSize(q: Pick<QuoteInit, 'header' | 'signatureData'>): number {
  const s = q.signatureData;
  checkSignatureDataShape(s);
  const tail = qeReportCertificationDataSize(s);
  return ECDSA_P256_SIGNATURE_SIZE + ECDSA_P256_PUBLIC_KEY_SIZE + (q.header.version === 3 ? tail : 6 + tail);
}

/**
 * What `encodeQuote` needs: a parsed Quote works as is; derived fields
 * (`header.qeId`, `signatureData.qeReportBytes`) may be left out.
 */
export interface QuoteInit {
  header: Omit<QuoteHeader, 'qeId'> & { qeId?: Buffer };
  body: QuoteBody;
  signatureData: Omit<QuoteSignatureData, 'qeReportBytes'> & { qeReportBytes?: Buffer };
  trailingZeros?: number;
}

export interface EncodeQuoteOptions {
  /** Append this many zero bytes (defaults to the parsed quote's `trailingZeros`). */
  trailingZeros?: number;
}

/** Bytes of header (‖ v5 descriptor) ‖ body: what the attestation key signs. */
export function encodeQuoteSignedRegion(q: Pick<QuoteInit, 'header' | 'body'>): Buffer {
  const size = signedRegionSize(q);
  const w = new ByteWriter(Buffer.alloc(size));
  writeSignedRegion(w, q);
  return w.buf;
}

function signedRegionSize(q: Pick<QuoteInit, 'header' | 'body'>): number {
  if (!isObject(q) || !isObject(q.header)) fail('ENCODE_BAD_FIELD', 'missing header', ['header'], 0);
  if (!isObject(q.body)) fail('ENCODE_BAD_FIELD', 'missing body', ['body'], 0);
  return QUOTE_HEADER_SIZE + (q.header.version === 5 ? QUOTE_V5_BODY_DESCRIPTOR_SIZE : 0) + bodySize(q.body);
}

function writeSignedRegion(w: ByteWriter, q: Pick<QuoteInit, 'header' | 'body'>): void {
  const h = q.header;
  if (h.version !== 3 && h.version !== 4 && h.version !== 5) fail('ENCODE_BAD_FIELD', `unsupported version ${describeValue(h.version)}`, ['header', 'version'], 0);
  const isSgx = q.body.type === QUOTE_BODY_TYPE.SGX;
  if (isSgx !== (h.teeType === TEE_TYPE.SGX) || (h.version === 4 && q.body.type === QUOTE_BODY_TYPE.TD15) || (h.version === 3 && !isSgx)) {
    fail('ENCODE_BAD_FIELD', `body type ${describeValue(q.body.type)} cannot go in a v${describeValue(h.version)} quote with TEE type ${describeValue(h.teeType)}`, ['body', 'type'], 0);
  }
  w.u16(h.version, ['header', 'version']);
  w.u16(h.attestationKeyType, ['header', 'attestationKeyType']);
  w.u32(h.teeType, ['header', 'teeType']);
  w.u16(h.qeSvn, ['header', 'qeSvn']);
  w.u16(h.pceSvn, ['header', 'pceSvn']);
  w.fixed(h.qeVendorId, 16, ['header', 'qeVendorId']);
  w.fixed(h.userData, 20, ['header', 'userData']);
  if (h.version === 5) {
    w.u16(q.body.type, ['bodyType']);
    w.u32(bodySize(q.body), ['bodySize']);
  }
  const b = q.body;
  if (b.type === QUOTE_BODY_TYPE.SGX) writeReportBody(w, b.sgx, ['body']);
  else if (b.type === QUOTE_BODY_TYPE.TD10) writeTdReport10(w, b.td10, ['body']);
  else writeTdReport15(w, b.td15, ['body']);
}

/**
 * Encodes a quote from its fields; lengths are recomputed. For a parsed quote,
 * `encodeQuote(parseQuote(x))` equals `x` byte for byte.
 */
export function encodeQuote(q: QuoteInit, options: EncodeQuoteOptions = {}): Buffer {
  const regionSize = signedRegionSize(q);
  const sigSize = signatureDataSize(q);
  const padding = options.trailingZeros ?? q.trailingZeros ?? 0;
  if (!Number.isInteger(padding) || padding < 0 || padding > QUOTE_MAX_SIGNATURE_DATA_SIZE) fail('ENCODE_BAD_FIELD', 'bad trailingZeros', ['trailingZeros'], 0);
  const w = new ByteWriter(Buffer.alloc(regionSize + 4 + sigSize + padding));
  writeSignedRegion(w, q);
  w.u32(sigSize, ['signatureDataLength']);
  const s = q.signatureData;
  w.fixed(s.signature, ECDSA_P256_SIGNATURE_SIZE, ['signatureData', 'signature']);
  w.fixed(s.attestationKey, ECDSA_P256_PUBLIC_KEY_SIZE, ['signatureData', 'attestationKey']);
  if (q.header.version === 3) {
    writeQeReportCertificationData(w, s, ['signatureData']);
  } else {
    // the outer type-6 wrapper of v4/v5
    w.u16(CERT_DATA_TYPE.QE_REPORT_CERT_DATA, ['signatureData', 'certificationData', 'type']);
    w.u32(qeReportCertificationDataSize(s), ['signatureData', 'certificationData', 'size']);
    writeQeReportCertificationData(w, s, ['signatureData', 'certificationData']);
  }
  return w.buf;
}

/** The report data of any quote body (SGX REPORTDATA or TD REPORTDATA), 64 bytes. */
export function quoteReportData(q: Pick<Quote, 'body'>): Buffer {
  const b = q.body;
  return b.type === QUOTE_BODY_TYPE.SGX ? b.sgx.reportData : b.type === QUOTE_BODY_TYPE.TD10 ? b.td10.reportData : b.td15.reportData;
}

/**
 * Builds a quote header: ECDSA P-256, Intel's QE vendor ID, SGX unless told
 * otherwise, and user data = QE ID (16) ‖ 4 zero bytes as Intel's QE writes it.
 */
export function makeQuoteHeader(init: {
  version: 3 | 4 | 5;
  teeType?: number;
  qeSvn?: number;
  pceSvn?: number;
  qeVendorId?: Buffer;
  qeId?: Uint8Array;
  userData?: Buffer;
}): QuoteHeader {
  let userData = init.userData;
  if (userData === undefined) {
    userData = Buffer.alloc(20);
    if (init.qeId !== undefined) {
      if (init.qeId.length !== 16) fail('ENCODE_BAD_FIELD', 'QE ID must be 16 bytes', ['header', 'qeId'], 28);
      userData.set(init.qeId, 0);
    }
  }
  return {
    version: init.version,
    attestationKeyType: ATTESTATION_KEY_TYPE.ECDSA_P256,
    teeType: init.teeType ?? TEE_TYPE.SGX,
    qeSvn: init.qeSvn ?? 0,
    pceSvn: init.pceSvn ?? 0,
    qeVendorId: init.qeVendorId ?? Buffer.from(INTEL_QE_VENDOR_ID),
    userData,
    qeId: userData.subarray(0, 16),
  };
}
