/**
 * AES-128-CMAC (RFC 4493 / NIST SP 800-38B), the MAC that EREPORT puts on
 * every report. Node's crypto has no CMAC, so it is built here on AES-128:
 * one ECB block for the subkeys, then CBC with a zero IV over the message
 * with the last block masked by K1 (complete) or padded and masked by K2.
 */
import { createCipheriv, timingSafeEqual } from 'node:crypto';
import { KubeSgxError } from '../errors.js';

const BLOCK = 16;
const ZERO_IV = Buffer.alloc(BLOCK);
const RB = 0x87;

function aesBlock(key: Uint8Array, block: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** Doubling in GF(2^128): shift left one bit, xor Rb when the top bit falls off. */
function double(b: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((b[i] << 1) | (i + 1 < BLOCK ? b[i + 1] >> 7 : 0)) & 0xff;
  if (b[0] & 0x80) out[BLOCK - 1] ^= RB;
  return out;
}

/** A CMAC key with its subkeys computed once (EREPORT/EGETKEY use one key many times). */
export class Cmac {
  private readonly key: Buffer;
  private readonly k1: Buffer;
  private readonly k2: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new KubeSgxError('SIM_BAD_KEY', `AES-128-CMAC key must be 16 bytes, got ${key.length}`);
    this.key = Buffer.from(key);
    const l = aesBlock(this.key, ZERO_IV);
    this.k1 = double(l);
    this.k2 = double(this.k1);
  }

  /** The 16-byte tag of `message`. */
  mac(message: Uint8Array): Buffer {
    const n = message.length === 0 ? 1 : Math.ceil(message.length / BLOCK);
    const complete = message.length > 0 && message.length % BLOCK === 0;
    const buf = Buffer.alloc(n * BLOCK);
    buf.set(message);
    if (!complete) buf[message.length] = 0x80;
    const mask = complete ? this.k1 : this.k2;
    const last = (n - 1) * BLOCK;
    for (let i = 0; i < BLOCK; i++) buf[last + i] ^= mask[i];
    const c = createCipheriv('aes-128-cbc', this.key, ZERO_IV);
    c.setAutoPadding(false);
    const out = c.update(buf);
    return Buffer.from(out.subarray(out.length - BLOCK));
  }

  /** Constant-time comparison of `tag` with the MAC of `message`. */
  verify(message: Uint8Array, tag: Uint8Array): boolean {
    return tag.length === BLOCK && timingSafeEqual(this.mac(message), tag);
  }
}

/** One-shot AES-128-CMAC. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  return new Cmac(key).mac(message);
}
