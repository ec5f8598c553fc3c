import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH, createPublicKey, verify } from 'node:crypto';
import { signP256Deterministic } from '../../src/sim/ecdsa-deterministic.js';

// RFC 6979 A.2.5: ECDSA, 256 bits (prime field), key pair and "sample" / "test" with SHA-256.
const X = Buffer.from('C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721', 'hex');
const VECTORS = [
  ['sample', 'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716', 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8'],
  ['test', 'F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367', '019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083'],
] as const;

describe('deterministic ECDSA P-256 (RFC 6979)', () => {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(X);
  const pub = ecdh.getPublicKey();
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') }, format: 'jwk' });

  for (const [msg, r, s] of VECTORS) {
    test(`RFC 6979 A.2.5 SHA-256, message "${msg}"`, () => {
      const sig = signP256Deterministic(X, Buffer.from(msg));
      assert.equal(sig.toString('hex').toUpperCase(), r + s);
      assert.equal(verify('sha256', Buffer.from(msg), { key, dsaEncoding: 'ieee-p1363' }, sig), true);
    });
  }
});
