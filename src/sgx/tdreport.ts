/**
 * The 1,024-byte TDREPORT a TD gets from TDG.MR.REPORT (Intel's
 * `sgx_report2_t`, linux-sgx common/inc/sgx_report2.h; TEE_TCB_INFO and
 * TDINFO as DCAP's sgx_quote_4.h / sgx_quote_5.h lay them out):
 *
 *   @0    REPORTMACSTRUCT (256): @0 REPORTTYPE (type 0x81, subtype 0, version 0|1, reserved)
 *         · @4 reserved(12) · @16 CPUSVN(16) · @32 SHA-384(TEE_TCB_INFO) · @80 SHA-384(TDINFO)
 *         · @128 REPORTDATA(64) · @192 reserved(32) · @224 MAC(32)
 *   @256  TEE_TCB_INFO (239): @0 VALID(8) · @8 TEE_TCB_SVN(16) · @24 MRSEAM(48)
 *         · @72 MRSIGNERSEAM(48) · @120 ATTRIBUTES(8) · @128 TEE_TCB_SVN2(16, TDX 1.5) · reserved
 *   @495  reserved(17)
 *   @512  TDINFO (512): @0 ATTRIBUTES · @8 XFAM · @16 MRTD · @64 MRCONFIGID · @112 MROWNER
 *         · @160 MROWNERCONFIG · @208 RTMR0–3 (4 × 48) · @400 SERVTD_HASH(48, version 1) · reserved(64)
 *
 * Which quote Intel's TD QE makes of a report (quoting_enclave_tdqe.cpp,
 * determine_quote_version) is `tdReportQuoteKind`; the quote body it copies
 * out is `tdQuoteBodyOf`.
 */
import { createHash } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { TD_REPORT10_SIZE, TD_REPORT15_SIZE } from './constants.js';
import { asBuffer, checkSize, checkU64 } from './reader.js';
import { tdAttributes, type TdAttributes } from './td-report.js';

export const TDREPORT_SIZE = 1024;
export const TDREPORT_TYPE_TDX = 0x81;
export const TEE_TCB_INFO_SIZE = 239;
export const TDINFO_SIZE = 512;

/** Byte offsets in the TDREPORT. */
export const TDREPORT_OFFSET = {
  REPORT_TYPE: 0,
  RESERVED1: 4,
  CPU_SVN: 16,
  TEE_TCB_INFO_HASH: 32,
  TEE_INFO_HASH: 80,
  REPORT_DATA: 128,
  RESERVED2: 192,
  MAC: 224,
  TEE_TCB_INFO: 256,
  RESERVED: 495,
  TDINFO: 512,
} as const;

/** Offsets inside TEE_TCB_INFO. */
export const TEE_TCB_INFO_OFFSET = { VALID: 0, TEE_TCB_SVN: 8, MR_SEAM: 24, MR_SIGNER_SEAM: 72, ATTRIBUTES: 120, TEE_TCB_SVN2: 128, RESERVED: 144 } as const;

/** Offsets inside TDINFO. */
export const TDINFO_OFFSET = { ATTRIBUTES: 0, XFAM: 8, MR_TD: 16, MR_CONFIG_ID: 64, MR_OWNER: 112, MR_OWNER_CONFIG: 160, RTMR0: 208, SERVTD_HASH: 400, RESERVED_V1_5: 448 } as const;

/** The MAC covers REPORTMACSTRUCT up to the MAC field. */
export const TDREPORT_MACED_SIZE = TDREPORT_OFFSET.MAC;

export interface TeeTcbInfo {
  /** 8 bytes; bit i set = the field at byte offset 8·i is valid (TDX 1.0: 0x1FF, 1.5 with TEE_TCB_SVN2: 0x301FF) */
  valid: Buffer;
  teeTcbSvn: Buffer; // 16
  mrSeam: Buffer; // 48
  mrSignerSeam: Buffer; // 48
  attributes: bigint;
  teeTcbSvn2: Buffer; // 16
}

export interface TdInfo {
  attributes: TdAttributes;
  xfam: bigint;
  mrTd: Buffer;
  mrConfigId: Buffer;
  mrOwner: Buffer;
  mrOwnerConfig: Buffer;
  rtMr: [Buffer, Buffer, Buffer, Buffer];
  servTdHash: Buffer; // 48, TDREPORT version 1
}

export interface TdReportStruct {
  reportType: { type: number; subtype: number; version: number; reserved: number };
  cpuSvn: Buffer;
  teeTcbInfoHash: Buffer;
  teeInfoHash: Buffer;
  reportData: Buffer;
  mac: Buffer;
  teeTcbInfo: TeeTcbInfo;
  tdInfo: TdInfo;
  /** views of the exact bytes: the MACed part of REPORTMACSTRUCT, TEE_TCB_INFO, TDINFO */
  macedBytes: Buffer;
  teeTcbInfoBytes: Buffer;
  tdInfoBytes: Buffer;
  bytes: Buffer;
}

const at = (b: Buffer, off: number, len: number) => b.subarray(off, off + len);

/** Parses a TDREPORT (exactly 1,024 bytes; fields are views into the input). */
export function parseTdReportStruct(bytes: Uint8Array): TdReportStruct {
  const b = asBuffer(bytes);
  if (b.length !== TDREPORT_SIZE) {
    throw new KubeSgxError(b.length < TDREPORT_SIZE ? 'TDREPORT_TRUNCATED' : 'TDREPORT_TRAILING_BYTES', `TDREPORT: expected ${TDREPORT_SIZE} bytes, got ${b.length}`, {
      path: ['tdReport'],
      details: { expected: TDREPORT_SIZE, actual: b.length },
    });
  }
  const O = TDREPORT_OFFSET;
  const t = at(b, O.TEE_TCB_INFO, TEE_TCB_INFO_SIZE);
  const i = at(b, O.TDINFO, TDINFO_SIZE);
  const T = TEE_TCB_INFO_OFFSET;
  const I = TDINFO_OFFSET;
  return {
    reportType: { type: b[0], subtype: b[1], version: b[2], reserved: b[3] },
    cpuSvn: at(b, O.CPU_SVN, 16),
    teeTcbInfoHash: at(b, O.TEE_TCB_INFO_HASH, 48),
    teeInfoHash: at(b, O.TEE_INFO_HASH, 48),
    reportData: at(b, O.REPORT_DATA, 64),
    mac: at(b, O.MAC, 32),
    teeTcbInfo: {
      valid: at(t, T.VALID, 8),
      teeTcbSvn: at(t, T.TEE_TCB_SVN, 16),
      mrSeam: at(t, T.MR_SEAM, 48),
      mrSignerSeam: at(t, T.MR_SIGNER_SEAM, 48),
      attributes: t.readBigUInt64LE(T.ATTRIBUTES),
      teeTcbSvn2: at(t, T.TEE_TCB_SVN2, 16),
    },
    tdInfo: {
      attributes: tdAttributes(i.readBigUInt64LE(I.ATTRIBUTES)),
      xfam: i.readBigUInt64LE(I.XFAM),
      mrTd: at(i, I.MR_TD, 48),
      mrConfigId: at(i, I.MR_CONFIG_ID, 48),
      mrOwner: at(i, I.MR_OWNER, 48),
      mrOwnerConfig: at(i, I.MR_OWNER_CONFIG, 48),
      rtMr: [at(i, I.RTMR0, 48), at(i, I.RTMR0 + 48, 48), at(i, I.RTMR0 + 96, 48), at(i, I.RTMR0 + 144, 48)],
      servTdHash: at(i, I.SERVTD_HASH, 48),
    },
    macedBytes: at(b, 0, TDREPORT_MACED_SIZE),
    teeTcbInfoBytes: t,
    tdInfoBytes: i,
    bytes: b,
  };
}

export interface TdReportInit {
  /** REPORTTYPE.version: 0 = TDX 1.0 layout, 1 = with SERVTD_HASH (TDX 1.5) */
  version: 0 | 1;
  cpuSvn: Uint8Array;
  reportData: Uint8Array;
  teeTcbInfo: Omit<TeeTcbInfo, 'valid' | 'teeTcbSvn2'> & { valid: bigint; teeTcbSvn2?: Uint8Array };
  tdInfo: Omit<TdInfo, 'attributes' | 'servTdHash'> & { attributes: bigint; servTdHash?: Uint8Array };
}

const sha384 = (b: Uint8Array) => createHash('sha384').update(b).digest();

/**
 * Encodes a TDREPORT with both SHA-384 hashes filled in and a zero MAC (the
 * caller MACs `macedBytes`). Reserved bytes are zero.
 */
export function encodeTdReportStruct(init: TdReportInit): Buffer {
  const b = Buffer.alloc(TDREPORT_SIZE);
  const O = TDREPORT_OFFSET;
  if (init.version !== 0 && init.version !== 1) throw new KubeSgxError('ENCODE_BAD_FIELD', 'reportType.version: 0 or 1', { path: ['reportType', 'version'] });
  b[0] = TDREPORT_TYPE_TDX;
  b[2] = init.version;
  b.set(checkSize(init.cpuSvn, 16, ['cpuSvn']), O.CPU_SVN);
  b.set(checkSize(init.reportData, 64, ['reportData']), O.REPORT_DATA);

  const t = at(b, O.TEE_TCB_INFO, TEE_TCB_INFO_SIZE);
  const T = TEE_TCB_INFO_OFFSET;
  const tt = init.teeTcbInfo;
  t.writeBigUInt64LE(checkU64(tt.valid, ['teeTcbInfo', 'valid']), T.VALID);
  t.set(checkSize(tt.teeTcbSvn, 16, ['teeTcbInfo', 'teeTcbSvn']), T.TEE_TCB_SVN);
  t.set(checkSize(tt.mrSeam, 48, ['teeTcbInfo', 'mrSeam']), T.MR_SEAM);
  t.set(checkSize(tt.mrSignerSeam, 48, ['teeTcbInfo', 'mrSignerSeam']), T.MR_SIGNER_SEAM);
  t.writeBigUInt64LE(checkU64(tt.attributes, ['teeTcbInfo', 'attributes']), T.ATTRIBUTES);
  if (tt.teeTcbSvn2 !== undefined) t.set(checkSize(tt.teeTcbSvn2, 16, ['teeTcbInfo', 'teeTcbSvn2']), T.TEE_TCB_SVN2);

  const i = at(b, O.TDINFO, TDINFO_SIZE);
  const I = TDINFO_OFFSET;
  const ti = init.tdInfo;
  i.writeBigUInt64LE(checkU64(ti.attributes, ['tdInfo', 'attributes']), I.ATTRIBUTES);
  i.writeBigUInt64LE(checkU64(ti.xfam, ['tdInfo', 'xfam']), I.XFAM);
  i.set(checkSize(ti.mrTd, 48, ['tdInfo', 'mrTd']), I.MR_TD);
  i.set(checkSize(ti.mrConfigId, 48, ['tdInfo', 'mrConfigId']), I.MR_CONFIG_ID);
  i.set(checkSize(ti.mrOwner, 48, ['tdInfo', 'mrOwner']), I.MR_OWNER);
  i.set(checkSize(ti.mrOwnerConfig, 48, ['tdInfo', 'mrOwnerConfig']), I.MR_OWNER_CONFIG);
  if (!Array.isArray(ti.rtMr) || ti.rtMr.length !== 4) throw new KubeSgxError('ENCODE_BAD_FIELD', 'tdInfo.rtMr: expected 4 registers', { path: ['tdInfo', 'rtMr'] });
  ti.rtMr.forEach((r, n) => i.set(checkSize(r, 48, ['tdInfo', 'rtMr', n]), I.RTMR0 + 48 * n));
  if (ti.servTdHash !== undefined) {
    if (init.version !== 1) throw new KubeSgxError('ENCODE_BAD_FIELD', 'tdInfo.servTdHash: only in a version-1 TDREPORT', { path: ['tdInfo', 'servTdHash'] });
    i.set(checkSize(ti.servTdHash, 48, ['tdInfo', 'servTdHash']), I.SERVTD_HASH);
  }
  sha384(t).copy(b, O.TEE_TCB_INFO_HASH);
  sha384(i).copy(b, O.TEE_INFO_HASH);
  return b;
}

/** What Intel's TD QE makes of a TDREPORT (determine_quote_version). */
export interface TdQuoteKind {
  /** 4: TD report 1.0 body; 5: body type 3 (TD report 1.5) */
  quoteVersion: 4 | 5;
  teeTcbSvn2Valid: boolean;
  mrServiceTdValid: boolean;
}

function unsupported(message: string, path: (string | number)[]): never {
  throw new KubeSgxError('TDREPORT_FORMAT_NOT_SUPPORTED', `TDREPORT: ${message}`, { path: ['tdReport', ...path] });
}

const anyNonZero = (b: Uint8Array, from: number, to: number) => {
  for (let k = from; k < to; k++) if (b[k] !== 0) return true;
  return false;
};

/**
 * The format checks Intel's QGS (qgs_ql_logic.cpp: REPORTTYPE 0x81/0/0|1,
 * reserved bytes zero) and TD QE (VALID = 0x1FF or 0x301FF, TDINFO reserved
 * zero) apply before anything else, and the quote version they choose:
 * version 0 → v4, unless TEE_TCB_SVN2 is valid and differs from TEE_TCB_SVN
 * (then v5); version 1 → v5 with MRSERVICETD. Throws TDREPORT_FORMAT_NOT_SUPPORTED.
 */
export function tdReportQuoteKind(r: TdReportStruct): TdQuoteKind {
  const rt = r.reportType;
  if (rt.type !== TDREPORT_TYPE_TDX) unsupported(`REPORTTYPE.type 0x${rt.type.toString(16)} is not 0x81 (TDX)`, ['reportType', 'type']);
  if (rt.subtype !== 0) unsupported(`REPORTTYPE.subtype ${rt.subtype} is not 0`, ['reportType', 'subtype']);
  if (rt.version !== 0 && rt.version !== 1) unsupported(`REPORTTYPE.version ${rt.version} is not 0 or 1`, ['reportType', 'version']);
  if (rt.reserved !== 0) unsupported('REPORTTYPE.reserved is not zero', ['reportType', 'reserved']);
  const b = r.bytes;
  const O = TDREPORT_OFFSET;
  if (anyNonZero(b, O.RESERVED1, O.CPU_SVN)) unsupported('REPORTMACSTRUCT reserved1 is not zero', ['reserved1']);
  if (anyNonZero(b, O.RESERVED2, O.MAC)) unsupported('REPORTMACSTRUCT reserved2 is not zero', ['reserved2']);
  if (anyNonZero(b, O.RESERVED, O.TDINFO)) unsupported('reserved bytes 495–511 are not zero', ['reserved']);
  const valid = r.teeTcbInfo.valid;
  if (valid[0] !== 0xff || valid[1] !== 1) unsupported(`TEE_TCB_INFO.VALID ${valid.toString('hex')} does not mark the TDX 1.x fields valid`, ['teeTcbInfo', 'valid']);
  if (anyNonZero(valid, 3, 8)) unsupported(`TEE_TCB_INFO.VALID ${valid.toString('hex')} has unknown bits`, ['teeTcbInfo', 'valid']);
  if (rt.version === 0) {
    if (anyNonZero(r.tdInfoBytes, TDINFO_OFFSET.SERVTD_HASH, TDINFO_SIZE)) unsupported('TDINFO reserved bytes are not zero', ['tdInfo', 'reserved']);
    if (valid[2] === 3) {
      const differs = !r.teeTcbInfo.teeTcbSvn.equals(r.teeTcbInfo.teeTcbSvn2);
      return { quoteVersion: differs ? 5 : 4, teeTcbSvn2Valid: differs, mrServiceTdValid: false };
    }
    if (valid[2] !== 0) unsupported(`TEE_TCB_INFO.VALID ${valid.toString('hex')} has unknown bits`, ['teeTcbInfo', 'valid']);
    return { quoteVersion: 4, teeTcbSvn2Valid: false, mrServiceTdValid: false };
  }
  if (anyNonZero(r.tdInfoBytes, TDINFO_OFFSET.RESERVED_V1_5, TDINFO_SIZE)) unsupported('TDINFO reserved bytes are not zero', ['tdInfo', 'reserved']);
  if (valid[2] !== 0 && valid[2] !== 3) unsupported(`TEE_TCB_INFO.VALID ${valid.toString('hex')} has unknown bits`, ['teeTcbInfo', 'valid']);
  return { quoteVersion: 5, teeTcbSvn2Valid: valid[2] === 3, mrServiceTdValid: true };
}

/** Do the two SHA-384 fields of REPORTMACSTRUCT match TEE_TCB_INFO and TDINFO? (TD QE: TDQE_ERROR_INVALID_HASH otherwise) */
export function tdReportHashesMatch(r: TdReportStruct): boolean {
  return sha384(r.teeTcbInfoBytes).equals(r.teeTcbInfoHash) && sha384(r.tdInfoBytes).equals(r.teeInfoHash);
}

/**
 * Writes the quote body Intel's TD QE builds from a TDREPORT into `out`
 * (584 bytes for v4, 648 for v5; `out` must be zero). As Intel's TD QE does,
 * MRSIGNERSEAM and SEAMATTRIBUTES are left zero.
 */
export function writeTdQuoteBody(r: TdReportStruct, kind: TdQuoteKind, out: Buffer): void {
  const size = kind.quoteVersion === 4 ? TD_REPORT10_SIZE : TD_REPORT15_SIZE;
  if (out.length !== size) throw new KubeSgxError('ENCODE_BAD_FIELD', `TD quote body: expected ${size} bytes, got ${out.length}`, { path: ['body'] });
  const t = r.teeTcbInfoBytes;
  const i = r.tdInfoBytes;
  const T = TEE_TCB_INFO_OFFSET;
  t.copy(out, 0, T.TEE_TCB_SVN, T.TEE_TCB_SVN + 16 + 48); // TEE_TCB_SVN, MRSEAM
  // TD ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0–3: contiguous in both
  i.copy(out, 120, TDINFO_OFFSET.ATTRIBUTES, TDINFO_OFFSET.SERVTD_HASH);
  r.reportData.copy(out, 520);
  if (kind.quoteVersion === 5) {
    if (kind.teeTcbSvn2Valid) t.copy(out, 584, T.TEE_TCB_SVN2, T.TEE_TCB_SVN2 + 16);
    if (kind.mrServiceTdValid) i.copy(out, 600, TDINFO_OFFSET.SERVTD_HASH, TDINFO_OFFSET.SERVTD_HASH + 48);
  }
}
