/**
 * Intel's Quote Generation Service (QGS) protocol, as Intel's qgs_msg_lib
 * (SGXDataCenterAttestationPrimitives QuoteGeneration/quote_wrapper/
 * qgs_msg_lib) defines it and QEMU's tdx-quote-generator.c and Intel's
 * libtdx_attest speak it.
 *
 * On the socket: a u32 BIG-endian length, then one message. Every message
 * starts with a 16-byte little-endian header (`#pragma pack(1)`):
 *
 *   u16 major_version (1) · u16 minor_version (1) · u32 type · u32 size (whole message) · u32 error_code
 *
 *   GET_QUOTE_REQ 0          u32 report_size (≠ 0) · u32 id_list_size · report · id list
 *   GET_QUOTE_RESP 1         u32 selected_id_size · u32 quote_size · id · quote
 *   GET_COLLATERAL_REQ 2     u32 fmspc_size · u32 pckca_size · fmspc · pck CA name
 *   GET_COLLATERAL_RESP 3    u16 major · u16 minor · 7 × u32 sizes · PCK CRL issuer chain, root CA CRL,
 *                            PCK CRL, TCB Info issuer chain, TCB Info, QE Identity issuer chain, QE Identity
 *   GET_PLATFORM_INFO_REQ 4  (header only)
 *   GET_PLATFORM_INFO_RESP 5 u16 tdqe_isvsvn · u16 pce_isvsvn · u32 platform_id_size · u32 cpusvn_size · id · cpusvn
 *
 * Errors are 0x00012000 | n. The request checks (`parseQgsRequest`) follow
 * Intel's qgs_msg_inflate_* in order and code; the encoders reproduce Intel's
 * qgs_msg_gen_* byte for byte, including two size quirks a client built on
 * Intel's inflaters depends on (see encodeCollateralResponse and
 * encodePlatformInfoResponse).
 */
import { QGS_SOCKET_PATH } from '../names.js';

export const QGS_MAJOR_VERSION = 1;
export const QGS_MINOR_VERSION = 1;
export const QGS_HEADER_SIZE = 16;
/** The big-endian length before every message. */
export const QGS_LENGTH_PREFIX_SIZE = 4;
/** Size of a bare TDREPORT (QGS "raw mode": no prefix, no header; the reply is the bare quote). */
export const QGS_RAW_REPORT_SIZE = 1024;
/** Intel's server-side transaction timeout (qgs_server.cpp QGS_TIMEOUT) and QEMU's TRANSACTION_TIMEOUT. */
export const QGS_TIMEOUT_MS = 30_000;
/** Where Intel's QGS listens when qgs.conf sets port = 0 (src/names.ts); otherwise vsock port 4050. */
export const DEFAULT_QGS_SOCKET = QGS_SOCKET_PATH;
export const DEFAULT_QGS_VSOCK_PORT = 4050;

export const QgsMsgType = {
  GET_QUOTE_REQ: 0,
  GET_QUOTE_RESP: 1,
  GET_COLLATERAL_REQ: 2,
  GET_COLLATERAL_RESP: 3,
  GET_PLATFORM_INFO_REQ: 4,
  GET_PLATFORM_INFO_RESP: 5,
} as const;
export type QgsRequestType = typeof QgsMsgType.GET_QUOTE_REQ | typeof QgsMsgType.GET_COLLATERAL_REQ | typeof QgsMsgType.GET_PLATFORM_INFO_REQ;
export type QgsResponseType = typeof QgsMsgType.GET_QUOTE_RESP | typeof QgsMsgType.GET_COLLATERAL_RESP | typeof QgsMsgType.GET_PLATFORM_INFO_RESP;

const mkError = (n: number) => 0x00012000 | n;
/** qgs_msg_error_t */
export const QgsError = {
  SUCCESS: 0,
  UNEXPECTED: mkError(1),
  OUT_OF_MEMORY: mkError(2),
  INVALID_PARAMETER: mkError(3),
  INVALID_VERSION: mkError(4),
  INVALID_TYPE: mkError(5),
  INVALID_SIZE: mkError(6),
  INVALID_CODE: mkError(7),
} as const;
export type QgsErrorCode = (typeof QgsError)[keyof typeof QgsError];
/** QGS_MSG_ERROR_MAX: Intel's inflaters refuse error codes at or above it. */
export const QGS_ERROR_MAX = mkError(8);

const ERROR_NAMES: Record<number, string> = Object.fromEntries(Object.entries(QgsError).map(([k, v]) => [v, `QGS_MSG_${k === 'SUCCESS' ? 'SUCCESS' : `ERROR_${k}`}`]));
export function qgsErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Fixed sizes of the request / response structs (qgs_msg_*_t). */
const GET_QUOTE_REQ_SIZE = QGS_HEADER_SIZE + 8;
const GET_QUOTE_RESP_SIZE = QGS_HEADER_SIZE + 8;
const GET_COLLATERAL_REQ_SIZE = QGS_HEADER_SIZE + 8;
const GET_COLLATERAL_RESP_SIZE = QGS_HEADER_SIZE + 4 + 7 * 4;
const GET_PLATFORM_INFO_REQ_SIZE = QGS_HEADER_SIZE;
const GET_PLATFORM_INFO_RESP_SIZE = QGS_HEADER_SIZE + 4 + 8;

export interface QgsHeader {
  majorVersion: number;
  minorVersion: number;
  type: number;
  size: number;
  errorCode: number;
}

export function readQgsHeader(msg: Buffer): QgsHeader {
  return { majorVersion: msg.readUInt16LE(0), minorVersion: msg.readUInt16LE(2), type: msg.readUInt32LE(4), size: msg.readUInt32LE(8), errorCode: msg.readUInt32LE(12) };
}

export type QgsRequest =
  | { type: typeof QgsMsgType.GET_QUOTE_REQ; header: QgsHeader; report: Buffer; idList: Buffer }
  | { type: typeof QgsMsgType.GET_COLLATERAL_REQ; header: QgsHeader; fmspc: Buffer; pckCa: Buffer }
  | { type: typeof QgsMsgType.GET_PLATFORM_INFO_REQ; header: QgsHeader };

/** A request refused before any backend sees it: the code goes back in a response of `responseType`. */
export interface QgsRequestError {
  error: QgsErrorCode;
  responseType: QgsResponseType;
  /** what was wrong, for logs and metrics */
  reason: string;
}

const RESPONSE_OF: Record<number, QgsResponseType | undefined> = {
  [QgsMsgType.GET_QUOTE_REQ]: QgsMsgType.GET_QUOTE_RESP,
  [QgsMsgType.GET_COLLATERAL_REQ]: QgsMsgType.GET_COLLATERAL_RESP,
  [QgsMsgType.GET_PLATFORM_INFO_REQ]: QgsMsgType.GET_PLATFORM_INFO_RESP,
};

/**
 * The response type an error about a message of `type` goes in: the request's
 * own response type; for a message that is no request (a response type, an
 * unknown type, an unreadable header) GET_QUOTE_RESP, the only message QEMU
 * and most guests ever wait for.
 */
export function responseTypeFor(type: number | undefined): QgsResponseType {
  return (type !== undefined ? RESPONSE_OF[type] : undefined) ?? QgsMsgType.GET_QUOTE_RESP;
}

function refuse(error: QgsErrorCode, type: number | undefined, reason: string): QgsRequestError {
  return { error, responseType: responseTypeFor(type), reason };
}

/**
 * Parses one message (without its length prefix). The order and codes are
 * Intel's (qgs_msg_get_type, then qgs_msg_inflate_*_req): too short for the
 * struct → INVALID_PARAMETER; major version ≠ 1 → INVALID_VERSION (the minor
 * version is not checked: "minor change is deemed as compatible"); not a
 * request type → INVALID_TYPE (Intel's qgs_msg_get_type says INVALID_VERSION
 * for an out-of-range type; here every unknown type gets INVALID_TYPE);
 * header size ≠ message size → INVALID_SIZE; non-zero error_code →
 * INVALID_CODE; GET_QUOTE with report_size 0 → INVALID_CODE; inner sizes that
 * do not add up → INVALID_SIZE; GET_COLLATERAL with an empty FMSPC or CA
 * name → INVALID_SIZE.
 */
export function parseQgsRequest(msg: Buffer): QgsRequest | QgsRequestError {
  if (msg.length < QGS_HEADER_SIZE) return refuse(QgsError.INVALID_PARAMETER, undefined, `message of ${msg.length} bytes is shorter than the 16-byte header`);
  const header = readQgsHeader(msg);
  const t = header.type;
  if (header.majorVersion !== QGS_MAJOR_VERSION) return refuse(QgsError.INVALID_VERSION, t, `major version ${header.majorVersion} is not ${QGS_MAJOR_VERSION}`);
  const fixed = t === QgsMsgType.GET_QUOTE_REQ ? GET_QUOTE_REQ_SIZE : t === QgsMsgType.GET_COLLATERAL_REQ ? GET_COLLATERAL_REQ_SIZE : t === QgsMsgType.GET_PLATFORM_INFO_REQ ? GET_PLATFORM_INFO_REQ_SIZE : undefined;
  if (fixed === undefined) return refuse(QgsError.INVALID_TYPE, t, `message type ${t} is not a request (0, 2 or 4)`);
  if (msg.length < fixed) return refuse(QgsError.INVALID_PARAMETER, t, `message of ${msg.length} bytes is shorter than the ${fixed}-byte type-${t} request`);
  if (header.size !== msg.length) return refuse(QgsError.INVALID_SIZE, t, `header size ${header.size} is not the message size ${msg.length}`);
  if (header.errorCode !== 0) return refuse(QgsError.INVALID_CODE, t, `request carries error_code 0x${header.errorCode.toString(16)}`);
  switch (t) {
    case QgsMsgType.GET_QUOTE_REQ: {
      const reportSize = msg.readUInt32LE(16);
      const idListSize = msg.readUInt32LE(20);
      if (reportSize === 0) return refuse(QgsError.INVALID_CODE, t, 'report_size is 0');
      if (fixed + reportSize + idListSize !== header.size) {
        return refuse(QgsError.INVALID_SIZE, t, `report_size ${reportSize} + id_list_size ${idListSize} + ${fixed} is not the message size ${header.size}`);
      }
      return { type: t, header, report: msg.subarray(fixed, fixed + reportSize), idList: msg.subarray(fixed + reportSize, fixed + reportSize + idListSize) };
    }
    case QgsMsgType.GET_COLLATERAL_REQ: {
      const fmspcSize = msg.readUInt32LE(16);
      const pckCaSize = msg.readUInt32LE(20);
      if (fmspcSize === 0 || pckCaSize === 0) return refuse(QgsError.INVALID_SIZE, t, 'fmspc_size and pckca_size must not be 0');
      if (fixed + fmspcSize + pckCaSize !== header.size) {
        return refuse(QgsError.INVALID_SIZE, t, `fmspc_size ${fmspcSize} + pckca_size ${pckCaSize} + ${fixed} is not the message size ${header.size}`);
      }
      return { type: t, header, fmspc: msg.subarray(fixed, fixed + fmspcSize), pckCa: msg.subarray(fixed + fmspcSize, fixed + fmspcSize + pckCaSize) };
    }
    default:
      return { type: QgsMsgType.GET_PLATFORM_INFO_REQ, header };
  }
}

export function isQgsRequestError(r: QgsRequest | QgsRequestError): r is QgsRequestError {
  return 'error' in r;
}

function header(buf: Buffer, type: number, errorCode: number): void {
  buf.writeUInt16LE(QGS_MAJOR_VERSION, 0);
  buf.writeUInt16LE(QGS_MINOR_VERSION, 2);
  buf.writeUInt32LE(type, 4);
  buf.writeUInt32LE(buf.length, 8);
  buf.writeUInt32LE(errorCode >>> 0, 12);
}

/**
 * qgs_msg_gen_error_resp: the response struct of `type` with every size zero
 * and `error_code` set (24 bytes for a quote, 48 for collateral, 28 for
 * platform info) — not a bare header.
 */
export function encodeErrorResponse(type: QgsResponseType, error: number): Buffer {
  const size = type === QgsMsgType.GET_QUOTE_RESP ? GET_QUOTE_RESP_SIZE : type === QgsMsgType.GET_COLLATERAL_RESP ? GET_COLLATERAL_RESP_SIZE : GET_PLATFORM_INFO_RESP_SIZE;
  const b = Buffer.alloc(size);
  header(b, type, error);
  return b;
}

/** GET_QUOTE_RESP up to the quote, with no selected ID (QEMU requires selected_id_size 0); the quote follows on the wire, not copied into it. */
export function encodeQuoteResponseHead(quoteSize: number): Buffer {
  const b = Buffer.alloc(GET_QUOTE_RESP_SIZE);
  header(b, QgsMsgType.GET_QUOTE_RESP, QgsError.SUCCESS);
  b.writeUInt32LE(GET_QUOTE_RESP_SIZE + quoteSize, 8);
  b.writeUInt32LE(0, 16);
  b.writeUInt32LE(quoteSize, 20);
  return b;
}

/** The seven collateral items, in wire order, as the quote provider library returns them. */
export interface QgsCollateral {
  /** collateral format: 3.1 = PCS v3/v4 API with raw DER CRLs (3.0: hex DER; 1.0: PEM) */
  majorVersion: number;
  minorVersion: number;
  pckCrlIssuerChain: Buffer;
  rootCaCrl: Buffer;
  pckCrl: Buffer;
  tcbInfoIssuerChain: Buffer;
  tcbInfo: Buffer;
  qeIdentityIssuerChain: Buffer;
  qeIdentity: Buffer;
}

const COLLATERAL_ORDER = ['pckCrlIssuerChain', 'rootCaCrl', 'pckCrl', 'tcbInfoIssuerChain', 'tcbInfo', 'qeIdentityIssuerChain', 'qeIdentity'] as const;

/**
 * qgs_msg_gen_get_collateral_resp. Intel's quirk, kept: when the request's
 * minor version is 0 the declared size has 4 more bytes (zero, at the end),
 * which is what Intel's 1.0 inflater expects.
 */
export function encodeCollateralResponse(c: QgsCollateral, requestMinorVersion: number): Buffer {
  const items = COLLATERAL_ORDER.map((k) => c[k]);
  const extra = requestMinorVersion === 0 ? 4 : 0;
  const b = Buffer.alloc(GET_COLLATERAL_RESP_SIZE + extra + items.reduce((n, x) => n + x.length, 0));
  header(b, QgsMsgType.GET_COLLATERAL_RESP, QgsError.SUCCESS);
  b.writeUInt16LE(c.majorVersion, 16);
  b.writeUInt16LE(c.minorVersion, 18);
  let off = GET_COLLATERAL_RESP_SIZE;
  items.forEach((x, i) => {
    b.writeUInt32LE(x.length, 20 + 4 * i);
    x.copy(b, off);
    off += x.length;
  });
  return b;
}

export interface QgsPlatformInfo {
  tdqeIsvSvn: number;
  pceIsvSvn: number;
  /** 16 bytes */
  platformId: Buffer;
  /** 16 bytes */
  cpuSvn: Buffer;
}

/**
 * qgs_msg_gen_get_platform_info_resp. Intel's quirk, kept: the declared size
 * counts the two u16 SVNs twice, so the message ends in 4 zero bytes after
 * the CPUSVN (Intel's inflater checks exactly that size).
 */
export function encodePlatformInfoResponse(p: QgsPlatformInfo): Buffer {
  const b = Buffer.alloc(4 + GET_PLATFORM_INFO_RESP_SIZE + p.platformId.length + p.cpuSvn.length);
  header(b, QgsMsgType.GET_PLATFORM_INFO_RESP, QgsError.SUCCESS);
  b.writeUInt16LE(p.tdqeIsvSvn, 16);
  b.writeUInt16LE(p.pceIsvSvn, 18);
  b.writeUInt32LE(p.platformId.length, 20);
  b.writeUInt32LE(p.cpuSvn.length, 24);
  p.platformId.copy(b, GET_PLATFORM_INFO_RESP_SIZE);
  p.cpuSvn.copy(b, GET_PLATFORM_INFO_RESP_SIZE + p.platformId.length);
  return b;
}

/** The 4-byte big-endian length prefix. */
export function qgsLengthPrefix(length: number): Buffer {
  const b = Buffer.alloc(QGS_LENGTH_PREFIX_SIZE);
  b.writeUInt32BE(length, 0);
  return b;
}

export function frameQgsMessage(msg: Buffer): Buffer {
  return Buffer.concat([qgsLengthPrefix(msg.length), msg]);
}

// ---- the client side (libtdx_attest / QEMU): requests and response checks ----

function request(type: QgsRequestType, body: Buffer[], minorVersion = QGS_MINOR_VERSION): Buffer {
  const b = Buffer.concat([Buffer.alloc(QGS_HEADER_SIZE), ...body]);
  header(b, type, 0);
  b.writeUInt16LE(minorVersion, 2);
  return b;
}

/** qgs_msg_gen_get_quote_req */
export function encodeGetQuoteRequest(report: Buffer, idList: Buffer = Buffer.alloc(0)): Buffer {
  const sizes = Buffer.alloc(8);
  sizes.writeUInt32LE(report.length, 0);
  sizes.writeUInt32LE(idList.length, 4);
  return request(QgsMsgType.GET_QUOTE_REQ, [sizes, report, idList]);
}

/** qgs_msg_gen_get_collateral_req */
export function encodeGetCollateralRequest(fmspc: Buffer, pckCa: Buffer, minorVersion = QGS_MINOR_VERSION): Buffer {
  const sizes = Buffer.alloc(8);
  sizes.writeUInt32LE(fmspc.length, 0);
  sizes.writeUInt32LE(pckCa.length, 4);
  return request(QgsMsgType.GET_COLLATERAL_REQ, [sizes, fmspc, pckCa], minorVersion);
}

/** qgs_msg_gen_get_platform_info_req */
export function encodeGetPlatformInfoRequest(): Buffer {
  return request(QgsMsgType.GET_PLATFORM_INFO_REQ, []);
}

export class QgsResponseError extends Error {
  override readonly name = 'QgsResponseError';
  constructor(
    readonly code: 'QGS_BAD_RESPONSE' | 'QGS_ERROR',
    message: string,
    readonly qgsError?: number,
  ) {
    super(message);
  }
}

function checkResponse(msg: Buffer, type: QgsResponseType, fixed: number): QgsHeader {
  if (msg.length < fixed) throw new QgsResponseError('QGS_BAD_RESPONSE', `response of ${msg.length} bytes is shorter than ${fixed}`);
  const h = readQgsHeader(msg);
  if (h.majorVersion !== QGS_MAJOR_VERSION) throw new QgsResponseError('QGS_BAD_RESPONSE', `response major version ${h.majorVersion}`);
  if (h.type !== type) throw new QgsResponseError('QGS_BAD_RESPONSE', `response type ${h.type}, expected ${type}`);
  if (h.size !== msg.length) throw new QgsResponseError('QGS_BAD_RESPONSE', `response header size ${h.size} is not ${msg.length}`);
  if (h.errorCode !== 0) {
    if (h.errorCode >= QGS_ERROR_MAX) throw new QgsResponseError('QGS_BAD_RESPONSE', `response error code 0x${h.errorCode.toString(16)} is out of range`);
    throw new QgsResponseError('QGS_ERROR', `QGS answered ${qgsErrorName(h.errorCode)}`, h.errorCode);
  }
  return h;
}

/** qgs_msg_inflate_get_quote_resp: the quote (and selected ID). */
export function parseQuoteResponse(msg: Buffer): { selectedId: Buffer; quote: Buffer } {
  checkResponse(msg, QgsMsgType.GET_QUOTE_RESP, GET_QUOTE_RESP_SIZE);
  const idSize = msg.readUInt32LE(16);
  const quoteSize = msg.readUInt32LE(20);
  if (GET_QUOTE_RESP_SIZE + idSize + quoteSize !== msg.length) throw new QgsResponseError('QGS_BAD_RESPONSE', 'quote response sizes do not add up');
  if (quoteSize === 0) throw new QgsResponseError('QGS_BAD_RESPONSE', 'success with an empty quote');
  return { selectedId: msg.subarray(GET_QUOTE_RESP_SIZE, GET_QUOTE_RESP_SIZE + idSize), quote: msg.subarray(GET_QUOTE_RESP_SIZE + idSize) };
}

/** qgs_msg_inflate_get_collateral_resp (a 1.1 response; 1.0's 4 extra bytes are tolerated when `requestMinorVersion` is 0). */
export function parseCollateralResponse(msg: Buffer, requestMinorVersion = QGS_MINOR_VERSION): QgsCollateral {
  checkResponse(msg, QgsMsgType.GET_COLLATERAL_RESP, GET_COLLATERAL_RESP_SIZE);
  const sizes = COLLATERAL_ORDER.map((_, i) => msg.readUInt32LE(20 + 4 * i));
  const extra = requestMinorVersion === 0 ? 4 : 0;
  if (GET_COLLATERAL_RESP_SIZE + extra + sizes.reduce((a, b) => a + b, 0) !== msg.length) throw new QgsResponseError('QGS_BAD_RESPONSE', 'collateral response sizes do not add up');
  const out: Partial<QgsCollateral> = { majorVersion: msg.readUInt16LE(16), minorVersion: msg.readUInt16LE(18) };
  let off = GET_COLLATERAL_RESP_SIZE;
  COLLATERAL_ORDER.forEach((k, i) => {
    if (sizes[i] === 0) throw new QgsResponseError('QGS_BAD_RESPONSE', `success with an empty ${k}`);
    out[k] = msg.subarray(off, off + sizes[i]);
    off += sizes[i];
  });
  return out as QgsCollateral;
}

/** qgs_msg_inflate_get_platform_info_resp */
export function parsePlatformInfoResponse(msg: Buffer): QgsPlatformInfo {
  checkResponse(msg, QgsMsgType.GET_PLATFORM_INFO_RESP, GET_PLATFORM_INFO_RESP_SIZE);
  const idSize = msg.readUInt32LE(20);
  const svnSize = msg.readUInt32LE(24);
  if (4 + GET_PLATFORM_INFO_RESP_SIZE + idSize + svnSize !== msg.length) throw new QgsResponseError('QGS_BAD_RESPONSE', 'platform info response sizes do not add up');
  return {
    tdqeIsvSvn: msg.readUInt16LE(16),
    pceIsvSvn: msg.readUInt16LE(18),
    platformId: msg.subarray(GET_PLATFORM_INFO_RESP_SIZE, GET_PLATFORM_INFO_RESP_SIZE + idSize),
    cpuSvn: msg.subarray(GET_PLATFORM_INFO_RESP_SIZE + idSize, GET_PLATFORM_INFO_RESP_SIZE + idSize + svnSize),
  };
}
