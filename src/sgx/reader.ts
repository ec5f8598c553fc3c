/**
 * Bounds-checked little-endian cursor over a Buffer. Every read names the
 * field it is reading (`path`) so a failure becomes a KubeSgxError that says
 * which field ran past which limit, and at what byte offset.
 */
import { KubeSgxError, type ErrorPath, type ErrorCode } from '../errors.js';

export class ByteReader {
  pos: number;

  /**
   * @param buf the whole input (offsets in errors are relative to it)
   * @param start first readable byte
   * @param end one past the last readable byte
   * @param overflowCode error code when a read passes `end`: QUOTE_TRUNCATED when
   *   `end` is the physical end of the input, a *_BAD_LENGTH code when `end`
   *   comes from a declared length.
   */
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
    readonly overflowCode: ErrorCode,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /**
   * Throws unless n bytes remain. The field's path is `path` plus the optional
   * `name` and `index`; it is only assembled on failure (hot path stays allocation-free).
   */
  need(n: number, path: ErrorPath, name?: string, index?: number): void {
    if (n > this.end - this.pos) {
      const full = fieldPath(path, name, index);
      throw new KubeSgxError(
        this.overflowCode,
        `${full.join('.')}: needs ${n} bytes at offset ${this.pos}, only ${this.end - this.pos} left`,
        { path: full, offset: this.pos, details: { needed: n, available: this.end - this.pos } },
      );
    }
  }

  u16(path: ErrorPath, name?: string): number {
    this.need(2, path, name);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(path: ErrorPath, name?: string): number {
    this.need(4, path, name);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number, path: ErrorPath, name?: string, index?: number): Buffer {
    this.need(n, path, name, index);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

export function fieldPath(path: ErrorPath, name?: string, index?: number): ErrorPath {
  if (name === undefined) return path;
  return index === undefined ? [...path, name] : [...path, name, index];
}

/** A Buffer view over any Uint8Array, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (!(bytes instanceof Uint8Array)) {
    throw new KubeSgxError('QUOTE_BAD_INPUT', 'expected a Uint8Array or Buffer');
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Standalone structures must be exactly their size. */
export function exactReader(bytes: Uint8Array, size: number, what: string): ByteReader {
  const buf = asBuffer(bytes);
  if (buf.length !== size) {
    const code = buf.length < size ? 'SGX_STRUCT_TRUNCATED' : 'SGX_STRUCT_TRAILING_BYTES';
    throw new KubeSgxError(code, `${what}: expected ${size} bytes, got ${buf.length}`, {
      path: [what],
      offset: Math.min(buf.length, size),
      details: { expected: size, actual: buf.length },
    });
  }
  return new ByteReader(buf, 0, size, 'SGX_STRUCT_TRUNCATED');
}

/** Checks a Buffer field has exactly `size` bytes before encoding it. */
export function checkSize(value: Uint8Array | undefined, size: number, path: ErrorPath, code: ErrorCode = 'ENCODE_BAD_FIELD'): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== size) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw new KubeSgxError(code, `${path.join('.')}: expected ${size} bytes, got ${got}`, { path });
  }
  return value;
}

/** A safe description of any value for error messages (never calls the value's own methods). */
export function describeValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return v === null ? 'null' : typeof v;
}

export function checkUint(value: number, bits: 16 | 32, path: ErrorPath, code: ErrorCode = 'ENCODE_BAD_FIELD'): number {
  const max = bits === 16 ? 0xffff : 0xffffffff;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new KubeSgxError(code, `${path.join('.')}: expected an unsigned ${bits}-bit integer, got ${describeValue(value)}`, { path });
  }
  return value;
}

export function checkU64(value: bigint, path: ErrorPath, code: ErrorCode = 'ENCODE_BAD_FIELD'): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > 0xffffffffffffffffn) {
    throw new KubeSgxError(code, `${path.join('.')}: expected an unsigned 64-bit bigint`, { path });
  }
  return value;
}
