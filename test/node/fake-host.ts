/** Builds fake host trees in temp dirs: regular files stand in for device nodes and sockets. */
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface FakeHostSpec {
  flags?: string[];
  /** EPC bytes per NUMA node, indexed by node number. */
  epc?: Record<number, number | string>;
  devices?: string[];
  aesmd?: boolean;
  cpuinfo?: boolean;
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
  return root;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
