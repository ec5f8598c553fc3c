/**
 * Key material of a simulated platform. Every secret is derived from one
 * 32-byte master secret with HKDF-SHA256 and a label, so `--seed` gives the
 * same platform identity everywhere; without a seed the master is random.
 * P-256 private scalars are 48 HKDF bytes reduced into [1, n−1] (FIPS 186-5
 * A.2.1 style), which keeps the bias negligible.
 */
import { createECDH, createHash, createPrivateKey, createPublicKey, hkdfSync, randomBytes, sign, webcrypto, type KeyObject } from 'node:crypto';

const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const SALT = 'kube-sgx sim platform v1';

/** The master secret for a seed (deterministic) or a fresh random one. */
export function masterSecret(seed?: string): Buffer {
  if (seed === undefined) return randomBytes(32);
  return createHash('sha256').update(`kube-sgx sim seed\0${seed}`).digest();
}

/** A public fingerprint of a seed, recorded so a platform can tell it was opened with a different one. */
export function seedFingerprint(seed: string): string {
  return createHash('sha256').update(`kube-sgx sim seed fingerprint\0${seed}`).digest('hex').slice(0, 16);
}

/** `length` bytes for `label` from the master secret. */
export function derive(master: Uint8Array, label: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', master, SALT, label, length));
}

/** A P-256 private key derived for `label`. */
export function deriveP256Key(master: Uint8Array, label: string): KeyObject {
  const x = BigInt('0x' + derive(master, `p256:${label}`, 48).toString('hex'));
  const d = Buffer.from(((x % (P256_N - 1n)) + 1n).toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey(); // 04 ‖ x ‖ y
  return createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33, 65).toString('base64url') },
    format: 'jwk',
  });
}

/** A positive 20-byte certificate serial (hex) for `label`: Intel's serials are 20 bytes. */
export function deriveSerial(master: Uint8Array, label: string): string {
  const b = derive(master, `serial:${label}`, 20);
  b[0] = (b[0] & 0x7f) | 0x40; // positive, no leading zero byte
  return b.toString('hex');
}

/** Raw x‖y (64 bytes) of a P-256 key, as quotes carry attestation keys. */
export function p256PublicXY(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Buffer.concat([Buffer.from(String(jwk.x), 'base64url'), Buffer.from(String(jwk.y), 'base64url')]);
}

/** ECDSA P-256 / SHA-256 signature as raw r‖s (64 bytes): how quotes and Intel's signed JSON carry signatures. */
export function signP256Raw(data: Uint8Array, key: KeyObject): Buffer {
  return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

/** WebCrypto key pair for @peculiar/x509 (which signs with WebCrypto). */
export async function webKeyPair(key: KeyObject): Promise<webcrypto.CryptoKeyPair> {
  const algo = { name: 'ECDSA', namedCurve: 'P-256' };
  const priv = key.export({ format: 'jwk' });
  const pub = createPublicKey(key).export({ format: 'jwk' });
  const subtle = webcrypto.subtle;
  return {
    privateKey: await subtle.importKey('jwk', priv, algo, true, ['sign']),
    publicKey: await subtle.importKey('jwk', pub, algo, true, ['verify']),
  };
}

export function privateKeyPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}
