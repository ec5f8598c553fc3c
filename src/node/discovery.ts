/**
 * SGX discovery from a host root: what the CPU reports, which SGX device
 * nodes exist, how much EPC each NUMA node has, and whether aesmd's socket
 * is there. Everything is read below `hostRoot` (default `/`; a DaemonSet
 * mounts the host at e.g. /host), but the paths this returns are the real
 * host paths (`/dev/sgx_enclave`, never `/host/dev/sgx_enclave`): they go
 * to the kubelet, which resolves them on the host.
 *
 * "No SGX" is not an error: it is an inventory with `enclaveDevice` null
 * and a human-readable `reasons` list.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeSgxError } from '../errors.js';
import { readCpuidEpc } from './cpuid.js';
import type { EpcProbe } from './epc-probe.js';
import { discoverTdx, type TdxFacts } from './tdx.js';
import { AESMD_SOCKET_PATH, SGX_DEVICE_PATHS } from '../names.js';


export interface EpcNumaNode {
  /** NUMA node number (the N of sys/devices/system/node/nodeN). */
  node: number;
  bytes: number;
}

export interface SgxInventory {
  hostRoot: string;
  /** cpuinfo flags; null when /proc/cpuinfo could not be read. */
  cpuSgx: boolean | null;
  cpuFlc: boolean | null;
  /** Host paths of the device nodes found, in preference order. */
  enclaveDevices: string[];
  provisionDevices: string[];
  /** The device to hand to containers for enclaves: first of enclaveDevices, else /dev/isgx, else null. */
  enclaveDevice: string | null;
  provisionDevice: string | null;
  /** `/dev/isgx` (the out-of-tree SGX1 driver without FLC) is present. */
  legacyDriver: boolean;
  /** EPC per NUMA node; one entry for node 0 when it came from --epc-bytes or CPUID (NUMA node unknown). */
  epcByNuma: EpcNumaNode[];
  epcBytes: number;
  /** Where epcBytes came from: --epc-bytes, sysfs sgx_total_bytes, CPUID leaf 0x12 through the cpuid device, or nowhere. */
  epcSource: 'sysfs' | 'cpuid' | 'override' | 'none';
  /** The EPC sections CPUID enumerated (base as 0x hex), when epcSource is cpuid. */
  epcSections?: { base: string; bytes: number }[];
  /** Host path of the cpuid device read, when epcSource is cpuid. */
  cpuidDevice?: string;
  /** The probe file CPUID was taken from (read by the privileged init container), when epcSource is cpuid and --epc-file was given. */
  epcProbeFile?: string;
  /** Host path of aesmd's socket when it exists. */
  aesmdSocket: string | null;
  /** Why SGX (or part of it) is not usable; empty when everything was found. */
  reasons: string[];
  /** TDX host / guest facts (src/node/tdx.ts); absent in inventories built by hand. */
  tdx?: TdxFacts;
}

export interface DiscoverSgxOptions {
  /** Overrides sysfs: total EPC in bytes (kernels without sgx_total_bytes). */
  epcBytes?: number;
  /** CPUID leaf 0x12 as the init container read it (--epc-file): used instead of opening the cpuid device here. */
  cpuidProbe?: { file: string; probe: EpcProbe };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readCpuFlags(hostRoot: string): Promise<Set<string> | null> {
  let text: string;
  try {
    text = await readFile(join(hostRoot, 'proc', 'cpuinfo'), 'utf8');
  } catch {
    return null;
  }
  const flags = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^flags\s*:\s*(.*)$/.exec(line);
    if (m) for (const f of m[1].trim().split(/\s+/)) flags.add(f);
  }
  return flags;
}

/** EPC per NUMA node from sysfs; malformed files are skipped with a reason. */
export async function readEpcSysfs(hostRoot: string, reasons: string[]): Promise<EpcNumaNode[]> {
  const base = join(hostRoot, 'sys', 'devices', 'system', 'node');
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return [];
  }
  const out: EpcNumaNode[] = [];
  for (const name of names) {
    const m = /^node(\d+)$/.exec(name);
    if (!m) continue;
    const file = join(base, name, 'x86', 'sgx_total_bytes');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue; // node without EPC (or SGX not initialised)
    }
    const trimmed = text.trim();
    if (!/^\d{1,16}$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
      reasons.push(`ignored ${file}: not a decimal byte count (${JSON.stringify(trimmed.slice(0, 40))})`);
      continue;
    }
    const bytes = Number(trimmed);
    if (bytes > 0) out.push({ node: Number(m[1]), bytes });
  }
  return out.sort((a, b) => a.node - b.node);
}

export async function discoverSgx(hostRoot = '/', opts: DiscoverSgxOptions = {}): Promise<SgxInventory> {
  if (opts.epcBytes !== undefined && (!Number.isSafeInteger(opts.epcBytes) || opts.epcBytes < 0)) {
    throw new KubeSgxError('INVALID_EPC_BYTES', `epcBytes must be a non-negative integer, got ${opts.epcBytes}`, { path: ['epcBytes'] });
  }
  const reasons: string[] = [];
  const under = (hostPath: string) => join(hostRoot, hostPath);

  const flags = await readCpuFlags(hostRoot);
  const cpuSgx = flags ? flags.has('sgx') : null;
  const cpuFlc = flags ? flags.has('sgx_lc') : null;
  if (flags === null) reasons.push(`cannot read ${under('/proc/cpuinfo')}`);
  else if (!cpuSgx) reasons.push('CPU does not report the sgx flag (SGX absent or disabled in BIOS)');
  else if (!cpuFlc) reasons.push('CPU does not report sgx_lc (no Flexible Launch Control: the in-tree driver will not load)');

  const enclaveDevices: string[] = [];
  for (const p of SGX_DEVICE_PATHS.enclave) if (await exists(under(p))) enclaveDevices.push(p);
  const provisionDevices: string[] = [];
  for (const p of SGX_DEVICE_PATHS.provision) if (await exists(under(p))) provisionDevices.push(p);
  const legacyDriver = await exists(under(SGX_DEVICE_PATHS.legacy));
  const enclaveDevice = enclaveDevices[0] ?? (legacyDriver ? SGX_DEVICE_PATHS.legacy : null);
  const provisionDevice = provisionDevices[0] ?? null;
  if (enclaveDevice === null) reasons.push('no SGX device node (/dev/sgx_enclave, /dev/sgx/enclave or /dev/isgx): SGX driver not loaded');
  else if (provisionDevice === null) reasons.push('no SGX provision device (/dev/sgx_provision or /dev/sgx/provision): in-process quoting unavailable');

  let epcByNuma: EpcNumaNode[];
  let epcSource: SgxInventory['epcSource'];
  let cpuidFacts: Pick<SgxInventory, 'epcSections' | 'cpuidDevice' | 'epcProbeFile'> = {};
  if (opts.epcBytes !== undefined) {
    epcByNuma = opts.epcBytes > 0 ? [{ node: 0, bytes: opts.epcBytes }] : [];
    epcSource = 'override';
  } else {
    epcByNuma = await readEpcSysfs(hostRoot, reasons);
    epcSource = epcByNuma.length > 0 ? 'sysfs' : 'none';
    // Sysfs wins; CPUID only where a driver is loaded (no device, no use for EPC) and sysfs has nothing.
    if (epcByNuma.length === 0 && enclaveDevice !== null) {
      const probe = opts.cpuidProbe;
      const cpuid = probe ? probe.probe.cpuid : await readCpuidEpc(hostRoot);
      if (cpuid === null && probe) {
        reasons.push(`EPC size unknown: no sys/devices/system/node/node*/x86/sgx_total_bytes, and the init container's probe (${probe.file}) did not read CPUID: ${probe.probe.reason ?? 'no reason given'}; pass --epc-bytes`);
      } else if (cpuid === null) {
        reasons.push('EPC size unknown: no sys/devices/system/node/node*/x86/sgx_total_bytes (kernel < 5.17 or out-of-tree driver) and no cpuid device (dev/cpu/N/cpuid: modprobe cpuid, and mount /dev into the pod); pass --epc-bytes');
      } else if (!cpuid.sgx) {
        reasons.push(`EPC size unknown: CPUID through ${cpuid.device} does not report SGX (CPUID.(7,0):EBX[2] clear or leaf 0x12 unsupported); pass --epc-bytes`);
      } else if (cpuid.sections.length === 0) {
        reasons.push(`EPC size unknown: CPUID leaf 0x12 through ${cpuid.device} enumerates no EPC section (SGX disabled or EPC size 0 in BIOS)${cpuid.note ? `; ${cpuid.note}` : ''}`);
      } else {
        const total = cpuid.sections.reduce((n, sec) => n + sec.bytes, 0);
        epcByNuma = [{ node: 0, bytes: total }];
        epcSource = 'cpuid';
        cpuidFacts = {
          cpuidDevice: cpuid.device,
          epcSections: cpuid.sections.map((sec) => ({ base: '0x' + sec.base.toString(16), bytes: sec.bytes })),
          ...(probe ? { epcProbeFile: probe.file } : {}),
        };
        if (cpuid.note) reasons.push(cpuid.note);
      }
    } else if (epcByNuma.length === 0) {
      reasons.push('EPC size unknown: no sys/devices/system/node/node*/x86/sgx_total_bytes (kernel < 5.17 or SGX not initialised); pass --epc-bytes');
    }
  }
  const epcBytes = epcByNuma.reduce((s, n) => s + n.bytes, 0);

  const aesmdSocket = (await exists(under(AESMD_SOCKET_PATH))) ? AESMD_SOCKET_PATH : null;

  return {
    hostRoot,
    cpuSgx,
    cpuFlc,
    enclaveDevices,
    provisionDevices,
    enclaveDevice,
    provisionDevice,
    legacyDriver,
    epcByNuma,
    epcBytes,
    epcSource,
    ...cpuidFacts,
    aesmdSocket,
    reasons,
    tdx: await discoverTdx(hostRoot, flags),
  };
}

/** True when enclaves can run here: a device node and (for EPC accounting) a known EPC size. */
export function sgxUsable(inv: SgxInventory): boolean {
  return inv.enclaveDevice !== null;
}
