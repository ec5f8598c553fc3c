import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { buildSigstruct, mrSignerOfKey, parseSigstruct, verifySigstruct, SIGSTRUCT_SIZE } from '../../src/sim/sigstruct.js';
import { KubeSgxError } from '../../src/errors.js';

const MRENCLAVE = Buffer.from('c0ffee'.repeat(10) + 'c0ff', 'hex');
const isCode = (code: string) => (e: unknown) => e instanceof KubeSgxError && e.code === code;

describe('SIGSTRUCT', () => {
  let key: KeyObject;
  let sig: Buffer;
  before(() => {
    key = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 3 }).privateKey;
    sig = buildSigstruct({ mrEnclave: MRENCLAVE, key, isvProdId: 7, isvSvn: 3, date: new Date('2026-11-29T12:00:00Z') });
  });

  test('layout: 1808 bytes, the fixed headers, exponent 3, BCD date, fields at their offsets', () => {
    assert.equal(sig.length, SIGSTRUCT_SIZE);
    assert.equal(sig.subarray(0, 12).toString('hex'), '06000000e100000000000100');
    assert.equal(sig.subarray(24, 40).toString('hex'), '01010000600000006000000001000000');
    assert.equal(sig.readUInt32LE(20), 0x20261129);
    assert.equal(sig.readUInt32LE(512), 3);
    assert.deepEqual(sig.subarray(960, 992), MRENCLAVE);
    assert.equal(sig.readUInt16LE(1024), 7);
    assert.equal(sig.readUInt16LE(1026), 3);
  });

  test('verifies; MRSIGNER = SHA-256 of the little-endian modulus as stored', () => {
    const s = verifySigstruct(sig);
    const n = Buffer.from(String(createPublicKey(key).export({ format: 'jwk' }).n), 'base64url');
    assert.equal(n.length, 384);
    const expected = createHash('sha256').update(Buffer.from(n).reverse()).digest();
    assert.deepEqual(s.mrSigner, expected);
    assert.deepEqual(mrSignerOfKey(key), expected);
    assert.deepEqual(s.modulus, Buffer.from(n).reverse());
    assert.equal(s.isvProdId, 7);
    assert.equal(s.debug, false);
    assert.equal(s.date, '20261129');
  });

  test('the signature is PKCS#1 v1.5 over [0,128) ‖ [900,1028): S^3 mod N is the padded SHA-256', () => {
    const s = parseSigstruct(sig);
    const big = (le: Buffer) => BigInt('0x' + Buffer.from(le).reverse().toString('hex'));
    const N = big(s.modulus);
    const S = big(s.signature);
    const m = (S * S * S) % N;
    const em = Buffer.from(m.toString(16).padStart(768, '0'), 'hex');
    const digest = createHash('sha256').update(Buffer.concat([sig.subarray(0, 128), sig.subarray(900, 1028)])).digest();
    // 00 01 FF… 00 ‖ DigestInfo(SHA-256) ‖ hash
    assert.equal(em.subarray(0, 2).toString('hex'), '0001');
    assert.equal(em.subarray(em.length - 51).toString('hex'), '3031300d060960864801650304020105000420' + digest.toString('hex'));
    assert.equal(big(s.q1), (S * S) / N);
    assert.equal(big(s.q2), (S * ((S * S) % N)) / N);
  });

  test('debug: ATTRIBUTES.DEBUG and TYPE bit 31', () => {
    const d = verifySigstruct(buildSigstruct({ mrEnclave: MRENCLAVE, key, debug: true }));
    assert.equal(d.debug, true);
    assert.equal(d.attributes.flags & 2n, 2n);
    assert.equal(d.type >>> 31, 1);
    assert.equal(d.attributeMask.flags & 2n, 2n); // the mask checks DEBUG in both cases
  });

  test('a changed byte in a signed region, the signature, the modulus or Q1/Q2 is rejected', () => {
    const cases: Array<[number, string]> = [
      [960, 'SIGSTRUCT_SIGNATURE_INVALID'], // MRENCLAVE
      [1024, 'SIGSTRUCT_SIGNATURE_INVALID'], // ISVPRODID
      [12, 'SIGSTRUCT_SIGNATURE_INVALID'], // TYPE
      [600, 'SIGSTRUCT_SIGNATURE_INVALID'], // signature
      [200, 'SIGSTRUCT_SIGNATURE_INVALID'], // modulus
      [1100, 'SIGSTRUCT_Q_INVALID'],
      [1500, 'SIGSTRUCT_Q_INVALID'],
      [0, 'SIGSTRUCT_BAD_FIELD'], // header
      [512, 'SIGSTRUCT_BAD_FIELD'], // exponent
    ];
    for (const [off, code] of cases) {
      const b = Buffer.from(sig);
      b[off] ^= 0x01;
      assert.throws(() => verifySigstruct(b), isCode(code), `offset ${off}`);
    }
  });

  test('bad sizes and keys are typed errors', () => {
    assert.throws(() => parseSigstruct(sig.subarray(0, 1807)), isCode('SIGSTRUCT_BAD_SIZE'));
    const k65537 = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    assert.throws(() => buildSigstruct({ mrEnclave: MRENCLAVE, key: k65537 }), isCode('SIGSTRUCT_BAD_KEY'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.throws(() => buildSigstruct({ mrEnclave: MRENCLAVE, key: ec }), isCode('SIGSTRUCT_BAD_KEY'));
    assert.throws(() => buildSigstruct({ mrEnclave: MRENCLAVE, key: 'not a pem' }), isCode('SIGSTRUCT_BAD_KEY'));
    assert.throws(() => buildSigstruct({ mrEnclave: MRENCLAVE.subarray(1), key }), isCode('SIGSTRUCT_BAD_FIELD'));
    assert.throws(() => buildSigstruct({ mrEnclave: MRENCLAVE, key, isvSvn: 70000 }), isCode('SIGSTRUCT_BAD_FIELD'));
  });
});
