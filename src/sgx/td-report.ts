/** TDX TD report bodies as they appear in quotes: TD report 1.0 (584 B) and 1.5 (648 B). */
import { KubeSgxError, type ErrorPath } from '../errors.js';
import { TD_ATTRIBUTE_FLAGS, TD_REPORT10_SIZE, TD_REPORT15_SIZE } from './constants.js';
import { ByteReader, exactReader } from './reader.js';
import { ByteWriter } from './writer.js';

/** TDATTRIBUTES: `value` is the data; the booleans are decoded from it (encoders ignore them). */
export interface TdAttributes {
  value: bigint;
  debug: boolean;
  septVeDisable: boolean;
  migratable: boolean;
  pks: boolean;
  kl: boolean;
  perfmon: boolean;
}

export interface TdReport10 {
  teeTcbSvn: Buffer; // 16
  mrSeam: Buffer; // 48
  mrSignerSeam: Buffer; // 48
  seamAttributes: bigint; // u64
  tdAttributes: TdAttributes;
  xfam: bigint; // u64
  mrTd: Buffer; // 48
  mrConfigId: Buffer; // 48
  mrOwner: Buffer; // 48
  mrOwnerConfig: Buffer; // 48
  rtMr: [Buffer, Buffer, Buffer, Buffer]; // 4 × 48
  reportData: Buffer; // 64
}

export interface TdReport15 extends TdReport10 {
  teeTcbSvn2: Buffer; // 16
  mrServiceTd: Buffer; // 48
}

export function tdAttributes(value: bigint): TdAttributes {
  const f = TD_ATTRIBUTE_FLAGS;
  return {
    value,
    debug: (value & f.DEBUG) !== 0n,
    septVeDisable: (value & f.SEPT_VE_DISABLE) !== 0n,
    migratable: (value & f.MIGRATABLE) !== 0n,
    pks: (value & f.PKS) !== 0n,
    kl: (value & f.KL) !== 0n,
    perfmon: (value & f.PERFMON) !== 0n,
  };
}

function u64(r: ByteReader, path: ErrorPath, name: string): bigint {
  return r.bytes(8, path, name).readBigUInt64LE(0);
}

export function readTdReport10(r: ByteReader, path: ErrorPath): TdReport10 {
  r.need(TD_REPORT10_SIZE, path);
  return {
    teeTcbSvn: r.bytes(16, path, 'teeTcbSvn'),
    mrSeam: r.bytes(48, path, 'mrSeam'),
    mrSignerSeam: r.bytes(48, path, 'mrSignerSeam'),
    seamAttributes: u64(r, path, 'seamAttributes'),
    tdAttributes: tdAttributes(u64(r, path, 'tdAttributes')),
    xfam: u64(r, path, 'xfam'),
    mrTd: r.bytes(48, path, 'mrTd'),
    mrConfigId: r.bytes(48, path, 'mrConfigId'),
    mrOwner: r.bytes(48, path, 'mrOwner'),
    mrOwnerConfig: r.bytes(48, path, 'mrOwnerConfig'),
    rtMr: [
      r.bytes(48, path, 'rtMr', 0),
      r.bytes(48, path, 'rtMr', 1),
      r.bytes(48, path, 'rtMr', 2),
      r.bytes(48, path, 'rtMr', 3),
    ],
    reportData: r.bytes(64, path, 'reportData'),
  };
}

export function readTdReport15(r: ByteReader, path: ErrorPath): TdReport15 {
  r.need(TD_REPORT15_SIZE, path);
  const base = readTdReport10(r, path);
  return { ...base, teeTcbSvn2: r.bytes(16, path, 'teeTcbSvn2'), mrServiceTd: r.bytes(48, path, 'mrServiceTd') };
}

export function writeTdReport10(w: ByteWriter, t: TdReport10, path: ErrorPath): void {
  if (t === null || typeof t !== 'object' || !Array.isArray(t.rtMr) || t.rtMr.length !== 4 || typeof t.tdAttributes !== 'object') {
    throw new KubeSgxError('ENCODE_BAD_FIELD', `${path.join('.') || 'tdReport'}: malformed TD report`, { path });
  }
  w.fixed(t.teeTcbSvn, 16, [...path, 'teeTcbSvn']);
  w.fixed(t.mrSeam, 48, [...path, 'mrSeam']);
  w.fixed(t.mrSignerSeam, 48, [...path, 'mrSignerSeam']);
  w.u64(t.seamAttributes, [...path, 'seamAttributes']);
  w.u64(t.tdAttributes.value, [...path, 'tdAttributes']);
  w.u64(t.xfam, [...path, 'xfam']);
  w.fixed(t.mrTd, 48, [...path, 'mrTd']);
  w.fixed(t.mrConfigId, 48, [...path, 'mrConfigId']);
  w.fixed(t.mrOwner, 48, [...path, 'mrOwner']);
  w.fixed(t.mrOwnerConfig, 48, [...path, 'mrOwnerConfig']);
  for (let i = 0; i < 4; i++) w.fixed(t.rtMr[i], 48, [...path, 'rtMr', i]);
  w.fixed(t.reportData, 64, [...path, 'reportData']);
}

export function writeTdReport15(w: ByteWriter, t: TdReport15, path: ErrorPath): void {
  writeTdReport10(w, t, path);
  w.fixed(t.teeTcbSvn2, 16, [...path, 'teeTcbSvn2']);
  w.fixed(t.mrServiceTd, 48, [...path, 'mrServiceTd']);
}

export function parseTdReport10(bytes: Uint8Array): TdReport10 {
  return readTdReport10(exactReader(bytes, TD_REPORT10_SIZE, 'tdReport10'), []);
}

export function parseTdReport15(bytes: Uint8Array): TdReport15 {
  return readTdReport15(exactReader(bytes, TD_REPORT15_SIZE, 'tdReport15'), []);
}

export function encodeTdReport10(t: TdReport10): Buffer {
  const w = new ByteWriter(Buffer.alloc(TD_REPORT10_SIZE));
  writeTdReport10(w, t, []);
  return w.buf;
}

export function encodeTdReport15(t: TdReport15): Buffer {
  const w = new ByteWriter(Buffer.alloc(TD_REPORT15_SIZE));
  writeTdReport15(w, t, []);
  return w.buf;
}

type TdReport15Init = Partial<Omit<TdReport15, 'tdAttributes'>> & { tdAttributes?: bigint };

/** Builds a TD report 1.0, zero-filling every field not given. */
export function makeTdReport10(init: Omit<TdReport15Init, 'teeTcbSvn2' | 'mrServiceTd'> = {}): TdReport10 {
  const z = (n: number): Buffer => Buffer.alloc(n);
  return {
    teeTcbSvn: init.teeTcbSvn ?? z(16),
    mrSeam: init.mrSeam ?? z(48),
    mrSignerSeam: init.mrSignerSeam ?? z(48),
    seamAttributes: init.seamAttributes ?? 0n,
    tdAttributes: tdAttributes(init.tdAttributes ?? 0n),
    xfam: init.xfam ?? 0n,
    mrTd: init.mrTd ?? z(48),
    mrConfigId: init.mrConfigId ?? z(48),
    mrOwner: init.mrOwner ?? z(48),
    mrOwnerConfig: init.mrOwnerConfig ?? z(48),
    rtMr: init.rtMr ?? [z(48), z(48), z(48), z(48)],
    reportData: init.reportData ?? z(64),
  };
}

/** Builds a TD report 1.5, zero-filling every field not given. */
export function makeTdReport15(init: TdReport15Init = {}): TdReport15 {
  return { ...makeTdReport10(init), teeTcbSvn2: init.teeTcbSvn2 ?? Buffer.alloc(16), mrServiceTd: init.mrServiceTd ?? Buffer.alloc(48) };
}
