/**
 * Trustee's KBS protocol 0.4.0 (RCAR: Request → Challenge → Attestation →
 * Response), as confidential-containers/trustee `kbs/` serves it and
 * guest-components `attestation-agent/kbs_protocol` speaks it:
 *
 * - POST /kbs/v0/auth `{"version":"0.4.0","tee":"sgx"|"tdx","extra-params":…}`
 *   → `{"nonce": base64(32 random bytes), "extra-params": ""}` and
 *   `Set-Cookie: kbs-session-id=<32 hex>; Expires=<now + 5 min>`.
 * - POST /kbs/v0/attest (with the cookie) `{"init-data", "runtime-data":
 *   {"nonce","tee-pubkey"}, "tee-evidence": {"primary_evidence": {"quote"},
 *   "additional_evidence": ""}}` → `{"token": <JWT>}`.
 *   REPORTDATA = SHA-384(RFC 8785 JSON of {"additional-evidence", "nonce",
 *   "tee-pubkey"}) zero-padded to 64 bytes; init-data (TOML) hashes with its
 *   own `algorithm` into CONFIGID (SGX, 64 bytes) or MRCONFIGID (TDX, 48).
 * - GET /kbs/v0/resource/<repository>/<type>/<tag> (cookie or Bearer token)
 *   → a flattened JWE to the tee-pubkey.
 * - Errors: `{"type": ".../errors/<Variant>", "detail"}`, 401 except 404 for
 *   a bad path or an unknown plugin (kbs/src/error.rs).
 */
import { createCipheriv, createDecipheriv, createECDH, createHash, createPublicKey, getHashes, publicEncrypt, randomBytes, constants as cryptoConstants, type ECDH } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { statusForCode } from './problems.js';

export const KBS_PROTOCOL_VERSION = '0.4.0';
export const KBS_SESSION_COOKIE = 'kbs-session-id';
/** Trustee's default session timeout (attestation `timeout`, 5 minutes). */
export const KBS_SESSION_TTL_MS = 5 * 60_000;
export const KBS_TOKEN_LIFETIME_S = 5 * 60;
export const KBS_TEES = ['sgx', 'tdx'] as const;
export type KbsTee = (typeof KBS_TEES)[number];

/** RFC 8785 canonical JSON for the values used here (strings, numbers, booleans, objects, arrays). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new KubeSgxError('INVALID_REQUEST', 'non-finite number in canonical JSON');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** The 64 REPORTDATA bytes a KBS quote must carry. */
export function kbsReportData(nonce: string, teePubkey: unknown, additionalEvidence = ''): Uint8Array {
  const digest = createHash('sha384').update(canonicalJson({ 'additional-evidence': additionalEvidence, nonce, 'tee-pubkey': teePubkey })).digest();
  const out = new Uint8Array(64);
  out.set(digest, 0);
  return out;
}

export function newNonce(): string {
  return randomBytes(32).toString('base64');
}

/** Trustee uses a UUIDv4 in "simple" form: 32 hex digits. */
export function newSessionId(): string {
  return randomBytes(16).toString('hex');
}

/** `Set-Cookie` as Trustee's actix cookie builder writes it (name=value; Expires=IMF-fixdate). */
export function sessionCookie(id: string, expiresAt: number): string {
  return `${KBS_SESSION_COOKIE}=${id}; Expires=${new Date(expiresAt).toUTCString()}`;
}

/** The kbs-session-id from a Cookie header, if any (first occurrence). */
export function sessionIdFromCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === KBS_SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Trustee accepts exactly 0.4.0 (semver `=0.4.0`: build metadata aside). */
const VERSION_RE = /^0\.4\.0(\+[0-9A-Za-z.-]+)?$/;

/** The RCAR `Request` of POST /kbs/v0/auth. */
export function parseKbsRequest(body: unknown): { tee: KbsTee } {
  if (!isObject(body)) throw new KubeSgxError('KBS_REQUEST_INVALID', 'the Request must be a JSON object {"version", "tee", "extra-params"}');
  if (typeof body.version !== 'string') throw new KubeSgxError('KBS_REQUEST_INVALID', 'Request.version is required (the KBS protocol version, "0.4.0")', { path: ['version'] });
  if (!VERSION_RE.test(body.version)) {
    throw new KubeSgxError('KBS_PROTOCOL_VERSION_MISMATCH', `KBS Client Protocol Version Mismatch: expect =${KBS_PROTOCOL_VERSION} while the request is ${body.version}`, { path: ['version'] });
  }
  if (typeof body.tee !== 'string') throw new KubeSgxError('KBS_REQUEST_INVALID', 'Request.tee is required', { path: ['tee'] });
  if (!(KBS_TEES as readonly string[]).includes(body.tee)) {
    throw new KubeSgxError('KBS_TEE_UNSUPPORTED', `tee ${JSON.stringify(body.tee)} is not supported by kube-sgx (${KBS_TEES.join(', ')})`, { path: ['tee'] });
  }
  return { tee: body.tee as KbsTee };
}

export type TeePublicKey =
  | { kty: 'RSA'; alg: 'RSA-OAEP-256'; n: string; e: string }
  | { kty: 'EC'; alg: 'ECDH-ES+A256KW'; crv: 'P-256' | 'P-384' | 'P-521'; x: string; y: string };

const B64URL = /^[A-Za-z0-9_-]+$/;
const EC_COORD_BYTES = { 'P-256': 32, 'P-384': 48, 'P-521': 66 } as const;
const NODE_CURVE = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' } as const;

/**
 * Validates the TEE's ephemeral public key (public members only; RSA ≥ 2048
 * bits; EC points on their curve) and returns its normalised form. The
 * report-data binding hashes the JWK exactly as the client sent it.
 */
export function parseTeePublicKey(v: unknown): TeePublicKey {
  const bad = (m: string): never => {
    throw new KubeSgxError('KBS_TEE_KEY_UNSUPPORTED', `runtime-data.tee-pubkey: ${m}`, { path: ['runtime-data', 'tee-pubkey'] });
  };
  if (!isObject(v)) return bad('must be a JWK object');
  if ('d' in v || 'p' in v || 'q' in v) bad('contains private key material');
  let key: TeePublicKey;
  if (v.kty === 'RSA') {
    if (typeof v.n !== 'string' || !B64URL.test(v.n) || typeof v.e !== 'string' || !B64URL.test(v.e)) bad('RSA keys need base64url n and e');
    if (Buffer.from(v.n as string, 'base64url').length < 256) bad('RSA keys must be at least 2048 bits');
    if (v.alg !== undefined && v.alg !== 'RSA-OAEP-256') bad(`alg ${JSON.stringify(v.alg)} is not supported for RSA keys (RSA-OAEP-256)`);
    key = { kty: 'RSA', alg: 'RSA-OAEP-256', n: v.n as string, e: v.e as string };
  } else if (v.kty === 'EC') {
    if (v.crv !== 'P-256' && v.crv !== 'P-384' && v.crv !== 'P-521') bad(`curve ${JSON.stringify(v.crv)} is not supported (P-256, P-384, P-521)`);
    const crv = v.crv as keyof typeof EC_COORD_BYTES;
    if (typeof v.x !== 'string' || !B64URL.test(v.x) || typeof v.y !== 'string' || !B64URL.test(v.y)) bad('EC keys need base64url x and y');
    if (Buffer.from(v.x as string, 'base64url').length !== EC_COORD_BYTES[crv] || Buffer.from(v.y as string, 'base64url').length !== EC_COORD_BYTES[crv]) {
      bad(`${crv} coordinates are ${EC_COORD_BYTES[crv]} bytes each`);
    }
    if (v.alg !== undefined && v.alg !== 'ECDH-ES+A256KW') bad(`alg ${JSON.stringify(v.alg)} is not supported for EC keys (ECDH-ES+A256KW)`);
    key = { kty: 'EC', alg: 'ECDH-ES+A256KW', crv, x: v.x as string, y: v.y as string };
  } else {
    return bad(`kty ${JSON.stringify(v.kty)} is not supported (RSA, EC)`);
  }
  try {
    createPublicKey({ key: key.kty === 'RSA' ? { kty: 'RSA', n: key.n, e: key.e } : { kty: 'EC', crv: key.crv, x: key.x, y: key.y }, format: 'jwk' });
  } catch (e) {
    bad(`not a valid public key (${(e as Error).message})`);
  }
  return key;
}

export interface KbsInitData {
  format: string;
  body: string;
}

export interface KbsAttestation {
  initData: KbsInitData | undefined;
  nonce: string;
  /** As sent (the binding hashes it as sent). */
  teePubkeyRaw: unknown;
  teePubkey: TeePublicKey;
  quote: unknown;
  additionalEvidence: string;
}

/** Trustee's `Attestation` message. */
export function parseKbsAttestation(body: unknown): KbsAttestation {
  const obj = (v: unknown, path: string[]): Record<string, unknown> => {
    if (!isObject(v)) throw new KubeSgxError('KBS_REQUEST_INVALID', `${path.join('.')} must be an object`, { path });
    return v;
  };
  const b = obj(body, ['attestation']);
  const rd = obj(b['runtime-data'], ['runtime-data']);
  if (typeof rd.nonce !== 'string' || rd.nonce === '') throw new KubeSgxError('KBS_REQUEST_INVALID', 'runtime-data.nonce is required', { path: ['runtime-data', 'nonce'] });
  const teePubkey = parseTeePublicKey(rd['tee-pubkey']);
  const ev = obj(b['tee-evidence'], ['tee-evidence']);
  const primary = obj(ev.primary_evidence, ['tee-evidence', 'primary_evidence']);
  const additional = ev.additional_evidence ?? '';
  if (typeof additional !== 'string') throw new KubeSgxError('KBS_REQUEST_INVALID', 'tee-evidence.additional_evidence must be a string', { path: ['tee-evidence', 'additional_evidence'] });
  let initData: KbsInitData | undefined;
  if (b['init-data'] !== undefined && b['init-data'] !== null) {
    const i = obj(b['init-data'], ['init-data']);
    if (typeof i.format !== 'string' || typeof i.body !== 'string') throw new KubeSgxError('KBS_REQUEST_INVALID', 'init-data must be {"format": string, "body": string}', { path: ['init-data'] });
    initData = { format: i.format, body: i.body };
  }
  return { initData, nonce: rd.nonce, teePubkeyRaw: rd['tee-pubkey'], teePubkey, quote: primary.quote, additionalEvidence: additional };
}

/** The hash names Trustee's Initdata `algorithm` takes (kbs-types HashAlgorithm, serde lowercase). */
const INIT_DATA_HASHES: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512', sm3: 'sm3' };

/**
 * The init-data digest: the `algorithm` named in the TOML document, over the
 * whole body as sent (Trustee's attestation-service `parse_init_data`). Only
 * the top-level `algorithm` and `version` keys are read; the body itself is
 * what gets hashed, so nothing is lost by not parsing the `[data]` table.
 */
export function initDataDigest(initData: KbsInitData): { algorithm: string; digest: Buffer } {
  const bad = (m: string): never => {
    throw new KubeSgxError('INIT_DATA_INVALID', `init-data: ${m}`, { path: ['init-data'] });
  };
  if (initData.format !== 'toml') bad(`format ${JSON.stringify(initData.format)} is not supported (toml)`);
  const top: Record<string, string> = {};
  for (const line of initData.body.split(/\r?\n/)) {
    const t = line.trim();
    if (t.startsWith('[')) break;
    const m = /^([A-Za-z0-9_-]+)\s*=\s*"([^"\\]*)"\s*(#.*)?$/.exec(t) ?? /^([A-Za-z0-9_-]+)\s*=\s*'([^']*)'\s*(#.*)?$/.exec(t);
    if (m) top[m[1]!] = m[2]!;
  }
  const algorithm = top.algorithm;
  if (algorithm === undefined) return bad('the TOML body has no top-level algorithm = "sha256" | "sha384" | "sha512"');
  const hash = Object.hasOwn(INIT_DATA_HASHES, algorithm) ? INIT_DATA_HASHES[algorithm]! : undefined;
  if (hash === undefined || !getHashes().includes(hash)) return bad(`algorithm ${JSON.stringify(algorithm)} is not supported (sha256, sha384, sha512)`);
  if (top.version === undefined) bad('the TOML body has no top-level version');
  return { algorithm, digest: createHash(hash).update(initData.body, 'utf8').digest() };
}

/** Trustee's `regularize_data`: zero-pad or truncate to the field's length. */
export function regularize(data: Uint8Array, len: number): Buffer {
  const out = Buffer.alloc(len);
  out.set(data.subarray(0, len));
  return out;
}

/** `<repository>/<type>/<tag>`, each part as Trustee's ResourceDesc allows it. */
const RESOURCE_PART = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

export function parseResourcePath(path: string): string {
  const parts = path.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw new KubeSgxError('KBS_RESOURCE_PATH_INVALID', `resource path ${JSON.stringify(path)} must be <repository>/<type>/<tag> (three non-empty parts)`, { path: ['resource'] });
  }
  for (const p of parts) {
    if (!RESOURCE_PART.test(p) || p.length > 128) {
      throw new KubeSgxError('KBS_RESOURCE_PATH_INVALID', `resource path part ${JSON.stringify(p)} is not allowed ([A-Za-z0-9_-] then [A-Za-z0-9_.-], at most 128; no "." or ".." parts)`, { path: ['resource'] });
    }
  }
  return path;
}

/** Trustee's `kbs_types::Response`: a flattened JWE without `aad`. */
export interface KbsJwe {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

/** RFC 7518 §4.6.2 Concat KDF (SHA-256, empty PartyUInfo/PartyVInfo) for one 256-bit key. */
export function concatKdf(z: Buffer, alg: string): Buffer {
  const algId = Buffer.from(alg, 'ascii');
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return createHash('sha256').update(Buffer.concat([u32(1), z, u32(algId.length), algId, u32(0), u32(0), u32(256)])).digest();
}

/**
 * Encrypts a released secret to the TEE key: CEK wrapped by ECDH-ES+A256KW
 * or RSA-OAEP-256, content A256GCM with AAD = ASCII(protected) (RFC 7516
 * §5.1). The protected header is written as kbs-types re-serialises it
 * (`alg`, `enc`, then `epk` with `crv`, `kty`, `x`, `y`), because Trustee's
 * client recomputes the AAD from its parsed header, not from the string sent.
 */
export function encryptToTeeKey(plaintext: Uint8Array, key: TeePublicKey): KbsJwe {
  const cek = randomBytes(32);
  let header: Record<string, unknown>;
  let encryptedKey: Buffer;
  if (key.kty === 'RSA') {
    header = { alg: 'RSA-OAEP-256', enc: 'A256GCM' };
    const pub = createPublicKey({ key: { kty: 'RSA', n: key.n, e: key.e }, format: 'jwk' });
    encryptedKey = publicEncrypt({ key: pub, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  } else {
    const ecdh = createECDH(NODE_CURVE[key.crv]);
    const epk = ecdh.generateKeys();
    const n = EC_COORD_BYTES[key.crv];
    const peer = Buffer.concat([Buffer.from([4]), Buffer.from(key.x, 'base64url'), Buffer.from(key.y, 'base64url')]);
    const z = ecdh.computeSecret(peer);
    const kek = concatKdf(z, 'ECDH-ES+A256KW');
    const wrap = createCipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    encryptedKey = Buffer.concat([wrap.update(cek), wrap.final()]);
    header = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', epk: { crv: key.crv, kty: 'EC', x: epk.subarray(1, 1 + n).toString('base64url'), y: epk.subarray(1 + n).toString('base64url') } };
  }
  const protectedB64 = Buffer.from(JSON.stringify(header)).toString('base64url');
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  return { protected: protectedB64, encrypted_key: encryptedKey.toString('base64url'), iv: iv.toString('base64url'), ciphertext: ciphertext.toString('base64url'), tag: gcm.getAuthTag().toString('base64url') };
}

/**
 * The TEE side of encryptToTeeKey: opens a Trustee-style JWE with the
 * ephemeral key pair of the attestation (ECDH-ES+A256KW on the key's curve).
 * AAD = ASCII(protected) as received (RFC 7516 §5.2).
 */
export function decryptKbsJwe(jwe: KbsJwe, ecdh: ECDH): Buffer {
  const header = JSON.parse(Buffer.from(jwe.protected, 'base64url').toString('utf8')) as { alg?: string; enc?: string; epk?: { x?: string; y?: string } };
  if (header.alg !== 'ECDH-ES+A256KW' || header.enc !== 'A256GCM' || typeof header.epk?.x !== 'string' || typeof header.epk.y !== 'string') {
    throw new KubeSgxError('KBS_JWE_INVALID', `the JWE uses ${String(header.alg)}/${String(header.enc)}; this client takes ECDH-ES+A256KW/A256GCM with an epk`);
  }
  const z = ecdh.computeSecret(Buffer.concat([Buffer.from([4]), Buffer.from(header.epk.x, 'base64url'), Buffer.from(header.epk.y, 'base64url')]));
  const unwrap = createDecipheriv('id-aes256-wrap', concatKdf(z, 'ECDH-ES+A256KW'), Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
  const cek = Buffer.concat([unwrap.update(Buffer.from(jwe.encrypted_key, 'base64url')), unwrap.final()]);
  const gcm = createDecipheriv('aes-256-gcm', cek, Buffer.from(jwe.iv, 'base64url'));
  gcm.setAAD(Buffer.from(jwe.protected, 'ascii'));
  gcm.setAuthTag(Buffer.from(jwe.tag, 'base64url'));
  return Buffer.concat([gcm.update(Buffer.from(jwe.ciphertext, 'base64url')), gcm.final()]);
}

/** The error type prefix of Trustee's kbs/src/error.rs. */
export const KBS_ERROR_TYPE_PREFIX = 'https://github.com/confidential-containers/kbs/errors/';

/** Our codes that Trustee reports with a variant of their own (the rest follow the endpoint). */
const KBS_VARIANT: Record<string, string> = {
  TOKEN_NOT_FOUND: 'TokenNotFound',
  KBS_COOKIE_MISSING: 'TokenNotFound',
  KBS_SESSION_UNKNOWN: 'TokenNotFound',
  KBS_SESSION_EXPIRED: 'TokenNotFound',
  KBS_SESSION_NOT_ATTESTED: 'TokenNotFound',
  TOKEN_INVALID: 'TokenVerifierError',
  SECRET_RELEASE_DENIED: 'PolicyDeny',
  KBS_TEE_KEY_UNSUPPORTED: 'JweError',
  KBS_RESOURCE_PATH_INVALID: 'InvalidRequestPath',
  INVALID_REQUEST: 'InvalidRequestPath',
  NOT_FOUND: 'PluginNotFound',
  SECRET_NOT_FOUND: 'PluginInternalError',
};

/** Statuses kept from our own table: limits, client aborts and our own faults (never a 401 for those). */
const KEEP_STATUS = new Set(['RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'CLIENT_CLOSED_REQUEST', 'INTERNAL', 'STORE_UNAVAILABLE', 'COLLATERAL_UNAVAILABLE', 'SHUTTING_DOWN']);

export interface KbsErrorDocument {
  type: string;
  detail: string;
  /** kube-sgx's code (an RFC 7807 extension member; Trustee's clients read only type and detail). */
  code: string;
  path?: ReadonlyArray<string | number>;
}

/**
 * An error on a /kbs/v0 route as Trustee reports it: 404 for a bad path or an
 * unknown plugin, 401 for everything else (its clients re-run the handshake on
 * 401), except limits and our own faults, which keep their status.
 */
export function toKbsError(err: KubeSgxError, path: string): { status: number; doc: KbsErrorDocument } {
  const endpoint = path.slice('/kbs/v0/'.length).split('/')[0];
  const handshake = endpoint === 'auth' || endpoint === 'attest';
  let variant = Object.hasOwn(KBS_VARIANT, err.code) ? KBS_VARIANT[err.code]! : handshake ? 'AttestationError' : 'PluginInternalError';
  // At attest an unusable key is the Attestation message's fault; at resource it is the JWE's.
  if (handshake && variant !== 'PluginNotFound') variant = 'AttestationError';
  const status = KEEP_STATUS.has(err.code) ? statusForCode(err.code) : variant === 'InvalidRequestPath' || variant === 'PluginNotFound' ? 404 : 401;
  const stage = endpoint === 'auth' ? 'RCAR handshake Auth failed: ' : endpoint === 'attest' ? 'RCAR handshake Attest failed: ' : '';
  const message = err.code === 'INTERNAL' ? 'internal error' : err.message;
  const detail = variant === 'AttestationError' ? `Attestation error: ${stage}${message}` : message;
  const doc: KbsErrorDocument = { type: KBS_ERROR_TYPE_PREFIX + variant, detail, code: err.code };
  if (err.path.length > 0) doc.path = err.path;
  return { status, doc };
}
