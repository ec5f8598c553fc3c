import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Cmac, aesCmac } from '../../src/sim/cmac.js';
import { KubeSgxError } from '../../src/errors.js';

// RFC 4493 §4, AES-128 key and the four examples (0, 16, 40, 64 bytes).
const KEY = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
const M = Buffer.from(
  '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
  'hex',
);
const VECTORS: Array<[number, string]> = [
  [0, 'bb1d6929e95937287fa37d129b756746'],
  [16, '070a16b46b4d4144f79bdd9dd04a287c'],
  [40, 'dfa66747de9ae63030ca32611497c827'],
  [64, '51f0bebf7e3b9d92fc49741779363cfe'],
];

describe('AES-128-CMAC (RFC 4493)', () => {
  for (const [len, tag] of VECTORS) {
    test(`example with Mlen = ${len}`, () => {
      assert.equal(aesCmac(KEY, M.subarray(0, len)).toString('hex'), tag);
      const c = new Cmac(KEY);
      assert.equal(c.verify(M.subarray(0, len), Buffer.from(tag, 'hex')), true);
    });
  }

  test('verify rejects a changed message, a changed tag and a short tag', () => {
    const c = new Cmac(KEY);
    const tag = Buffer.from(VECTORS[3][1], 'hex');
    const m = Buffer.from(M);
    m[63] ^= 1;
    assert.equal(c.verify(m, tag), false);
    const t = Buffer.from(tag);
    t[0] ^= 0x80;
    assert.equal(c.verify(M, t), false);
    assert.equal(c.verify(M, tag.subarray(0, 15)), false);
  });

  test('keys must be 16 bytes', () => {
    assert.throws(() => new Cmac(Buffer.alloc(32)), (e: unknown) => e instanceof KubeSgxError && e.code === 'SIM_BAD_KEY');
  });
});
