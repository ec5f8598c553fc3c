/**
 * Secret release, after Trustee's KBS protocol (RCAR): challenge → attest →
 * resource.
 *
 * Binding (Trustee's SGX rule): REPORTDATA = SHA-384 of the RFC 8785
 * canonical JSON {"additional-evidence": <string>, "nonce": <nonce>,
 * "tee-pubkey": <JWK>}, zero-padded to 64 bytes. The nonce makes the quote
 * fresh and single-use; the public key makes the released secret readable
 * only by the enclave that produced the quote.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FlattenedEncrypt, importJWK, type FlattenedJWE, type JWK } from 'jose';
import { KubeSgxError } from '../errors.js';

export const KBS_PROTOCOL_VERSION = '0.4.0';
export const CHALLENGE_TTL_MS = 5 * 60_000;
export const KBS_TOKEN_LIFETIME_S = 5 * 60;

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
export function kbsReportData(nonce: string, teePubkey: TeePublicKey, additionalEvidence = ''): Uint8Array {
  const digest = createHash('sha384').update(canonicalJson({ 'additional-evidence': additionalEvidence, nonce, 'tee-pubkey': teePubkey })).digest();
  const out = new Uint8Array(64);
  out.set(digest, 0);
  return out;
}

export function newNonce(): string {
  return randomBytes(32).toString('base64');
}

export type TeePublicKey =
  | { kty: 'RSA'; alg: 'RSA-OAEP-256'; n: string; e: string }
  | { kty: 'EC'; alg: 'ECDH-ES+A256KW'; crv: 'P-256' | 'P-384' | 'P-521'; x: string; y: string };

const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Validates the enclave's ephemeral public key (public members only; key
 * sizes that matter) and returns its normalised form (for encryption). The
 * report-data binding hashes the JWK exactly as the client sent it.
 */
export async function parseTeePublicKey(v: unknown): Promise<TeePublicKey> {
  const bad = (m: string): never => {
    throw new KubeSgxError('INVALID_REQUEST', `runtime-data.tee-pubkey: ${m}`, { path: ['runtime-data', 'tee-pubkey'] });
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('must be a JWK object');
  const k = v as Record<string, unknown>;
  if ('d' in k || 'p' in k || 'q' in k) bad('contains private key material');
  let key: TeePublicKey;
  if (k.kty === 'RSA') {
    if (typeof k.n !== 'string' || !B64URL.test(k.n) || typeof k.e !== 'string' || !B64URL.test(k.e)) bad('RSA keys need base64url n and e');
    if (Buffer.from(k.n as string, 'base64url').length < 256) bad('RSA keys must be at least 2048 bits');
    if (k.alg !== undefined && k.alg !== 'RSA-OAEP-256') bad('alg for RSA keys must be RSA-OAEP-256');
    key = { kty: 'RSA', alg: 'RSA-OAEP-256', n: k.n as string, e: k.e as string };
  } else if (k.kty === 'EC') {
    if (k.crv !== 'P-256' && k.crv !== 'P-384' && k.crv !== 'P-521') bad('EC keys must use P-256, P-384 or P-521');
    if (typeof k.x !== 'string' || !B64URL.test(k.x) || typeof k.y !== 'string' || !B64URL.test(k.y)) bad('EC keys need base64url x and y');
    if (k.alg !== undefined && k.alg !== 'ECDH-ES+A256KW') bad('alg for EC keys must be ECDH-ES+A256KW');
    key = { kty: 'EC', alg: 'ECDH-ES+A256KW', crv: k.crv as 'P-256', x: k.x as string, y: k.y as string };
  } else {
    return bad('kty must be RSA or EC');
  }
  try {
    await importJWK(key as JWK, key.alg);
  } catch (e) {
    bad(`not a valid public key (${(e as Error).message})`);
  }
  return key;
}

export interface KbsAttestBody {
  nonce: string;
  teePubkey: unknown;
  quote: unknown;
  additionalEvidence: string;
}

/** Reads Trustee's Attestation message (`runtime-data`, `tee-evidence`). */
export function parseKbsAttestBody(body: unknown): KbsAttestBody {
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KubeSgxError('INVALID_REQUEST', `${path} must be an object`, { path: [path] });
    return v as Record<string, unknown>;
  };
  const b = obj(body, 'body');
  const rd = obj(b['runtime-data'], 'runtime-data');
  if (typeof rd.nonce !== 'string' || rd.nonce === '') throw new KubeSgxError('INVALID_REQUEST', 'runtime-data.nonce is required', { path: ['runtime-data', 'nonce'] });
  const ev = obj(b['tee-evidence'], 'tee-evidence');
  const primary = ev.primary_evidence !== undefined ? obj(ev.primary_evidence, 'tee-evidence.primary_evidence') : ev;
  const additional = ev.additional_evidence ?? '';
  if (typeof additional !== 'string') throw new KubeSgxError('INVALID_REQUEST', 'tee-evidence.additional_evidence must be a string', { path: ['tee-evidence', 'additional_evidence'] });
  return { nonce: rd.nonce, teePubkey: rd['tee-pubkey'], quote: primary.quote, additionalEvidence: additional };
}

/** Encrypts a released secret to the enclave's key: flattened JSON JWE, A256GCM. */
export async function encryptToTeeKey(plaintext: Uint8Array, key: TeePublicKey): Promise<FlattenedJWE> {
  const pub = await importJWK(key as JWK, key.alg);
  return new FlattenedEncrypt(plaintext).setProtectedHeader({ alg: key.alg, enc: 'A256GCM' }).encrypt(pub);
}
