/** Sequential little-endian writer into a pre-sized Buffer (encoders compute sizes first). */
import type { ErrorPath } from '../errors.js';
import { checkSize, checkU64, checkUint } from './reader.js';

export class ByteWriter {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  u16(v: number, path: ErrorPath): void {
    this.buf.writeUInt16LE(checkUint(v, 16, path), this.pos);
    this.pos += 2;
  }

  u32(v: number, path: ErrorPath): void {
    this.buf.writeUInt32LE(checkUint(v, 32, path), this.pos);
    this.pos += 4;
  }

  u64(v: bigint, path: ErrorPath): void {
    this.buf.writeBigUInt64LE(checkU64(v, path), this.pos);
    this.pos += 8;
  }

  /** Writes exactly `size` bytes of `v` (checked). */
  fixed(v: Uint8Array, size: number, path: ErrorPath): void {
    this.buf.set(checkSize(v, size, path), this.pos);
    this.pos += size;
  }

  /** Writes `v` whatever its length (the caller wrote its length field). */
  raw(v: Uint8Array): void {
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }
}
