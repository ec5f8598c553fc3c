/**
 * Intel's SGX extension (OID 1.2.840.113741.1.13.1) in PCK certificates:
 *
 *   SEQUENCE {
 *     { P.1 PPID OCTET STRING(16) }
 *     { P.2 TCB SEQUENCE { {P.2.1..16 INTEGER 0–255}, {P.2.17 PCESVN INTEGER}, {P.2.18 CPUSVN OCTET STRING(16)} } }
 *     { P.3 PCE-ID OCTET STRING(2) }  { P.4 FMSPC OCTET STRING(6) }  { P.5 SGX type ENUMERATED }
 *     { P.6 platform instance ID OCTET STRING(16) }          -- Platform-CA PCKs only
 *     { P.7 configuration SEQUENCE { {P.7.1..3 BOOLEAN} } }   -- Platform-CA PCKs only
 *   }
 *
 * A hand DER walk (no object trees): this runs on the verifier's warm path.
 */
import { KubeSgxError, type ErrorPath, type ErrorCode } from '../errors.js';
import { SGX_EXTENSION_OID } from './constants.js';
import {
  DER_TAG,
  childNodes,
  derBoolean,
  derOid,
  derSequence,
  derTlv,
  derUint,
  encodeOidContent,
  expectNode,
  oidEquals,
  readNode,
  type DerNode,
} from './der.js';
import { asBuffer } from './reader.js';

export const SGX_TYPE = { STANDARD: 0, SCALABLE: 1, SCALABLE_WITH_INTEGRITY: 2 } as const;
export const SGX_TYPE_NAMES = ['Standard', 'Scalable', 'ScalableWithIntegrity'] as const;

export interface PckPlatformConfiguration {
  dynamicPlatform: boolean | undefined;
  cachedKeys: boolean | undefined;
  smtEnabled: boolean | undefined;
}

export interface PckExtensions {
  /** 16 bytes */
  ppid: Buffer;
  /** SGX TCB component SVNs 1–16 (index 0 = component 1), each 0–255 */
  tcbComponents: number[];
  pceSvn: number;
  /** 16 bytes */
  cpuSvn: Buffer;
  /** 2 bytes (hex `0000` for Intel's PCE) */
  pceId: Buffer;
  /** 6 bytes */
  fmspc: Buffer;
  /** 0 Standard, 1 Scalable, 2 ScalableWithIntegrity */
  sgxType: number;
  /** 16 bytes; Platform-CA PCKs only */
  platformInstanceId?: Buffer;
  /** Platform-CA PCKs only */
  configuration?: PckPlatformConfiguration;
}

const P = encodeOidContent(SGX_EXTENSION_OID);
const EXT_PATH = ['sgxExtensions'];
const MALFORMED = 'PCK_EXTENSION_MALFORMED';

function bad(code: ErrorCode, what: string, path: ErrorPath, offset: number): never {
  throw new KubeSgxError(code, `${path.join('.')}: ${what}`, { path, offset });
}

/** If `n` is OID P(.prefix…).x, returns x; otherwise -1. */
function subArc(buf: Buffer, n: DerNode, prefix: readonly number[]): number {
  const len = n.end - n.body;
  if (n.tag !== DER_TAG.OID || len !== P.length + prefix.length + 1) return -1;
  for (let i = 0; i < P.length; i++) if (buf[n.body + i] !== P[i]) return -1;
  for (let i = 0; i < prefix.length; i++) if (buf[n.body + P.length + i] !== prefix[i]) return -1;
  const last = buf[n.end - 1];
  return last & 0x80 ? -1 : last;
}

/** Children of a SEQUENCE of `SEQUENCE { OID, value }`, as [oid, value] pairs. */
function pairs(buf: Buffer, seq: DerNode, path: ErrorPath): Array<[DerNode, DerNode]> {
  const out: Array<[DerNode, DerNode]> = [];
  for (const item of childNodes(buf, seq, MALFORMED, path)) {
    if (item.tag !== DER_TAG.SEQUENCE) bad(MALFORMED, 'expected SEQUENCE { OID, value }', path, item.start);
    const kids = childNodes(buf, item, MALFORMED, path);
    if (kids.length !== 2 || kids[0].tag !== DER_TAG.OID) bad(MALFORMED, 'expected SEQUENCE { OID, value }', path, item.start);
    out.push([kids[0], kids[1]]);
  }
  return out;
}

function octets(buf: Buffer, v: DerNode, size: number, path: ErrorPath): Buffer {
  if (v.tag !== DER_TAG.OCTET_STRING) bad('PCK_EXTENSION_BAD_VALUE', 'expected OCTET STRING', path, v.start);
  if (v.end - v.body !== size) bad('PCK_EXTENSION_BAD_VALUE', `expected ${size} bytes, got ${v.end - v.body}`, path, v.start);
  return buf.subarray(v.body, v.end);
}

/** Non-negative minimal DER INTEGER / ENUMERATED no larger than `max`. */
function uint(buf: Buffer, v: DerNode, tag: number, max: number, path: ErrorPath): number {
  const len = v.end - v.body;
  if (v.tag !== tag) bad('PCK_EXTENSION_BAD_VALUE', tag === DER_TAG.INTEGER ? 'expected INTEGER' : 'expected ENUMERATED', path, v.start);
  if (len === 0 || len > 4) bad('PCK_EXTENSION_BAD_VALUE', 'integer out of range', path, v.start);
  if (buf[v.body] & 0x80) bad('PCK_EXTENSION_BAD_VALUE', 'negative integer', path, v.start);
  if (len > 1 && buf[v.body] === 0 && (buf[v.body + 1] & 0x80) === 0) bad('PCK_EXTENSION_BAD_VALUE', 'non-minimal DER integer', path, v.start);
  let x = 0;
  for (let i = v.body; i < v.end; i++) x = x * 256 + buf[i];
  if (x > max) bad('PCK_EXTENSION_BAD_VALUE', `value ${x} exceeds ${max}`, path, v.start);
  return x;
}

function bool(buf: Buffer, v: DerNode, path: ErrorPath): boolean {
  if (v.tag !== DER_TAG.BOOLEAN || v.end - v.body !== 1) bad('PCK_EXTENSION_BAD_VALUE', 'expected BOOLEAN', path, v.start);
  const b = buf[v.body];
  if (b !== 0 && b !== 0xff) bad('PCK_EXTENSION_BAD_VALUE', 'BOOLEAN must be 00 or FF in DER', path, v.start);
  return b === 0xff;
}

function once<T>(current: T | undefined, path: ErrorPath, offset: number): void {
  if (current !== undefined) bad('PCK_EXTENSION_DUPLICATE', 'appears more than once', path, offset);
}

function missing(path: ErrorPath, offset: number): never {
  return bad('PCK_EXTENSION_FIELD_MISSING', 'required field is missing', path, offset);
}

function parseTcb(buf: Buffer, seq: DerNode, path: ErrorPath): { tcbComponents: number[]; pceSvn: number; cpuSvn: Buffer } {
  if (seq.tag !== DER_TAG.SEQUENCE) bad('PCK_EXTENSION_BAD_VALUE', 'expected SEQUENCE', path, seq.start);
  const comps: Array<number | undefined> = new Array<number | undefined>(16).fill(undefined);
  let pceSvn: number | undefined;
  let cpuSvn: Buffer | undefined;
  for (const [oid, v] of pairs(buf, seq, path)) {
    const arc = subArc(buf, oid, [2]);
    if (arc >= 1 && arc <= 16) {
      const p = [...path, `sgxTcbComp${String(arc).padStart(2, '0')}Svn`];
      once(comps[arc - 1], p, oid.start);
      comps[arc - 1] = uint(buf, v, DER_TAG.INTEGER, 255, p);
    } else if (arc === 17) {
      once(pceSvn, [...path, 'pceSvn'], oid.start);
      pceSvn = uint(buf, v, DER_TAG.INTEGER, 0xffff, [...path, 'pceSvn']);
    } else if (arc === 18) {
      once(cpuSvn, [...path, 'cpuSvn'], oid.start);
      cpuSvn = octets(buf, v, 16, [...path, 'cpuSvn']);
    }
    // other OIDs: ignored (forward compatibility)
  }
  const tcbComponents: number[] = [];
  for (let i = 0; i < 16; i++) {
    const c = comps[i];
    if (c === undefined) missing([...path, `sgxTcbComp${String(i + 1).padStart(2, '0')}Svn`], seq.start);
    tcbComponents.push(c);
  }
  if (pceSvn === undefined) missing([...path, 'pceSvn'], seq.start);
  if (cpuSvn === undefined) missing([...path, 'cpuSvn'], seq.start);
  return { tcbComponents, pceSvn, cpuSvn };
}

function parseConfiguration(buf: Buffer, seq: DerNode, path: ErrorPath): PckPlatformConfiguration {
  if (seq.tag !== DER_TAG.SEQUENCE) bad('PCK_EXTENSION_BAD_VALUE', 'expected SEQUENCE', path, seq.start);
  const c: PckPlatformConfiguration = { dynamicPlatform: undefined, cachedKeys: undefined, smtEnabled: undefined };
  const names = ['', 'dynamicPlatform', 'cachedKeys', 'smtEnabled'] as const;
  for (const [oid, v] of pairs(buf, seq, path)) {
    const arc = subArc(buf, oid, [7]);
    if (arc >= 1 && arc <= 3) {
      const name = names[arc] as 'dynamicPlatform' | 'cachedKeys' | 'smtEnabled';
      once(c[name], [...path, name], oid.start);
      c[name] = bool(buf, v, [...path, name]);
    }
  }
  return c;
}

/** Parses the DER value (the OCTET STRING content) of the SGX extension. */
export function parsePckExtensionValue(value: Uint8Array): PckExtensions {
  const buf = asBuffer(value);
  const root = expectNode(buf, 0, buf.length, DER_TAG.SEQUENCE, MALFORMED, EXT_PATH);
  if (root.end !== buf.length) bad(MALFORMED, 'trailing bytes after the extension value', EXT_PATH, root.end);
  return parseValueNode(buf, root);
}

function parseValueNode(buf: Buffer, root: DerNode): PckExtensions {
  let ppid: Buffer | undefined;
  let tcb: ReturnType<typeof parseTcb> | undefined;
  let pceId: Buffer | undefined;
  let fmspc: Buffer | undefined;
  let sgxType: number | undefined;
  let platformInstanceId: Buffer | undefined;
  let configuration: PckPlatformConfiguration | undefined;
  const path = EXT_PATH;
  for (const [oid, v] of pairs(buf, root, path)) {
    switch (subArc(buf, oid, [])) {
      case 1:
        once(ppid, [...path, 'ppid'], oid.start);
        ppid = octets(buf, v, 16, [...path, 'ppid']);
        break;
      case 2:
        once(tcb, [...path, 'tcb'], oid.start);
        tcb = parseTcb(buf, v, [...path, 'tcb']);
        break;
      case 3:
        once(pceId, [...path, 'pceId'], oid.start);
        pceId = octets(buf, v, 2, [...path, 'pceId']);
        break;
      case 4:
        once(fmspc, [...path, 'fmspc'], oid.start);
        fmspc = octets(buf, v, 6, [...path, 'fmspc']);
        break;
      case 5:
        once(sgxType, [...path, 'sgxType'], oid.start);
        sgxType = uint(buf, v, DER_TAG.ENUMERATED, 2, [...path, 'sgxType']);
        break;
      case 6:
        once(platformInstanceId, [...path, 'platformInstanceId'], oid.start);
        platformInstanceId = octets(buf, v, 16, [...path, 'platformInstanceId']);
        break;
      case 7:
        once(configuration, [...path, 'configuration'], oid.start);
        configuration = parseConfiguration(buf, v, [...path, 'configuration']);
        break;
      default:
      // unknown entries are ignored (forward compatibility)
    }
  }
  if (ppid === undefined) missing([...path, 'ppid'], root.start);
  if (tcb === undefined) missing([...path, 'tcb'], root.start);
  if (pceId === undefined) missing([...path, 'pceId'], root.start);
  if (fmspc === undefined) missing([...path, 'fmspc'], root.start);
  if (sgxType === undefined) missing([...path, 'sgxType'], root.start);
  const out: PckExtensions = { ppid, ...tcb, pceId, fmspc, sgxType };
  if (platformInstanceId !== undefined) out.platformInstanceId = platformInstanceId;
  if (configuration !== undefined) out.configuration = configuration;
  return out;
}

/**
 * Finds the SGX extension's value in an X.509 certificate (DER) and returns
 * a view of it. Throws PCK_CERT_MALFORMED / PCK_EXTENSION_MISSING.
 */
export function findPckExtensionValue(certDer: Uint8Array): Buffer {
  const buf = asBuffer(certDer);
  const code: ErrorCode = 'PCK_CERT_MALFORMED';
  const cert = expectNode(buf, 0, buf.length, DER_TAG.SEQUENCE, code, ['certificate']);
  const tbs = expectNode(buf, cert.body, cert.end, DER_TAG.SEQUENCE, code, ['certificate', 'tbsCertificate']);
  for (const field of childNodes(buf, tbs, code, ['certificate', 'tbsCertificate'])) {
    if (field.tag !== 0xa3) continue; // [3] extensions
    const exts = expectNode(buf, field.body, field.end, DER_TAG.SEQUENCE, code, ['certificate', 'extensions']);
    for (const ext of childNodes(buf, exts, code, ['certificate', 'extensions'])) {
      if (ext.tag !== DER_TAG.SEQUENCE) bad(code, 'extension is not a SEQUENCE', ['certificate', 'extensions'], ext.start);
      const oid = readNode(buf, ext.body, ext.end, code, ['certificate', 'extensions']);
      if (!oidEquals(buf, oid, P)) continue;
      let p = oid.end;
      let n = readNode(buf, p, ext.end, code, ['certificate', 'extensions']);
      if (n.tag === DER_TAG.BOOLEAN) {
        p = n.end;
        n = readNode(buf, p, ext.end, code, ['certificate', 'extensions']);
      }
      if (n.tag !== DER_TAG.OCTET_STRING) bad(code, 'extension value is not an OCTET STRING', ['certificate', 'extensions'], n.start);
      return buf.subarray(n.body, n.end);
    }
  }
  throw new KubeSgxError('PCK_EXTENSION_MISSING', `certificate has no SGX extension (${SGX_EXTENSION_OID})`, { path: EXT_PATH });
}

/** Parses the SGX extensions of a PCK certificate (DER). */
export function parsePckExtensions(certDer: Uint8Array): PckExtensions {
  return parsePckExtensionValue(findPckExtensionValue(certDer));
}

// ---- encoder ----

function entry(oid: string, value: Uint8Array): Buffer {
  return derSequence([derOid(oid), value]);
}

function checkBytes(v: Uint8Array | undefined, size: number, name: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== size) {
    throw new KubeSgxError('ENCODE_BAD_FIELD', `sgxExtensions.${name}: expected ${size} bytes`, { path: [...EXT_PATH, name] });
  }
  return v;
}

function checkInt(v: number, max: number, name: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new KubeSgxError('ENCODE_BAD_FIELD', `sgxExtensions.${name}: expected an integer 0–${max}`, { path: [...EXT_PATH, name] });
  }
  return v;
}

/**
 * DER of the SGX extension value (to put in an OCTET STRING under OID
 * 1.2.840.113741.1.13.1), in Intel's field order.
 */
export function encodePckExtensionValue(ext: PckExtensions): Uint8Array {
  const P_ = SGX_EXTENSION_OID;
  if (typeof ext !== 'object' || ext === null) {
    throw new KubeSgxError('ENCODE_BAD_FIELD', 'sgxExtensions: expected an object', { path: EXT_PATH });
  }
  if (!Array.isArray(ext.tcbComponents) || ext.tcbComponents.length !== 16) {
    throw new KubeSgxError('ENCODE_BAD_FIELD', 'sgxExtensions.tcbComponents: expected 16 SVNs', { path: [...EXT_PATH, 'tcbComponents'] });
  }
  const tcb = ext.tcbComponents.map((svn, i) => entry(`${P_}.2.${i + 1}`, derUint(checkInt(svn, 255, `tcbComponents.${i}`))));
  tcb.push(entry(`${P_}.2.17`, derUint(checkInt(ext.pceSvn, 0xffff, 'pceSvn'))));
  tcb.push(entry(`${P_}.2.18`, derTlv(DER_TAG.OCTET_STRING, checkBytes(ext.cpuSvn, 16, 'cpuSvn'))));
  const items = [
    entry(`${P_}.1`, derTlv(DER_TAG.OCTET_STRING, checkBytes(ext.ppid, 16, 'ppid'))),
    entry(`${P_}.2`, derSequence(tcb)),
    entry(`${P_}.3`, derTlv(DER_TAG.OCTET_STRING, checkBytes(ext.pceId, 2, 'pceId'))),
    entry(`${P_}.4`, derTlv(DER_TAG.OCTET_STRING, checkBytes(ext.fmspc, 6, 'fmspc'))),
    entry(`${P_}.5`, derUint(checkInt(ext.sgxType, 2, 'sgxType'), DER_TAG.ENUMERATED)),
  ];
  if (ext.platformInstanceId !== undefined) {
    items.push(entry(`${P_}.6`, derTlv(DER_TAG.OCTET_STRING, checkBytes(ext.platformInstanceId, 16, 'platformInstanceId'))));
  }
  if (ext.configuration !== undefined) {
    const c = ext.configuration;
    if (typeof c !== 'object' || c === null) {
      throw new KubeSgxError('ENCODE_BAD_FIELD', 'sgxExtensions.configuration: expected an object', { path: [...EXT_PATH, 'configuration'] });
    }
    for (const k of ['dynamicPlatform', 'cachedKeys', 'smtEnabled'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'boolean') {
        throw new KubeSgxError('ENCODE_BAD_FIELD', `sgxExtensions.configuration.${k}: expected a boolean`, { path: [...EXT_PATH, 'configuration', k] });
      }
    }
    const flags: Buffer[] = [];
    if (c.dynamicPlatform !== undefined) flags.push(entry(`${P_}.7.1`, derBoolean(c.dynamicPlatform)));
    if (c.cachedKeys !== undefined) flags.push(entry(`${P_}.7.2`, derBoolean(c.cachedKeys)));
    if (c.smtEnabled !== undefined) flags.push(entry(`${P_}.7.3`, derBoolean(c.smtEnabled)));
    items.push(entry(`${P_}.7`, derSequence(flags)));
  }
  return derSequence(items);
}
