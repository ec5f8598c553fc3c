/**
 * The EPC probe file: CPUID leaf 0x12 read once by a privileged init
 * container (`kube-sgx node-agent probe-epc`) and handed to the unprivileged
 * node agent (`--epc-file`) through an emptyDir. Opening /dev/cpu/<n>/cpuid
 * needs the device cgroup to allow it, which only a privileged container (or
 * an explicitly allowed device) gets; the long-running agent stays
 * unprivileged, and only this short-lived reader is not.
 *
 * Sysfs still wins: the probe does not touch the cpuid device when sysfs
 * already has sgx_total_bytes, and the agent uses the file only where sysfs
 * has nothing (src/node/discovery.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { KubeSgxError } from '../errors.js';
import { MAX_EPC_SECTIONS, readCpuidEpc, type CpuidEpc } from './cpuid.js';
import { readEpcSysfs } from './discovery.js';

export const EPC_PROBE_FORMAT = 'kube-sgx-epc-probe/v1';

export interface EpcProbe {
  format: typeof EPC_PROBE_FORMAT;
  /** The probe found EPC in sysfs and so did not read CPUID. */
  sysfsEpc: boolean;
  /** What CPUID leaf 0x12 said; null when not read (sysfs had EPC, or no cpuid device). */
  cpuid: CpuidEpc | null;
  /** Why cpuid is null. */
  reason?: string;
}

/** A physical address or size: a safe non-negative integer, 4 KiB aligned as CPUID reports them. */
const pageAligned = z
  .number()
  .int()
  .nonnegative()
  .refine((n) => Number.isSafeInteger(n) && n % 4096 === 0, 'must be a safe integer multiple of 4096');

const probeSchema = z
  .object({
    format: z.literal(EPC_PROBE_FORMAT),
    sysfsEpc: z.boolean(),
    cpuid: z
      .object({
        device: z.string().regex(/^\/dev\/cpu\/\d+\/cpuid$/, 'must be /dev/cpu/<n>/cpuid'),
        sgx: z.boolean(),
        sections: z.array(z.object({ base: pageAligned, bytes: pageAligned.refine((n) => n > 0, 'must be > 0') }).strict()).max(MAX_EPC_SECTIONS),
        note: z.string().max(500).optional(),
      })
      .strict()
      .nullable(),
    reason: z.string().max(500).optional(),
  })
  .strict();

/** Reads EPC the way the unprivileged agent cannot: sysfs first, else the cpuid device under hostRoot. Throws CPUID_UNREADABLE / CPUID_READ_FAILED. */
export async function probeEpc(hostRoot: string): Promise<EpcProbe> {
  const sysfs = await readEpcSysfs(hostRoot, []);
  if (sysfs.length > 0) return { format: EPC_PROBE_FORMAT, sysfsEpc: true, cpuid: null, reason: 'not read: sysfs has sgx_total_bytes' };
  const cpuid = await readCpuidEpc(hostRoot);
  if (cpuid === null) {
    return { format: EPC_PROBE_FORMAT, sysfsEpc: false, cpuid: null, reason: 'no cpuid device (dev/cpu/N/cpuid) on the host: modprobe cpuid' };
  }
  return { format: EPC_PROBE_FORMAT, sysfsEpc: false, cpuid };
}

export async function writeEpcProbeFile(file: string, probe: EpcProbe): Promise<void> {
  try {
    await writeFile(file, JSON.stringify(probe, null, 2) + '\n', { mode: 0o644 });
  } catch (e) {
    throw new KubeSgxError('EPC_FILE_UNWRITABLE', `cannot write the EPC probe file ${file}: ${(e as Error).message}`, { cause: e, path: [file] });
  }
}

/** Parses probe-file text; EPC_FILE_INVALID names the first bad field. */
export function parseEpcProbe(text: string, file: string): EpcProbe {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new KubeSgxError('EPC_FILE_INVALID', `EPC probe file ${file} is not JSON: ${(e as Error).message}`, { cause: e, path: [file] });
  }
  const r = probeSchema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0]!;
    const where = first.path.map(String);
    throw new KubeSgxError('EPC_FILE_INVALID', `EPC probe file ${file}: ${where.length ? where.join('.') : '(root)'}: ${first.message}`, { path: [file, ...where] });
  }
  const probe = r.data;
  if (probe.cpuid && !probe.cpuid.sgx && probe.cpuid.sections.length > 0) {
    throw new KubeSgxError('EPC_FILE_INVALID', `EPC probe file ${file}: cpuid.sections listed although cpuid.sgx is false`, { path: [file, 'cpuid', 'sections'] });
  }
  return { ...probe, cpuid: probe.cpuid ? { ...probe.cpuid, ...(probe.cpuid.note === undefined ? {} : { note: probe.cpuid.note }) } : null };
}

/** Reads the file the init container wrote: EPC_FILE_UNREADABLE when it is missing or unreadable, EPC_FILE_INVALID when garbled. */
export async function readEpcProbeFile(file: string): Promise<EpcProbe> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new KubeSgxError(
      'EPC_FILE_UNREADABLE',
      `cannot read the EPC probe file ${file} (${code}): it is written by the node agent's init container (kube-sgx node-agent probe-epc --out ${file}); did it run, with the same emptyDir mounted?`,
      { cause: e, path: [file] },
    );
  }
  return parseEpcProbe(text, file);
}
