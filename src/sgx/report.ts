/**
 * SGX report body (384 B; also the QE report inside quotes), report
 * (432 B = body + KEYID + MAC) and target info (512 B).
 */
import { KubeSgxError, type ErrorPath } from '../errors.js';
import {
  SGX_ATTRIBUTE_FLAGS,
  SGX_REPORT_BODY_SIZE,
  SGX_REPORT_SIZE,
  SGX_TARGET_INFO_SIZE,
} from './constants.js';
import { ByteReader, exactReader } from './reader.js';
import { ByteWriter } from './writer.js';

/** SGX ATTRIBUTES: `flags` and `xfrm` are the data; the booleans are decoded from `flags` (encoders ignore them). */
export interface SgxAttributes {
  flags: bigint;
  xfrm: bigint;
  init: boolean;
  debug: boolean;
  mode64bit: boolean;
  provisionKey: boolean;
  einitTokenKey: boolean;
  kss: boolean;
  aexNotify: boolean;
}

export interface ReportBody {
  cpuSvn: Buffer; // 16
  miscSelect: number; // u32
  reserved1: Buffer; // 12
  isvExtProdId: Buffer; // 16
  attributes: SgxAttributes;
  mrEnclave: Buffer; // 32
  reserved2: Buffer; // 32
  mrSigner: Buffer; // 32
  reserved3: Buffer; // 32
  configId: Buffer; // 64
  isvProdId: number; // u16
  isvSvn: number; // u16
  configSvn: number; // u16
  reserved4: Buffer; // 42
  isvFamilyId: Buffer; // 16
  reportData: Buffer; // 64
}

export interface Report {
  body: ReportBody;
  keyId: Buffer; // 32
  mac: Buffer; // 16
}

export interface TargetInfo {
  mrEnclave: Buffer; // 32
  attributes: SgxAttributes;
  reserved1: Buffer; // 2
  configSvn: number; // u16
  miscSelect: number; // u32
  reserved2: Buffer; // 8
  configId: Buffer; // 64
  reserved3: Buffer; // 384
}

/** Decodes the named bits of ATTRIBUTES.flags. */
export function sgxAttributes(flags: bigint, xfrm: bigint): SgxAttributes {
  const f = SGX_ATTRIBUTE_FLAGS;
  return {
    flags,
    xfrm,
    init: (flags & f.INIT) !== 0n,
    debug: (flags & f.DEBUG) !== 0n,
    mode64bit: (flags & f.MODE64BIT) !== 0n,
    provisionKey: (flags & f.PROVISIONKEY) !== 0n,
    einitTokenKey: (flags & f.EINITTOKENKEY) !== 0n,
    kss: (flags & f.KSS) !== 0n,
    aexNotify: (flags & f.AEXNOTIFY) !== 0n,
  };
}

function readAttributes(r: ByteReader, path: ErrorPath): SgxAttributes {
  const b = r.bytes(16, path, 'attributes');
  return sgxAttributes(b.readBigUInt64LE(0), b.readBigUInt64LE(8));
}

function writeAttributes(w: ByteWriter, a: SgxAttributes, path: ErrorPath): void {
  if (a === null || typeof a !== 'object') {
    throw new KubeSgxError('ENCODE_BAD_FIELD', `${[...path, 'attributes'].join('.')}: missing`, { path: [...path, 'attributes'] });
  }
  w.u64(a.flags, [...path, 'attributes', 'flags']);
  w.u64(a.xfrm, [...path, 'attributes', 'xfrm']);
}

/** Reads a 384-byte report body at the reader's position. */
export function readReportBody(r: ByteReader, path: ErrorPath): ReportBody {
  r.need(SGX_REPORT_BODY_SIZE, path);
  return {
    cpuSvn: r.bytes(16, path, 'cpuSvn'),
    miscSelect: r.u32(path, 'miscSelect'),
    reserved1: r.bytes(12, path, 'reserved1'),
    isvExtProdId: r.bytes(16, path, 'isvExtProdId'),
    attributes: readAttributes(r, path),
    mrEnclave: r.bytes(32, path, 'mrEnclave'),
    reserved2: r.bytes(32, path, 'reserved2'),
    mrSigner: r.bytes(32, path, 'mrSigner'),
    reserved3: r.bytes(32, path, 'reserved3'),
    configId: r.bytes(64, path, 'configId'),
    isvProdId: r.u16(path, 'isvProdId'),
    isvSvn: r.u16(path, 'isvSvn'),
    configSvn: r.u16(path, 'configSvn'),
    reserved4: r.bytes(42, path, 'reserved4'),
    isvFamilyId: r.bytes(16, path, 'isvFamilyId'),
    reportData: r.bytes(64, path, 'reportData'),
  };
}

export function writeReportBody(w: ByteWriter, b: ReportBody, path: ErrorPath): void {
  if (b === null || typeof b !== 'object') {
    throw new KubeSgxError('ENCODE_BAD_FIELD', `${path.join('.') || 'reportBody'}: missing`, { path });
  }
  w.fixed(b.cpuSvn, 16, [...path, 'cpuSvn']);
  w.u32(b.miscSelect, [...path, 'miscSelect']);
  w.fixed(b.reserved1, 12, [...path, 'reserved1']);
  w.fixed(b.isvExtProdId, 16, [...path, 'isvExtProdId']);
  writeAttributes(w, b.attributes, path);
  w.fixed(b.mrEnclave, 32, [...path, 'mrEnclave']);
  w.fixed(b.reserved2, 32, [...path, 'reserved2']);
  w.fixed(b.mrSigner, 32, [...path, 'mrSigner']);
  w.fixed(b.reserved3, 32, [...path, 'reserved3']);
  w.fixed(b.configId, 64, [...path, 'configId']);
  w.u16(b.isvProdId, [...path, 'isvProdId']);
  w.u16(b.isvSvn, [...path, 'isvSvn']);
  w.u16(b.configSvn, [...path, 'configSvn']);
  w.fixed(b.reserved4, 42, [...path, 'reserved4']);
  w.fixed(b.isvFamilyId, 16, [...path, 'isvFamilyId']);
  w.fixed(b.reportData, 64, [...path, 'reportData']);
}

/** Parses a 384-byte SGX report body. Byte fields are views into `bytes`. */
export function parseReportBody(bytes: Uint8Array): ReportBody {
  return readReportBody(exactReader(bytes, SGX_REPORT_BODY_SIZE, 'reportBody'), []);
}

export function encodeReportBody(body: ReportBody): Buffer {
  const w = new ByteWriter(Buffer.alloc(SGX_REPORT_BODY_SIZE));
  writeReportBody(w, body, []);
  return w.buf;
}

/** Parses a 432-byte sgx_report_t. */
export function parseReport(bytes: Uint8Array): Report {
  const r = exactReader(bytes, SGX_REPORT_SIZE, 'report');
  return { body: readReportBody(r, ['body']), keyId: r.bytes(32, ['keyId']), mac: r.bytes(16, ['mac']) };
}

export function encodeReport(report: Report): Buffer {
  const w = new ByteWriter(Buffer.alloc(SGX_REPORT_SIZE));
  writeReportBody(w, report.body, ['body']);
  w.fixed(report.keyId, 32, ['keyId']);
  w.fixed(report.mac, 16, ['mac']);
  return w.buf;
}

/** Parses a 512-byte sgx_target_info_t. */
export function parseTargetInfo(bytes: Uint8Array): TargetInfo {
  const r = exactReader(bytes, SGX_TARGET_INFO_SIZE, 'targetInfo');
  return {
    mrEnclave: r.bytes(32, ['mrEnclave']),
    attributes: readAttributes(r, []),
    reserved1: r.bytes(2, ['reserved1']),
    configSvn: r.u16(['configSvn']),
    miscSelect: r.u32(['miscSelect']),
    reserved2: r.bytes(8, ['reserved2']),
    configId: r.bytes(64, ['configId']),
    reserved3: r.bytes(384, ['reserved3']),
  };
}

export function encodeTargetInfo(t: TargetInfo): Buffer {
  const w = new ByteWriter(Buffer.alloc(SGX_TARGET_INFO_SIZE));
  w.fixed(t.mrEnclave, 32, ['mrEnclave']);
  writeAttributes(w, t.attributes, []);
  w.fixed(t.reserved1, 2, ['reserved1']);
  w.u16(t.configSvn, ['configSvn']);
  w.u32(t.miscSelect, ['miscSelect']);
  w.fixed(t.reserved2, 8, ['reserved2']);
  w.fixed(t.configId, 64, ['configId']);
  w.fixed(t.reserved3, 384, ['reserved3']);
  return w.buf;
}

type ReportBodyInit = Partial<Omit<ReportBody, 'attributes'>> & { attributes?: { flags: bigint; xfrm: bigint } };

/** Builds a report body, zero-filling every field not given (for simulators and tests). */
export function makeReportBody(init: ReportBodyInit = {}): ReportBody {
  const z = (n: number): Buffer => Buffer.alloc(n);
  const a = init.attributes ?? { flags: 0n, xfrm: 0n };
  return {
    cpuSvn: init.cpuSvn ?? z(16),
    miscSelect: init.miscSelect ?? 0,
    reserved1: init.reserved1 ?? z(12),
    isvExtProdId: init.isvExtProdId ?? z(16),
    attributes: sgxAttributes(a.flags, a.xfrm),
    mrEnclave: init.mrEnclave ?? z(32),
    reserved2: init.reserved2 ?? z(32),
    mrSigner: init.mrSigner ?? z(32),
    reserved3: init.reserved3 ?? z(32),
    configId: init.configId ?? z(64),
    isvProdId: init.isvProdId ?? 0,
    isvSvn: init.isvSvn ?? 0,
    configSvn: init.configSvn ?? 0,
    reserved4: init.reserved4 ?? z(42),
    isvFamilyId: init.isvFamilyId ?? z(16),
    reportData: init.reportData ?? z(64),
  };
}

type TargetInfoInit = Partial<Omit<TargetInfo, 'attributes'>> & { attributes?: { flags: bigint; xfrm: bigint } };

/** Builds a target info, zero-filling every field not given. */
export function makeTargetInfo(init: TargetInfoInit = {}): TargetInfo {
  const a = init.attributes ?? { flags: 0n, xfrm: 0n };
  return {
    mrEnclave: init.mrEnclave ?? Buffer.alloc(32),
    attributes: sgxAttributes(a.flags, a.xfrm),
    reserved1: init.reserved1 ?? Buffer.alloc(2),
    configSvn: init.configSvn ?? 0,
    miscSelect: init.miscSelect ?? 0,
    reserved2: init.reserved2 ?? Buffer.alloc(8),
    configId: init.configId ?? Buffer.alloc(64),
    reserved3: init.reserved3 ?? Buffer.alloc(384),
  };
}
