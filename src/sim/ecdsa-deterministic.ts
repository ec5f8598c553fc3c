/**
 * Deterministic ECDSA P-256 / SHA-256 (RFC 6979 §3.2 nonces), used only to
 * sign the certificates of a seeded platform: with the same seed every
 * machine then produces byte-identical certificates, so one root-ca.pem is
 * trusted for all of them (trust is by the root's DER fingerprint, which
 * covers its signature). Node's ECDSA nonces are random and cannot be fixed.
 *
 * k·G is computed by Node's ECDH (k as a private key, G·k as its public key);
 * the rest is scalar arithmetic mod n with BigInt. Not constant-time: this
 * signs a handful of certificates at platform creation, never on a hot path.
 */
import { createECDH, createHash, createHmac, webcrypto } from 'node:crypto';

const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const QLEN = 32;

const toBig = (b: Uint8Array) => BigInt('0x' + (Buffer.from(b).toString('hex') || '0'));
const toBytes = (x: bigint) => Buffer.from(x.toString(16).padStart(QLEN * 2, '0'), 'hex');
const mod = (a: bigint) => ((a % N) + N) % N;

function modInverse(a: bigint): bigint {
  // Fermat: a^(n-2) mod n (n is prime)
  let result = 1n;
  let base = mod(a);
  let e = N - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % N;
    base = (base * base) % N;
    e >>= 1n;
  }
  return result;
}

/** bits2octets(h) of RFC 6979 for qlen = hlen = 256. */
const bits2octets = (h: Buffer) => toBytes(mod(toBig(h)));

/** RFC 6979 §3.2 nonce candidates for private key `d` and message hash `h1`. */
function* nonces(d: bigint, h1: Buffer): Generator<bigint> {
  const x = toBytes(d);
  let v = Buffer.alloc(32, 0x01);
  let k = Buffer.alloc(32, 0x00);
  const hmac = (key: Buffer, ...parts: Buffer[]) => {
    const m = createHmac('sha256', key);
    for (const p of parts) m.update(p);
    return m.digest();
  };
  const h = bits2octets(h1);
  k = hmac(k, v, Buffer.from([0x00]), x, h);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.from([0x01]), x, h);
  v = hmac(k, v);
  for (;;) {
    v = hmac(k, v);
    const candidate = toBig(v);
    if (candidate >= 1n && candidate < N) yield candidate;
    k = hmac(k, v, Buffer.from([0x00]));
    v = hmac(k, v);
  }
}

/** Deterministic signature (raw r‖s, 64 bytes) of `data` with private scalar `d` (32 bytes). */
export function signP256Deterministic(dBytes: Uint8Array, data: Uint8Array): Buffer {
  const d = toBig(dBytes);
  const h1 = createHash('sha256').update(data).digest();
  const e = mod(toBig(h1));
  for (const k of nonces(d, h1)) {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(toBytes(k));
    const r = mod(toBig(ecdh.getPublicKey().subarray(1, 33)));
    if (r === 0n) continue;
    const s = mod(modInverse(k) * (e + r * d));
    if (s === 0n) continue;
    return Buffer.concat([toBytes(r), toBytes(s)]);
  }
  throw new Error('unreachable');
}

type Subtle = typeof webcrypto.subtle;

/**
 * Node's WebCrypto with ECDSA P-256/SHA-256 signing made deterministic (keys
 * must be extractable); every other operation is Node's own.
 */
export function deterministicWebCrypto(): typeof webcrypto {
  const subtle = webcrypto.subtle;
  const sign: Subtle['sign'] = async (algorithm, key, data) => {
    const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
    const hash = typeof algorithm === 'object' && 'hash' in algorithm ? algorithm.hash : undefined;
    const hashName = typeof hash === 'string' ? hash : hash?.name;
    if (name.toUpperCase() !== 'ECDSA' || hashName?.toUpperCase() !== 'SHA-256') return subtle.sign(algorithm, key, data);
    const jwk = await subtle.exportKey('jwk', key);
    if (jwk.crv !== 'P-256' || typeof jwk.d !== 'string') return subtle.sign(algorithm, key, data);
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    const sig = signP256Deterministic(Buffer.from(jwk.d, 'base64url'), bytes);
    return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer;
  };
  const proxied = new Proxy(subtle, {
    get(target, prop) {
      if (prop === 'sign') return sign;
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return new Proxy(webcrypto, {
    get(target, prop) {
      if (prop === 'subtle') return proxied;
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
