/**
 * SIGSTRUCT (1808 bytes): the enclave author's signature over MRENCLAVE and
 * the enclave's attributes, checked by EINIT. RSA-3072 with public exponent
 * 3, PKCS#1 v1.5 / SHA-256 over bytes [0,128) ‖ [900,1028), all big numbers
 * stored little-endian, plus Q1 = ⌊S²/N⌋ and Q2 = ⌊S·(S² mod N)/N⌋ that let
 * the CPU check the signature without a division. MRSIGNER is SHA-256 of the
 * modulus bytes exactly as stored (little-endian).
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { KubeSgxError, type ErrorCode } from '../errors.js';
import { SGX_ATTRIBUTE_FLAGS } from '../sgx/constants.js';

export const SIGSTRUCT_SIZE = 1808;
export const SIGSTRUCT_HEADER = Buffer.from('06000000e100000000000100', 'hex');
export const SIGSTRUCT_HEADER2 = Buffer.from('01010000600000006000000001000000', 'hex');
const RSA_BYTES = 384;
/** TYPE bit 31: the SDK's marker for a debug-signed enclave. */
export const SIGSTRUCT_TYPE_DEBUG = 0x80000000;

const OFF = {
  HEADER: 0,
  TYPE: 12,
  VENDOR: 16,
  DATE: 20,
  HEADER2: 24,
  SWDEFINED: 40,
  MODULUS: 128,
  EXPONENT: 512,
  SIGNATURE: 516,
  MISCSELECT: 900,
  MISCMASK: 904,
  ISVFAMILYID: 912,
  ATTRIBUTES: 928,
  ATTRIBUTEMASK: 944,
  ENCLAVEHASH: 960,
  ISVEXTPRODID: 1008,
  ISVPRODID: 1024,
  ISVSVN: 1026,
  Q1: 1040,
  Q2: 1424,
} as const;

export interface Sigstruct {
  type: number;
  vendor: number;
  /** YYYYMMDD as the BCD-decoded string, e.g. "20261129" */
  date: string;
  swDefined: number;
  /** 384 bytes, little-endian as stored */
  modulus: Buffer;
  exponent: number;
  /** 384 bytes, little-endian */
  signature: Buffer;
  miscSelect: number;
  miscMask: number;
  isvFamilyId: Buffer;
  attributes: { flags: bigint; xfrm: bigint };
  attributeMask: { flags: bigint; xfrm: bigint };
  /** MRENCLAVE */
  enclaveHash: Buffer;
  isvExtProdId: Buffer;
  isvProdId: number;
  isvSvn: number;
  q1: Buffer;
  q2: Buffer;
  /** SHA-256 of `modulus` as stored */
  mrSigner: Buffer;
  debug: boolean;
  /** the 256 signed bytes: [0,128) ‖ [900,1028) */
  signedBytes: Buffer;
}

function fail(code: ErrorCode, message: string, path: string, offset?: number): never {
  throw new KubeSgxError(code, `sigstruct.${path}: ${message}`, { path: ['sigstruct', path], ...(offset !== undefined ? { offset } : {}) });
}

const leToBig = (b: Uint8Array): bigint => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'));
function bigToLe(n: bigint, size: number): Buffer {
  const hex = n.toString(16).padStart(size * 2, '0');
  if (hex.length > size * 2) throw new KubeSgxError('SIGSTRUCT_BAD_FIELD', `value does not fit in ${size} bytes`);
  return Buffer.from(hex, 'hex').reverse();
}

function bcdDate(d: Date): number {
  const s = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
  return Number.parseInt(s, 16);
}

/** The 256 bytes the signature covers. */
export function sigstructSignedBytes(s: Uint8Array): Buffer {
  return Buffer.concat([s.subarray(0, 128), s.subarray(OFF.MISCSELECT, OFF.ISVSVN + 2)]);
}

/** Parses a SIGSTRUCT and checks its fixed fields (headers, exponent 3, BCD date). Does not check the signature. */
export function parseSigstruct(bytes: Uint8Array): Sigstruct {
  if (bytes.length !== SIGSTRUCT_SIZE) fail('SIGSTRUCT_BAD_SIZE', `expected ${SIGSTRUCT_SIZE} bytes, got ${bytes.length}`, 'size', Math.min(bytes.length, SIGSTRUCT_SIZE));
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!b.subarray(0, 12).equals(SIGSTRUCT_HEADER)) fail('SIGSTRUCT_BAD_FIELD', `expected ${SIGSTRUCT_HEADER.toString('hex')}`, 'header', 0);
  if (!b.subarray(24, 40).equals(SIGSTRUCT_HEADER2)) fail('SIGSTRUCT_BAD_FIELD', `expected ${SIGSTRUCT_HEADER2.toString('hex')}`, 'header2', 24);
  const vendor = b.readUInt32LE(OFF.VENDOR);
  if (vendor !== 0 && vendor !== 0x8086) fail('SIGSTRUCT_BAD_FIELD', `0x${vendor.toString(16)} is neither 0 nor 0x8086`, 'vendor', OFF.VENDOR);
  const exponent = b.readUInt32LE(OFF.EXPONENT);
  if (exponent !== 3) fail('SIGSTRUCT_BAD_FIELD', `must be 3, got ${exponent}`, 'exponent', OFF.EXPONENT);
  const dateHex = b.readUInt32LE(OFF.DATE).toString(16).padStart(8, '0');
  if (!/^\d{8}$/.test(dateHex)) fail('SIGSTRUCT_BAD_FIELD', `0x${dateHex} is not a BCD date`, 'date', OFF.DATE);
  const modulus = b.subarray(OFF.MODULUS, OFF.MODULUS + RSA_BYTES);
  const type = b.readUInt32LE(OFF.TYPE);
  const attributes = { flags: b.readBigUInt64LE(OFF.ATTRIBUTES), xfrm: b.readBigUInt64LE(OFF.ATTRIBUTES + 8) };
  return {
    type,
    vendor,
    date: dateHex,
    swDefined: b.readUInt32LE(OFF.SWDEFINED),
    modulus,
    exponent,
    signature: b.subarray(OFF.SIGNATURE, OFF.SIGNATURE + RSA_BYTES),
    miscSelect: b.readUInt32LE(OFF.MISCSELECT),
    miscMask: b.readUInt32LE(OFF.MISCMASK),
    isvFamilyId: b.subarray(OFF.ISVFAMILYID, OFF.ISVFAMILYID + 16),
    attributes,
    attributeMask: { flags: b.readBigUInt64LE(OFF.ATTRIBUTEMASK), xfrm: b.readBigUInt64LE(OFF.ATTRIBUTEMASK + 8) },
    enclaveHash: b.subarray(OFF.ENCLAVEHASH, OFF.ENCLAVEHASH + 32),
    isvExtProdId: b.subarray(OFF.ISVEXTPRODID, OFF.ISVEXTPRODID + 16),
    isvProdId: b.readUInt16LE(OFF.ISVPRODID),
    isvSvn: b.readUInt16LE(OFF.ISVSVN),
    q1: b.subarray(OFF.Q1, OFF.Q1 + RSA_BYTES),
    q2: b.subarray(OFF.Q2, OFF.Q2 + RSA_BYTES),
    mrSigner: createHash('sha256').update(modulus).digest(),
    debug: (type & SIGSTRUCT_TYPE_DEBUG) !== 0 || (attributes.flags & SGX_ATTRIBUTE_FLAGS.DEBUG) !== 0n,
    signedBytes: sigstructSignedBytes(b),
  };
}

/** The public key of a SIGSTRUCT's (little-endian) modulus with e = 3. */
function rsaKeyOf(modulusLe: Buffer): KeyObject {
  const n = Buffer.from(modulusLe).reverse();
  return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'Aw' }, format: 'jwk' });
}

/** Q1 and Q2 for signature S and modulus N (both little-endian). */
export function sigstructQ(signatureLe: Uint8Array, modulusLe: Uint8Array): { q1: Buffer; q2: Buffer } {
  const s = leToBig(signatureLe);
  const n = leToBig(modulusLe);
  const s2 = s * s;
  return { q1: bigToLe(s2 / n, RSA_BYTES), q2: bigToLe((s * (s2 % n)) / n, RSA_BYTES) };
}

/**
 * Parses and fully verifies a SIGSTRUCT: fixed fields, the RSA signature over
 * the signed regions and Q1/Q2. Returns the parsed structure (with MRSIGNER).
 */
export function verifySigstruct(bytes: Uint8Array): Sigstruct {
  const s = parseSigstruct(bytes);
  if (s.modulus[RSA_BYTES - 1] < 0x80) fail('SIGSTRUCT_BAD_FIELD', 'not a 3072-bit modulus', 'modulus', OFF.MODULUS);
  let key: KeyObject;
  try {
    key = rsaKeyOf(s.modulus);
  } catch (e) {
    throw new KubeSgxError('SIGSTRUCT_BAD_FIELD', 'sigstruct.modulus: not an RSA modulus', { path: ['sigstruct', 'modulus'], offset: OFF.MODULUS, cause: e });
  }
  const sigBe = Buffer.from(s.signature).reverse();
  if (!verify('sha256', s.signedBytes, key, sigBe)) fail('SIGSTRUCT_SIGNATURE_INVALID', 'RSA signature does not verify with the modulus', 'signature', OFF.SIGNATURE);
  const q = sigstructQ(s.signature, s.modulus);
  if (!q.q1.equals(s.q1)) fail('SIGSTRUCT_Q_INVALID', 'Q1 is not ⌊S²/N⌋', 'q1', OFF.Q1);
  if (!q.q2.equals(s.q2)) fail('SIGSTRUCT_Q_INVALID', 'Q2 is not ⌊S·(S² mod N)/N⌋', 'q2', OFF.Q2);
  return s;
}

export interface BuildSigstructOptions {
  mrEnclave: Uint8Array;
  /** RSA-3072 private key with public exponent 3 (PEM or KeyObject) */
  key: string | KeyObject;
  isvProdId?: number;
  isvSvn?: number;
  /**
   * Debug enclave: sets ATTRIBUTES.DEBUG and TYPE bit 31. Without it DEBUG is
   * clear and in the mask, so EINIT of a debug SECS fails (the SDK's DisableDebug).
   */
  debug?: boolean;
  /** ATTRIBUTES (default flags MODE64BIT, xfrm 0x3 x87|SSE) */
  attributes?: { flags: bigint; xfrm: bigint };
  /** ATTRIBUTEMASK (default: every flag but INIT and the reserved bits 3 and 6, DEBUG included; xfrm all ones) */
  attributeMask?: { flags: bigint; xfrm: bigint };
  miscSelect?: number;
  miscMask?: number;
  vendor?: 0 | 0x8086;
  date?: Date;
}

function u16(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new KubeSgxError('SIGSTRUCT_BAD_FIELD', `${name}: must be 0–65535, got ${v}`, { path: [name] });
  return v;
}

/** The RSA private key for SIGSTRUCT signing, checked for 3072 bits and e = 3. */
export function sigstructSigningKey(key: string | KeyObject): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPrivateKey(key) : key;
  } catch (e) {
    throw new KubeSgxError('SIGSTRUCT_BAD_KEY', 'key: not a PEM private key', { path: ['key'], cause: e });
  }
  const d = k.asymmetricKeyDetails;
  if (k.type !== 'private' || k.asymmetricKeyType !== 'rsa' || d?.modulusLength !== 3072 || d.publicExponent !== 3n) {
    throw new KubeSgxError('SIGSTRUCT_BAD_KEY', `key: SIGSTRUCT needs an RSA-3072 private key with public exponent 3 (got ${k.asymmetricKeyType} ${d?.modulusLength ?? '?'} bits, e=${d?.publicExponent ?? '?'})`, { path: ['key'] });
  }
  return k;
}

/** Builds and signs a SIGSTRUCT. */
export function buildSigstruct(opts: BuildSigstructOptions): Buffer {
  if (opts.mrEnclave.length !== 32) throw new KubeSgxError('SIGSTRUCT_BAD_FIELD', `mrEnclave: expected 32 bytes, got ${opts.mrEnclave.length}`, { path: ['mrEnclave'] });
  const key = sigstructSigningKey(opts.key);
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const modulusLe = Buffer.from(String(jwk.n), 'base64url').reverse();
  const debug = opts.debug === true;
  const DEBUG = SGX_ATTRIBUTE_FLAGS.DEBUG;
  const attributes = opts.attributes ?? { flags: SGX_ATTRIBUTE_FLAGS.MODE64BIT | (debug ? DEBUG : 0n), xfrm: 0x3n };
  // Bits 0 (INIT), 3 and 6 (reserved) are not compared by EINIT's mask in the SDK's default.
  const defaultMask = 0xffffffffffffffffn & ~0x1n & ~0x8n & ~0x40n;
  const attributeMask = opts.attributeMask ?? { flags: defaultMask, xfrm: 0xffffffffffffffffn };

  const b = Buffer.alloc(SIGSTRUCT_SIZE);
  SIGSTRUCT_HEADER.copy(b, OFF.HEADER);
  b.writeUInt32LE(debug ? SIGSTRUCT_TYPE_DEBUG : 0, OFF.TYPE);
  b.writeUInt32LE(opts.vendor ?? 0, OFF.VENDOR);
  b.writeUInt32LE(bcdDate(opts.date ?? new Date()), OFF.DATE);
  SIGSTRUCT_HEADER2.copy(b, OFF.HEADER2);
  modulusLe.copy(b, OFF.MODULUS);
  b.writeUInt32LE(3, OFF.EXPONENT);
  b.writeUInt32LE((opts.miscSelect ?? 0) >>> 0, OFF.MISCSELECT);
  b.writeUInt32LE((opts.miscMask ?? 0xffffffff) >>> 0, OFF.MISCMASK);
  b.writeBigUInt64LE(attributes.flags, OFF.ATTRIBUTES);
  b.writeBigUInt64LE(attributes.xfrm, OFF.ATTRIBUTES + 8);
  b.writeBigUInt64LE(attributeMask.flags, OFF.ATTRIBUTEMASK);
  b.writeBigUInt64LE(attributeMask.xfrm, OFF.ATTRIBUTEMASK + 8);
  Buffer.from(opts.mrEnclave).copy(b, OFF.ENCLAVEHASH);
  b.writeUInt16LE(u16('isvProdId', opts.isvProdId ?? 0), OFF.ISVPRODID);
  b.writeUInt16LE(u16('isvSvn', opts.isvSvn ?? 0), OFF.ISVSVN);

  const sigBe = sign('sha256', sigstructSignedBytes(b), key);
  const sigLe = Buffer.from(sigBe).reverse();
  sigLe.copy(b, OFF.SIGNATURE);
  const q = sigstructQ(sigLe, modulusLe);
  q.q1.copy(b, OFF.Q1);
  q.q2.copy(b, OFF.Q2);
  return b;
}

/** MRSIGNER of a SIGSTRUCT signing key: SHA-256 of its modulus, little-endian. */
export function mrSignerOfKey(key: string | KeyObject): Buffer {
  const k = createPublicKey(key);
  const n = Buffer.from(String(k.export({ format: 'jwk' }).n), 'base64url');
  const le = Buffer.alloc(RSA_BYTES);
  Buffer.from(n).reverse().copy(le);
  return createHash('sha256').update(le).digest();
}
