/**
 * EPC sections from CPUID leaf 0x12, read through the Linux cpuid device
 * (`/dev/cpu/<n>/cpuid`, the `cpuid` module). For kernels without
 * sgx_total_bytes in sysfs under nodeN/x86 (before 5.17) and the out-of-tree
 * DCAP driver, this is where the EPC size is.
 *
 * The device (arch/x86/kernel/cpuid.c): a read of 16 bytes at file offset
 * `leaf | subleaf << 32` runs CPUID with EAX = leaf, ECX = subleaf on that CPU
 * and returns EAX, EBX, ECX, EDX little-endian; reads must be multiples of 16.
 *
 * Leaf 0x12 (Intel SDM vol. 2A, CPUID; Linux sgx_page_cache_init in
 * arch/x86/kernel/cpu/sgx/main.c): sub-leaves 2 and up are valid only when
 * CPUID.(EAX=07H,ECX=0):EBX[2] (SGX) is set, and leaf 0x12 is within the
 * maximum basic leaf (a higher leaf returns the highest basic leaf's data,
 * which would be misread as sections). Each sub-leaf n >= 2 has a type in
 * EAX[3:0]: 0 ends the list, 1 is an EPC section with base EAX[31:12] |
 * EBX[19:0] << 32 and size ECX[31:12] | EDX[19:0] << 32; other types are
 * reserved, and Linux stops at them too.
 */
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeSgxError } from '../errors.js';

export const SGX_CPUID_LEAF = 0x12;
/** First EPC-enumerating sub-leaf. */
export const SGX_CPUID_EPC_SUBLEAF = 2;
/** Linux's SGX_MAX_EPC_SECTIONS: more sub-leaves than this are not read. */
export const MAX_EPC_SECTIONS = 8;
const CPUID_EPC_TYPE_INVALID = 0;
const CPUID_EPC_TYPE_SECTION = 1;

export interface CpuidRegs {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export interface EpcSection {
  /** Physical base address (up to 52 bits: a safe integer). */
  base: number;
  bytes: number;
}

export interface CpuidEpc {
  /** Host path of the device read, e.g. /dev/cpu/0/cpuid. */
  device: string;
  /** CPUID.(7,0):EBX[2] and leaf 0x12 within the maximum basic leaf. */
  sgx: boolean;
  sections: EpcSection[];
  /** Why the list ended early (a reserved sub-leaf type), if it did. */
  note?: string;
}

/** The device file offset for CPUID(leaf, subleaf). */
export function cpuidOffset(leaf: number, subleaf: number): number {
  return leaf + subleaf * 2 ** 32;
}

/** Decodes one EPC sub-leaf: a section, null for the end marker, or the reserved type found. */
export function decodeEpcSubleaf(r: CpuidRegs): EpcSection | null | { reservedType: number } {
  const type = r.eax & 0xf;
  if (type === CPUID_EPC_TYPE_INVALID) return null;
  if (type !== CPUID_EPC_TYPE_SECTION) return { reservedType: type };
  const lowMask = 0xfffff000;
  const highMask = 0xfffff;
  return {
    base: ((r.eax & lowMask) >>> 0) + (r.ebx & highMask) * 2 ** 32,
    bytes: ((r.ecx & lowMask) >>> 0) + (r.edx & highMask) * 2 ** 32,
  };
}

/** The first CPU's cpuid device under hostRoot (host path), or null when there is none (module not loaded, or /dev/cpu not mounted). */
export async function findCpuidDevice(hostRoot: string): Promise<string | null> {
  let cpus: string[];
  try {
    cpus = await readdir(join(hostRoot, 'dev', 'cpu'));
  } catch {
    return null;
  }
  const numbered = cpus.filter((c) => /^\d+$/.test(c)).sort((a, b) => Number(a) - Number(b));
  for (const cpu of numbered) {
    const hostPath = `/dev/cpu/${cpu}/cpuid`;
    try {
      const names = await readdir(join(hostRoot, 'dev', 'cpu', cpu));
      if (names.includes('cpuid')) return hostPath;
    } catch {
      /* not a directory */
    }
  }
  return null;
}

async function readRegs(fh: FileHandle, device: string, leaf: number, subleaf: number): Promise<CpuidRegs> {
  const buf = Buffer.alloc(16);
  let bytesRead: number;
  try {
    ({ bytesRead } = await fh.read(buf, 0, 16, cpuidOffset(leaf, subleaf)));
  } catch (e) {
    throw new KubeSgxError('CPUID_READ_FAILED', `cannot read CPUID(0x${leaf.toString(16)}, ${subleaf}) from ${device}: ${(e as Error).message}`, { cause: e, path: [device] });
  }
  if (bytesRead !== 16) {
    throw new KubeSgxError(
      'CPUID_READ_FAILED',
      `${device} returned ${bytesRead} bytes for CPUID(0x${leaf.toString(16)}, ${subleaf}), expected 16: not a Linux cpuid device? pass --epc-bytes instead`,
      { path: [device] },
    );
  }
  return { eax: buf.readUInt32LE(0), ebx: buf.readUInt32LE(4), ecx: buf.readUInt32LE(8), edx: buf.readUInt32LE(12) };
}

/**
 * Reads the EPC sections. Null when no cpuid device exists; throws
 * CPUID_UNREADABLE when one exists but cannot be opened, CPUID_READ_FAILED on
 * a failed or short read: an EPC size of 0 must never come from a device that
 * did not answer.
 */
export async function readCpuidEpc(hostRoot: string): Promise<CpuidEpc | null> {
  const device = await findCpuidDevice(hostRoot);
  if (device === null) return null;
  let fh: FileHandle;
  try {
    fh = await open(join(hostRoot, device), 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new KubeSgxError(
      'CPUID_UNREADABLE',
      `cannot open ${device} (${code}): the node agent needs read access to the cpuid device to size EPC on this kernel (a privileged container, or an allowed device), or pass --epc-bytes`,
      { cause: e, path: [device] },
    );
  }
  try {
    const maxLeaf = (await readRegs(fh, device, 0, 0)).eax;
    const sgxFeature = maxLeaf >= 7 && ((await readRegs(fh, device, 7, 0)).ebx & (1 << 2)) !== 0;
    if (!sgxFeature || maxLeaf < SGX_CPUID_LEAF) return { device, sgx: false, sections: [] };
    const sections: EpcSection[] = [];
    let note: string | undefined;
    for (let i = 0; i < MAX_EPC_SECTIONS; i++) {
      const d = decodeEpcSubleaf(await readRegs(fh, device, SGX_CPUID_LEAF, SGX_CPUID_EPC_SUBLEAF + i));
      if (d === null) break;
      if ('reservedType' in d) {
        note = `CPUID(0x12, ${SGX_CPUID_EPC_SUBLEAF + i}) has reserved type ${d.reservedType}; sections after it ignored`;
        break;
      }
      if (d.bytes > 0) sections.push(d);
    }
    return { device, sgx: true, sections, ...(note ? { note } : {}) };
  } finally {
    await fh.close();
  }
}
