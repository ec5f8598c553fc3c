/**
 * A simulated SGX node's host filesystem in a temp dir: what the node agent
 * reads from a real host (/proc/cpuinfo flags, EPC per NUMA node in sysfs,
 * SGX device nodes). Device nodes are regular files: discovery only checks
 * that they exist, and the paths the agent hands to the kubelet are the real
 * host paths (/dev/sgx_enclave), never these files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AESMD_SOCKET_DIR, SGX_DEVICE_PATHS } from '../names.js';

export const MiB = 1024 * 1024;

export interface SimulatedHostSpec {
  /** EPC bytes per NUMA node (default 64 MiB on nodes 0 and 1). */
  epcByNuma?: number[];
  /** Device nodes to create (default: in-tree and legacy DCAP spellings). */
  devices?: string[];
}

export const SIM_HOST_DEVICES = [SGX_DEVICE_PATHS.enclave[0], SGX_DEVICE_PATHS.provision[0], SGX_DEVICE_PATHS.enclave[1], SGX_DEVICE_PATHS.provision[1]].map((p) => p.slice(1));

async function touch(path: string, content = ''): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

/** Writes the host tree under `root`; returns the EPC total in bytes. */
export async function createSimulatedHost(root: string, spec: SimulatedHostSpec = {}): Promise<number> {
  const epc = spec.epcByNuma ?? [64 * MiB, 64 * MiB];
  const cpu = (n: number) =>
    `processor\t: ${n}\nvendor_id\t: GenuineIntel\nmodel name\t: kube-sgx simulated CPU\nflags\t\t: fpu vme de pse tsc msr pae mce sgx sgx_lc avx2 aes\n\n`;
  await touch(join(root, 'proc', 'cpuinfo'), [0, 1, 2, 3].map(cpu).join(''));
  for (const [node, bytes] of epc.entries()) {
    await touch(join(root, 'sys', 'devices', 'system', 'node', `node${node}`, 'x86', 'sgx_total_bytes'), `${bytes}\n`);
  }
  for (const d of spec.devices ?? SIM_HOST_DEVICES) await touch(join(root, d));
  // The aesmd socket directory exists on SGX hosts; the quote helper creates the socket in step 3.
  await mkdir(join(root, AESMD_SOCKET_DIR), { recursive: true });
  return epc.reduce((a, b) => a + b, 0);
}
