/**
 * Hand-written decoders for the two requests that carry long ID lists:
 * AllocateRequest (up to thousands of EPC unit IDs per pod) and
 * PreferredAllocationRequest (every available ID on the node). protobufjs
 * builds an object per field and its tail latency shows at these sizes;
 * these walk the wire format once, skip unknown fields as proto3 requires,
 * and reject malformed input with a typed error naming the byte offset.
 */
import { KubeSgxError } from '../errors.js';
import type { AllocateRequestMsg, PreferredAllocationRequestMsg } from './api.js';

class Reader {
  pos: number;
  constructor(
    private readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  private fail(what: string): never {
    throw new KubeSgxError('INVALID_REQUEST', `malformed protobuf: ${what}`, { offset: this.pos });
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      if (i < 8) result += (b & 0x7f) * mul; // beyond 56 bits only the sign of an int32 matters
      mul *= 128;
      if (b < 0x80) return result;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** Field key → [field number, wire type]. */
  key(): [number, number] {
    const k = this.varint();
    const field = Math.floor(k / 8);
    if (field === 0) this.fail('field number 0');
    return [field, k & 7];
  }

  /** Bounds of a length-delimited field's payload; advances past it. */
  bytes(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) this.fail('length runs past the end');
    this.pos = start + len;
    return [start, start + len];
  }

  string(): string {
    const [s, e] = this.bytes();
    // Device IDs are short ASCII: one String.fromCharCode call per ID beats a
    // native call per string, and builds no intermediate strings (an Allocate
    // of 4096 IDs is mostly this).
    const b = this.buf;
    const n = e - s;
    if (n <= 6) {
      for (let i = s; i < e; i++) if (b[i]! >= 0x80) return b.toString('utf8', s, e);
      switch (n) {
        case 0: return '';
        case 1: return String.fromCharCode(b[s]!);
        case 2: return String.fromCharCode(b[s]!, b[s + 1]!);
        case 3: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!);
        case 4: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
        case 5: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
        default: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
      }
    }
    return b.toString('utf8', s, e);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        this.fail(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.end - this.pos < n) this.fail('truncated fixed-width field');
    this.pos += n;
  }

  sub(): Reader {
    const [s, e] = this.bytes();
    return new Reader(this.buf, s, e);
  }

  expect(wireType: number, want: number, name: string): void {
    if (wireType !== want) this.fail(`${name}: wire type ${wireType}, expected ${want}`);
  }
}

/**
 * Both request types are `repeated <ContainerRequest> container_requests = 1`:
 * walks that outer list (skipping unknown fields) and hands each container
 * request's reader to `readOne`.
 */
function decodeContainerRequests<T>(buf: Buffer, readOne: (r: Reader) => T): T[] {
  const top = new Reader(buf, 0, buf.length);
  const out: T[] = [];
  while (top.pos < top.end) {
    const [f, wt] = top.key();
    if (f !== 1) {
      top.skip(wt);
      continue;
    }
    top.expect(wt, 2, 'container_requests');
    out.push(readOne(top.sub()));
  }
  return out;
}

/** AllocateRequest { repeated ContainerAllocateRequest container_requests = 1 { repeated string devices_ids = 1 } } */
export function decodeAllocateRequest(buf: Buffer): AllocateRequestMsg {
  const container_requests = decodeContainerRequests(buf, (r) => {
    const devices_ids: string[] = [];
    while (r.pos < r.end) {
      const [g, wt2] = r.key();
      if (g === 1) {
        r.expect(wt2, 2, 'devices_ids');
        devices_ids.push(r.string());
      } else r.skip(wt2);
    }
    return { devices_ids };
  });
  return { container_requests };
}

/** PreferredAllocationRequest { repeated ContainerPreferredAllocationRequest container_requests = 1 { 1 available, 2 must_include, 3 int32 size } } */
export function decodePreferredAllocationRequest(buf: Buffer): PreferredAllocationRequestMsg {
  const container_requests = decodeContainerRequests(buf, (r) => {
    const req = { available_deviceIDs: [] as string[], must_include_deviceIDs: [] as string[], allocation_size: 0 };
    while (r.pos < r.end) {
      const [g, wt2] = r.key();
      if (g === 1) {
        r.expect(wt2, 2, 'available_deviceIDs');
        req.available_deviceIDs.push(r.string());
      } else if (g === 2) {
        r.expect(wt2, 2, 'must_include_deviceIDs');
        req.must_include_deviceIDs.push(r.string());
      } else if (g === 3) {
        r.expect(wt2, 0, 'allocation_size');
        const v = r.varint();
        req.allocation_size = v >= 2 ** 31 ? -1 : v; // negative int32 (sign-extended): invalid anyway
      } else r.skip(wt2);
    }
    return req;
  });
  return { container_requests };
}
