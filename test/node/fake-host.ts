/** Builds fake host trees in temp dirs: regular files stand in for device nodes and sockets. */
import { mkdtemp, mkdir, writeFile, rm, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface FakeHostSpec {
  flags?: string[];
  /** EPC bytes per NUMA node, indexed by node number. */
  epc?: Record<number, number | string>;
  devices?: string[];
  aesmd?: boolean;
  cpuinfo?: boolean;
  /** A cpuid device at dev/cpu/0/cpuid (see writeFakeCpuid); 'empty' is a zero-length file. */
  cpuid?: FakeCpuid | 'empty';
}

export interface FakeCpuid {
  /** EPC sections for CPUID leaf 0x12 sub-leaves 2.. (an all-zero end marker follows). */
  sections?: { base: number; bytes: number }[];
  /** CPUID.(7,0):EBX[2]; default true. */
  sgx?: boolean;
  /** CPUID.(0,0):EAX; default 0x1f. */
  maxLeaf?: number;
  /** Raw EAX type of an extra sub-leaf after the sections (a reserved type). */
  trailingType?: number;
}

type Regs = [eax: number, ebx: number, ecx: number, edx: number];

/** Splits a 52-bit address/size into the (low[31:12], high[19:0]) register pair CPUID 0x12 uses. */
function split(v: number): [number, number] {
  return [(v % 2 ** 32) >>> 0, Math.floor(v / 2 ** 32)];
}

/**
 * A sparse regular file laid out as the Linux cpuid device reads: the 16 bytes
 * (EAX, EBX, ECX, EDX, little-endian) for CPUID(leaf, subleaf) at offset
 * leaf + subleaf * 2^32, so the code under test does the same 64-bit preads it
 * does against /dev/cpu/N/cpuid.
 */
export async function writeFakeCpuid(file: string, spec: FakeCpuid): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const at = new Map<number, Regs>();
  const put = (leaf: number, sub: number, regs: Regs) => at.set(leaf + sub * 2 ** 32, regs);
  put(0, 0, [spec.maxLeaf ?? 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69]); // "GenuineIntel"
  put(7, 0, [0, spec.sgx === false ? 0 : 1 << 2, 0, 0]);
  put(0x12, 0, [spec.sgx === false ? 0 : 0b11, 0, 0, 0x241f]);
  const sections = spec.sections ?? [];
  sections.forEach((sec, i) => {
    const [baseLo, baseHi] = split(sec.base);
    const [sizeLo, sizeHi] = split(sec.bytes);
    put(0x12, 2 + i, [(baseLo & 0xfffff000) | 1, baseHi, (sizeLo & 0xfffff000) | 1, sizeHi]);
  });
  let next = 2 + sections.length;
  if (spec.trailingType !== undefined) put(0x12, next++, [spec.trailingType, 0, 0, 0]);
  put(0x12, next, [0, 0, 0, 0]);
  const fh = await open(file, 'w');
  try {
    for (const [offset, regs] of at) {
      const buf = Buffer.alloc(16);
      regs.forEach((r, i) => buf.writeUInt32LE(r >>> 0, i * 4));
      await fh.write(buf, 0, 16, offset);
    }
  } finally {
    await fh.close();
  }
}

export const MiB = 1024 * 1024;

export async function tempDir(prefix = 'ksgx-'): Promise<string> {
  // Short paths: unix socket paths are limited to 107 bytes.
  return mkdtemp(join(tmpdir(), prefix));
}

export async function touch(path: string, content = ''): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

export async function makeFakeHost(root: string, spec: FakeHostSpec = {}): Promise<string> {
  const flags = spec.flags ?? ['fpu', 'vme', 'sgx', 'sgx_lc', 'avx2'];
  if (spec.cpuinfo !== false) {
    const cpu = (n: number) => `processor\t: ${n}\nvendor_id\t: GenuineIntel\nflags\t\t: ${flags.join(' ')}\n\n`;
    await touch(join(root, 'proc/cpuinfo'), cpu(0) + cpu(1));
  }
  for (const [node, bytes] of Object.entries(spec.epc ?? {})) {
    await touch(join(root, `sys/devices/system/node/node${node}/x86/sgx_total_bytes`), `${bytes}\n`);
  }
  await mkdir(join(root, 'sys/devices/system/node/node9'), { recursive: true }); // a node without EPC
  for (const d of spec.devices ?? []) await touch(join(root, d));
  if (spec.aesmd) await touch(join(root, 'var/run/aesmd/aesm.socket'));
  if (spec.cpuid === 'empty') await touch(join(root, 'dev/cpu/0/cpuid'));
  else if (spec.cpuid) await writeFakeCpuid(join(root, 'dev/cpu/0/cpuid'), spec.cpuid);
  return root;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Fake hosts in fresh temp dirs for one test file: `host(spec, files)` makes
 * one (extra files as path → text), `dir()` an empty one, `cleanup()` removes
 * them all (call it from `after`).
 */
export function fakeHosts(prefix = 'ksgx-'): {
  host(spec?: FakeHostSpec, files?: Record<string, string>): Promise<string>;
  dir(): Promise<string>;
  cleanup(): Promise<void>;
} {
  const dirs: string[] = [];
  const dir = async () => {
    const d = await tempDir(prefix);
    dirs.push(d);
    return d;
  };
  return {
    dir,
    async host(spec = {}, files = {}) {
      const root = await makeFakeHost(await dir(), spec);
      for (const [path, text] of Object.entries(files)) await touch(join(root, path), text);
      return root;
    },
    async cleanup() {
      for (const d of dirs.splice(0)) await removeDir(d);
    },
  };
}
