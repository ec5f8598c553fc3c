/**
 * aesmd framing: a u32 little-endian payload length, then the payload. Both
 * directions. The accumulator enforces a size cap before buffering, so a
 * 4 GiB length prefix costs nothing.
 */
export const LENGTH_PREFIX_SIZE = 4;

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_SIZE + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.set(payload, LENGTH_PREFIX_SIZE);
  return out;
}

/** The 4-byte length prefix alone, so a payload can be written without copying it. */
export function lengthPrefix(payloadLength: number): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_SIZE);
  out.writeUInt32LE(payloadLength, 0);
  return out;
}

export type FrameState =
  | { kind: 'incomplete' }
  | { kind: 'complete'; payload: Buffer }
  | { kind: 'oversized'; length: number }
  | { kind: 'empty' };

/** Collects chunks until one whole frame is present. One frame per connection. */
export class FrameAccumulator {
  private chunks: Buffer[] = [];
  private received = 0;
  private expected: number | undefined;

  constructor(private readonly maxPayload: number) {}

  push(chunk: Buffer): FrameState {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.expected === undefined) {
      if (this.received < LENGTH_PREFIX_SIZE) return { kind: 'incomplete' };
      const head = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [head];
      const length = head.readUInt32LE(0);
      if (length > this.maxPayload) return { kind: 'oversized', length };
      if (length === 0) return { kind: 'empty' };
      this.expected = length;
    }
    if (this.received < LENGTH_PREFIX_SIZE + this.expected) return { kind: 'incomplete' };
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    // Bytes after the frame are ignored, as aesmd ignores them.
    return { kind: 'complete', payload: all.subarray(LENGTH_PREFIX_SIZE, LENGTH_PREFIX_SIZE + this.expected) };
  }

  /** Bytes received so far (for logs). */
  get bytes(): number {
    return this.received;
  }
}
