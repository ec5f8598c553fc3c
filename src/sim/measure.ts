/**
 * MRENCLAVE: SHA-256 over the 64-byte records that ECREATE, EADD and EEXTEND
 * append while an enclave is built (reference aesm-and-simulation.md §4):
 *
 *   ECREATE  "ECREATE\0" ‖ u32 SSAFRAMESIZE ‖ u64 SECS.SIZE ‖ 44 zero bytes   (once)
 *   EADD     "EADD\0\0\0\0" ‖ u64 page offset ‖ SECINFO.flags (u64) ‖ 40 zero bytes
 *   EEXTEND  "EEXTEND\0" ‖ u64 chunk offset ‖ 48 zero bytes, then the 256 data bytes
 *
 * A measured page is EADD followed by 16 EEXTENDs; an unmeasured page only EADD.
 *
 * Layout file (JSON) for `kube-sgx sim measure`:
 *
 *   { "ssaFrameSize": 1,            // pages per SSA frame
 *     "enclaveSize": "0x20000",     // SECS.SIZE, a power of two (number or hex string)
 *     "pages": [                    // in the order the loader adds them
 *       { "offset": "0x0", "secinfo": "tcs", "measured": true, "data": { "hex": "…" } },
 *       { "offset": "0x1000", "count": 4, "secinfo": "code", "data": { "file": "text.bin" } },
 *       { "offset": "0x5000", "secinfo": "0x203", "measured": false }
 *     ] }
 *
 * `secinfo`: "code" (0x205 R|X REG), "data" (0x203 R|W REG), "ro" (0x201),
 * "tcs" (0x100) or a number / hex string of SECINFO.FLAGS. `count` consecutive
 * pages (default 1). `data`: { "hex" } / { "base64" } / { "file" } (relative to
 * the layout file) / { "fill": byte }; shorter data is zero-padded, a file
 * spanning `count` pages is split across them. `measured` defaults to true.
 */
import { createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { KubeSgxError } from '../errors.js';

export const PAGE_SIZE = 4096;
const CHUNK = 256;

export const SECINFO = {
  R: 0x1,
  W: 0x2,
  X: 0x4,
  PENDING: 0x8,
  MODIFIED: 0x10,
  PR: 0x20,
  PT_SECS: 0x000,
  PT_TCS: 0x100,
  PT_REG: 0x200,
  PT_VA: 0x300,
  PT_TRIM: 0x400,
} as const;

const SECINFO_NAMES: Record<string, number> = { code: 0x205, data: 0x203, ro: 0x201, tcs: 0x100 };

/** Incremental MRENCLAVE, one instruction at a time. */
export class EnclaveMeasurement {
  private readonly h: Hash = createHash('sha256');
  private readonly record = Buffer.alloc(64);
  private created = false;
  private done = false;

  constructor(
    private readonly enclaveSize: bigint,
    ssaFrameSize: number,
  ) {
    if (enclaveSize < 0x2000n || (enclaveSize & (enclaveSize - 1n)) !== 0n) {
      throw new KubeSgxError('MEASURE_BAD_LAYOUT', `enclaveSize: must be a power of two of at least 8 KiB, got 0x${enclaveSize.toString(16)}`, { path: ['enclaveSize'] });
    }
    if (!Number.isInteger(ssaFrameSize) || ssaFrameSize < 1 || ssaFrameSize > 0xffffffff) {
      throw new KubeSgxError('MEASURE_BAD_LAYOUT', `ssaFrameSize: must be a positive u32, got ${ssaFrameSize}`, { path: ['ssaFrameSize'] });
    }
    const r = this.clear();
    r.write('ECREATE\0', 0, 'latin1');
    r.writeUInt32LE(ssaFrameSize, 8);
    r.writeBigUInt64LE(enclaveSize, 12);
    this.h.update(r);
    this.created = true;
  }

  private clear(): Buffer {
    return this.record.fill(0);
  }

  private checkOffset(offset: bigint, what: string): void {
    if (this.done) throw new KubeSgxError('MEASURE_FINISHED', 'measurement already finalised (EINIT)');
    if (!this.created || offset < 0n || offset >= this.enclaveSize) {
      throw new KubeSgxError('MEASURE_BAD_LAYOUT', `${what} offset 0x${offset.toString(16)} is outside the enclave (size 0x${this.enclaveSize.toString(16)})`, { path: ['offset'] });
    }
  }

  /** EADD of the page at `offset` with SECINFO.FLAGS `secinfoFlags`. */
  eadd(offset: bigint, secinfoFlags: bigint): void {
    this.checkOffset(offset, 'EADD');
    if (offset % BigInt(PAGE_SIZE) !== 0n) throw new KubeSgxError('MEASURE_BAD_LAYOUT', `EADD offset 0x${offset.toString(16)} is not page aligned`, { path: ['offset'] });
    const r = this.clear();
    r.write('EADD', 0, 'latin1');
    r.writeBigUInt64LE(offset, 8);
    r.writeBigUInt64LE(secinfoFlags, 16);
    this.h.update(r);
  }

  /** EEXTEND of one 256-byte chunk at `offset`. */
  eextend(offset: bigint, chunk: Uint8Array): void {
    this.checkOffset(offset, 'EEXTEND');
    if (chunk.length !== CHUNK || offset % BigInt(CHUNK) !== 0n) throw new KubeSgxError('MEASURE_BAD_LAYOUT', 'EEXTEND needs a 256-byte chunk at a 256-byte aligned offset', { path: ['offset'] });
    const r = this.clear();
    r.write('EEXTEND', 0, 'latin1');
    r.writeBigUInt64LE(offset, 8);
    this.h.update(r);
    this.h.update(chunk);
  }

  /** EADD and, when `measured`, the 16 EEXTENDs of a 4 KiB page. */
  addPage(offset: bigint, secinfoFlags: bigint, page: Uint8Array, measured = true): void {
    if (page.length !== PAGE_SIZE) throw new KubeSgxError('MEASURE_BAD_LAYOUT', `page at 0x${offset.toString(16)}: expected ${PAGE_SIZE} bytes, got ${page.length}`, { path: ['data'] });
    this.eadd(offset, secinfoFlags);
    if (!measured) return;
    for (let i = 0; i < PAGE_SIZE; i += CHUNK) this.eextend(offset + BigInt(i), page.subarray(i, i + CHUNK));
  }

  /** EINIT: the final MRENCLAVE. */
  finish(): Buffer {
    if (this.done) throw new KubeSgxError('MEASURE_FINISHED', 'measurement already finalised (EINIT)');
    this.done = true;
    return this.h.digest();
  }
}

// ---- layout files ----

const bigish = z.union([z.number().int().min(0), z.string().regex(/^(0x[0-9a-fA-F]+|\d+)$/, 'expected a number or 0x-hex string')]);
const dataSource = z.union([
  z.object({ hex: z.string().regex(/^([0-9a-fA-F]{2})*$/, 'expected hex') }).strict(),
  z.object({ base64: z.string() }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ fill: z.number().int().min(0).max(255) }).strict(),
]);
const pageSpec = z
  .object({
    offset: bigish,
    count: z.number().int().min(1).max(1 << 20).optional(),
    secinfo: z.union([z.enum(['code', 'data', 'ro', 'tcs']), bigish]),
    measured: z.boolean().optional(),
    data: dataSource.optional(),
  })
  .strict();
export const EnclaveLayoutSchema = z
  .object({
    ssaFrameSize: z.number().int().min(1),
    enclaveSize: bigish,
    pages: z.array(pageSpec),
  })
  .strict();
export type EnclaveLayout = z.infer<typeof EnclaveLayoutSchema>;

const toBig = (v: number | string): bigint => BigInt(v);

/** Validates a parsed layout object; errors name the field. */
export function parseEnclaveLayout(value: unknown): EnclaveLayout {
  const r = EnclaveLayoutSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    throw new KubeSgxError('MEASURE_BAD_LAYOUT', `layout.${path.join('.') || '(root)'}: ${issue.message}`, { path: ['layout', ...path] });
  }
  return r.data;
}

function sourceBytes(src: z.infer<typeof dataSource> | undefined, baseDir: string | undefined, size: number, where: string): Buffer {
  let bytes: Buffer;
  if (src === undefined) bytes = Buffer.alloc(0);
  else if ('hex' in src) bytes = Buffer.from(src.hex, 'hex');
  else if ('base64' in src) bytes = Buffer.from(src.base64, 'base64');
  else if ('fill' in src) return Buffer.alloc(size, src.fill);
  else {
    if (baseDir === undefined) throw new KubeSgxError('MEASURE_BAD_LAYOUT', `${where}.data.file: files need a layout file location`, { path: [where, 'data', 'file'] });
    const file = resolve(baseDir, src.file);
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new KubeSgxError('MEASURE_BAD_LAYOUT', `${where}.data.file: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, { path: [where, 'data', 'file'], cause: e });
    }
  }
  if (bytes.length > size) throw new KubeSgxError('MEASURE_BAD_LAYOUT', `${where}.data: ${bytes.length} bytes do not fit in ${size / PAGE_SIZE} page(s)`, { path: [where, 'data'] });
  const out = Buffer.alloc(size);
  bytes.copy(out);
  return out;
}

/** MRENCLAVE of a layout (`baseDir` resolves `data.file` entries). */
export function measureEnclave(layout: EnclaveLayout, baseDir?: string): Buffer {
  const m = new EnclaveMeasurement(toBig(layout.enclaveSize), layout.ssaFrameSize);
  layout.pages.forEach((p, i) => {
    const where = `pages.${i}`;
    const count = p.count ?? 1;
    const flags = typeof p.secinfo === 'string' && p.secinfo in SECINFO_NAMES ? BigInt(SECINFO_NAMES[p.secinfo]) : toBig(p.secinfo);
    const data = sourceBytes(p.data, baseDir, count * PAGE_SIZE, where);
    const start = toBig(p.offset);
    for (let k = 0; k < count; k++) {
      try {
        m.addPage(start + BigInt(k * PAGE_SIZE), flags, data.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE), p.measured ?? true);
      } catch (e) {
        if (e instanceof KubeSgxError) throw new KubeSgxError(e.code, `layout.${where}: ${e.message}`, { path: ['layout', 'pages', i], cause: e });
        throw e;
      }
    }
  });
  return m.finish();
}

/** Reads and measures a layout file. */
export function measureLayoutFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KubeSgxError('MEASURE_BAD_LAYOUT', `${path}: ${e instanceof Error ? e.message : String(e)}`, { path: [path], cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new KubeSgxError('MEASURE_BAD_LAYOUT', `${path}: not JSON (${e instanceof Error ? e.message : String(e)})`, { path: [path], cause: e });
  }
  return measureEnclave(parseEnclaveLayout(json), dirname(resolve(path)));
}
