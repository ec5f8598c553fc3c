/**
 * Encryption at rest. Secret values and the signing private key are sealed
 * with AES-256-GCM under a key-encryption key (KEK) before they reach any
 * store; the associated data binds each ciphertext to its purpose and name,
 * so a sealed value cannot be moved to another record. Envelope (base64):
 * 0x01 ‖ iv(12) ‖ tag(16) ‖ ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { KubeSgxError } from '../errors.js';

const VERSION = 1;

export class Vault {
  private readonly kek: Buffer;

  constructor(kek: Uint8Array) {
    if (kek.length !== 32) throw new KubeSgxError('KEK_INVALID', `the KEK must be 32 bytes, got ${kek.length}`);
    this.kek = Buffer.from(kek);
  }

  seal(plaintext: Uint8Array, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.kek, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, c.getAuthTag(), ct]).toString('base64');
  }

  open(sealed: string, context: string): Uint8Array {
    const buf = Buffer.from(sealed, 'base64');
    if (buf.length < 29 || buf[0] !== VERSION) throw new KubeSgxError('SEALED_VALUE_INVALID', `sealed value for ${context} is malformed`);
    try {
      const d = createDecipheriv('aes-256-gcm', this.kek, buf.subarray(1, 13));
      d.setAAD(Buffer.from(context, 'utf8'));
      d.setAuthTag(buf.subarray(13, 29));
      return new Uint8Array(Buffer.concat([d.update(buf.subarray(29)), d.final()]));
    } catch (e) {
      // Wrong KEK or tampered record: never fall back to anything.
      throw new KubeSgxError('SEALED_VALUE_INVALID', `cannot unseal ${context}: wrong KEK or tampered data`, { cause: e });
    }
  }
}

/** Parses a KEK given as 32 raw bytes, 64 hex characters or base64 of 32 bytes. */
export function parseKek(raw: Uint8Array | string, source: string): Uint8Array {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw);
  if (bytes.length === 32 && typeof raw !== 'string') return new Uint8Array(bytes);
  const text = bytes.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const b = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === 32) return new Uint8Array(b);
  }
  if (bytes.length === 32) return new Uint8Array(bytes);
  throw new KubeSgxError('KEK_INVALID', `${source}: expected 32 raw bytes, 64 hex characters or base64 of 32 bytes`);
}

export interface KekSource {
  kekFile?: string;
  /** Environment to read KUBE_SGX_KEK from (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where to create a KEK file when none is given (--data-dir/kek). */
  generatedPath?: string;
}

/**
 * KEK precedence: --kek-file, then $KUBE_SGX_KEK, then a generated file in
 * the data directory (created 0600 on first start), else an ephemeral key
 * (in-memory stores only: nothing persists anyway).
 */
export function loadKek(src: KekSource): { kek: Uint8Array; origin: string } {
  if (src.kekFile) {
    let raw: Buffer;
    try {
      raw = readFileSync(src.kekFile);
    } catch (e) {
      throw new KubeSgxError('KEK_INVALID', `cannot read --kek-file ${src.kekFile}: ${(e as Error).message}`, { cause: e });
    }
    return { kek: parseKek(raw, src.kekFile), origin: `file:${src.kekFile}` };
  }
  const env = (src.env ?? process.env).KUBE_SGX_KEK;
  if (env) return { kek: parseKek(env, 'KUBE_SGX_KEK'), origin: 'env:KUBE_SGX_KEK' };
  if (src.generatedPath) {
    if (!existsSync(src.generatedPath)) {
      writeFileSync(src.generatedPath, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    }
    return { kek: parseKek(readFileSync(src.generatedPath), src.generatedPath), origin: `generated:${src.generatedPath}` };
  }
  return { kek: new Uint8Array(randomBytes(32)), origin: 'ephemeral' };
}
