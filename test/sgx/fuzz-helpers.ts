/**
 * Quote mutators for property tests and long fuzz runs (the verifier's
 * million-case run reuses these). `mutateQuote` is a plain function driven
 * by any `() => number` RNG (use `seededRandom` for reproducible runs);
 * `quoteMutationArbitrary` wraps it for fast-check (shrinks by seed).
 */
import fc from 'fast-check';
import { parseQuote, type Quote } from '../../src/sgx/index.js';

export interface LengthField {
  name: string;
  offset: number;
  size: 2 | 4;
}

/** Offsets of the version, type and length fields of a parsed quote (the interesting bytes to corrupt). */
export function quoteFieldOffsets(q: Quote): LengthField[] {
  const f: LengthField[] = [
    { name: 'version', offset: 0, size: 2 },
    { name: 'attestationKeyType', offset: 2, size: 2 },
    { name: 'teeType', offset: 4, size: 4 },
  ];
  if (q.header.version === 5) {
    f.push({ name: 'bodyType', offset: 48, size: 2 }, { name: 'bodySize', offset: 50, size: 4 });
  }
  const sig = q.signatureDataOffset;
  f.push({ name: 'signatureDataLength', offset: sig - 4, size: 4 });
  let p = sig + 128;
  if (q.header.version !== 3) {
    f.push({ name: 'outerCertType', offset: p, size: 2 }, { name: 'outerCertSize', offset: p + 2, size: 4 });
    p += 6;
  }
  p += 384 + 64;
  f.push({ name: 'qeAuthDataSize', offset: p, size: 2 });
  p += 2 + q.signatureData.qeAuthData.length;
  f.push({ name: 'certType', offset: p, size: 2 }, { name: 'certSize', offset: p + 2, size: 4 });
  return f;
}

/** mulberry32: a tiny deterministic PRNG in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 2, 3, 4, 5, 6, 7, 0x7f, 0x80, 0x81, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/**
 * Returns a mutated copy of `base` (1–4 stacked mutations: bit flips, byte
 * writes, corrupted length/type fields with boundary values, truncation,
 * appended bytes, range overwrite, deletion and duplication).
 * `fields` defaults to the fields of `parseQuote(base)`.
 */
export function mutateQuote(base: Uint8Array, rand: () => number, fields?: readonly LengthField[]): Buffer {
  const fieldList = fields ?? quoteFieldOffsets(parseQuote(base));
  const int = (n: number): number => Math.floor(rand() * n);
  let b = Buffer.from(base);
  const rounds = 1 + int(4);
  for (let k = 0; k < rounds; k++) {
    if (b.length === 0) break;
    switch (int(9)) {
      case 0: {
        const i = int(b.length);
        b[i] ^= 1 << int(8);
        break;
      }
      case 1:
        b[int(b.length)] = int(256);
        break;
      case 2:
      case 3: {
        const f = fieldList[int(fieldList.length)];
        if (f.offset + f.size > b.length) break;
        const old = f.size === 2 ? b.readUInt16LE(f.offset) : b.readUInt32LE(f.offset);
        const choices = [...INTERESTING, old + 1, old - 1, old + 2, old - 2, int(2 ** 32)];
        let v = choices[int(choices.length)] >>> 0;
        if (f.size === 2) {
          v &= 0xffff;
          b.writeUInt16LE(v, f.offset);
        } else b.writeUInt32LE(v, f.offset);
        break;
      }
      case 4:
        b = b.subarray(0, int(b.length));
        break;
      case 5: {
        const extra = Buffer.alloc(1 + int(64));
        if (rand() < 0.5) for (let i = 0; i < extra.length; i++) extra[i] = int(256);
        b = Buffer.concat([b, extra]);
        break;
      }
      case 6: {
        const start = int(b.length);
        const len = Math.min(1 + int(32), b.length - start);
        for (let i = 0; i < len; i++) b[start + i] = int(256);
        break;
      }
      case 7: {
        const start = int(b.length);
        const len = Math.min(1 + int(64), b.length - start);
        b = Buffer.concat([b.subarray(0, start), b.subarray(start + len)]);
        break;
      }
      default: {
        const start = int(b.length);
        const len = Math.min(1 + int(64), b.length - start);
        b = Buffer.concat([b.subarray(0, start + len), b.subarray(start, start + len), b.subarray(start + len)]);
      }
    }
  }
  return b;
}

/** fast-check arbitrary of mutated copies of one of `bases`. */
export function quoteMutationArbitrary(bases: readonly Uint8Array[]): fc.Arbitrary<Buffer> {
  const fields = bases.map((b) => quoteFieldOffsets(parseQuote(b)));
  return fc.tuple(fc.nat(bases.length - 1), fc.integer()).map(([i, seed]) => mutateQuote(bases[i], seededRandom(seed), fields[i]));
}
