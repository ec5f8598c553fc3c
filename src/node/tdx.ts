/**
 * TDX on this node, from the host root, as the kernel shows it:
 *
 * - A TDX **host** (can run trust domains): KVM's `kvm_intel` module
 *   parameter `tdx` reads `Y` (`sys/module/kvm_intel/parameters/tdx`, what
 *   Node Feature Discovery checks for `cpu-security.tdx.enabled`); the number
 *   of TD key IDs is the `tdx` line of `sys/fs/cgroup/misc.capacity` when the
 *   kernel has the misc cgroup for it.
 * - A TDX **guest** (this node is a TD): the `tdx_guest` CPU flag in
 *   `proc/cpuinfo`, the guest device (`/dev/tdx_guest`, or `/dev/tdx-guest`
 *   from older out-of-tree drivers), or a configfs-tsm report entry whose
 *   `provider` reads `tdx_guest` (drivers/virt/coco/tsm.c prints the
 *   registered ops' name; the TDX guest driver registers as `tdx_guest`).
 *
 * Nothing here writes to the host: configfs-tsm entries are only read if
 * one exists (creating one is a mkdir the agent's read-only mount refuses).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TDX_GUEST_DEVICE_PATHS, TSM_REPORT_DIR } from '../names.js';

export interface TdxFacts {
  /** KVM on this node can run TDs. */
  host: boolean;
  /** TD key IDs (misc cgroup capacity), when known. */
  hostKeyIds: number | null;
  /** This node is a TD. */
  guest: boolean;
  /** Host path of the guest device to hand to pods, when present. */
  guestDevice: string | null;
  /** configfs-tsm provider seen in an existing report entry (e.g. tdx_guest), when one was readable. */
  tsmProvider: string | null;
  /** How each fact was established, for /status. */
  evidence: string[];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readText(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch(() => null);
}

/** The provider named by the first readable configfs-tsm report entry, or null. */
async function tsmProvider(hostRoot: string): Promise<string | null> {
  const dir = join(hostRoot, TSM_REPORT_DIR);
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const e of entries.sort()) {
    const text = await readText(join(dir, e, 'provider'));
    const name = text?.trim();
    if (name) return name;
  }
  return null;
}

/** `cpuFlags` is the flag set discovery already read (null when cpuinfo was unreadable). */
export async function discoverTdx(hostRoot: string, cpuFlags: ReadonlySet<string> | null): Promise<TdxFacts> {
  const evidence: string[] = [];
  const kvmTdx = (await readText(join(hostRoot, 'sys/module/kvm_intel/parameters/tdx')))?.trim();
  const host = kvmTdx === 'Y' || kvmTdx === 'y' || kvmTdx === '1';
  if (host) evidence.push('sys/module/kvm_intel/parameters/tdx = Y');
  let hostKeyIds: number | null = null;
  const misc = await readText(join(hostRoot, 'sys/fs/cgroup/misc.capacity'));
  const m = misc ? /^tdx\s+(\d+)$/m.exec(misc) : null;
  if (m) {
    hostKeyIds = Number(m[1]);
    evidence.push(`misc.capacity tdx ${hostKeyIds}`);
  }

  let guestDevice: string | null = null;
  for (const p of TDX_GUEST_DEVICE_PATHS) {
    if (await exists(join(hostRoot, p))) {
      guestDevice = p;
      evidence.push(`${p} exists`);
      break;
    }
  }
  const flag = cpuFlags?.has('tdx_guest') ?? false;
  if (flag) evidence.push('cpu flag tdx_guest');
  const provider = await tsmProvider(hostRoot);
  if (provider) evidence.push(`configfs-tsm provider ${provider}`);
  const guest = guestDevice !== null || flag || provider === 'tdx_guest';
  return { host, hostKeyIds, guest, guestDevice, tsmProvider: provider, evidence };
}
