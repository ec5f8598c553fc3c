/**
 * EPC from CPUID leaf 0x12 through the cpuid device. The fake device is a
 * sparse regular file read with the same 16-byte preads at 64-bit offsets
 * (leaf + subleaf * 2^32) the real /dev/cpu/N/cpuid answers.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, open, symlink } from 'node:fs/promises';
import { decodeEpcSubleaf, readCpuidEpc, cpuidOffset } from '../../src/node/cpuid.js';
import { discoverSgx } from '../../src/node/discovery.js';
import { startNodeAgent } from '../../src/nodeagent/agent.js';
import { LEGACY_EPC_RESOURCE } from '../../src/names.js';
import { KubeletStandIn } from '../../src/demo/kubelet-stand-in.js';
import { KubeSgxError } from '../../src/errors.js';
import { makeFakeHost, MiB, fakeHosts } from './fake-host.js';

const GiB = 1024 * MiB;
const hosts = fakeHosts('ksgx-');
const host = hosts.host;
after(() => hosts.cleanup());

const isCode = (code: string) => (e: unknown) => e instanceof KubeSgxError && e.code === code;
/** Two sockets' EPC as an Ice Lake SP reports it: 64 GiB each above 4 GiB physical. */
const TWO_SOCKETS = [
  { base: 0x40_0000_0000, bytes: 64 * GiB },
  { base: 0x80_0000_0000, bytes: 64 * GiB },
];

describe('CPUID leaf 0x12 decoding', () => {
  test('register layout: type EAX[3:0], base EAX[31:12]|EBX[19:0]<<32, size ECX[31:12]|EDX[19:0]<<32', () => {
    // A client part with 128 MiB PRM: EPC at 0x70200000, 93.5 MiB; low bits and reserved high bits ignored.
    assert.deepEqual(decodeEpcSubleaf({ eax: 0x70200001, ebx: 0xfff00000, ecx: 0x05d80001, edx: 0xfff00000 }), { base: 0x70200000, bytes: 0x05d80000 });
    // Above 4 GiB: base 0x40_0000_0000 (EBX=0x40), size 64 GiB (EDX=0x10).
    assert.deepEqual(decodeEpcSubleaf({ eax: 0x1, ebx: 0x40, ecx: 0x1, edx: 0x10 }), { base: 0x40_0000_0000, bytes: 64 * GiB });
    // The largest encodable values stay exact (52-bit physical addresses).
    assert.deepEqual(decodeEpcSubleaf({ eax: 0xfffff001, ebx: 0xfffff, ecx: 0xfffff001, edx: 0xfffff }), { base: 2 ** 52 - 4096, bytes: 2 ** 52 - 4096 });
    assert.equal(decodeEpcSubleaf({ eax: 0, ebx: 0, ecx: 0, edx: 0 }), null);
    assert.deepEqual(decodeEpcSubleaf({ eax: 0x70200002, ebx: 0, ecx: 0, edx: 0 }), { reservedType: 2 });
    assert.equal(cpuidOffset(0x12, 2), 0x2_0000_0012);
  });

  test('reads a device file written by hand at the offsets the kernel uses', async () => {
    const root = await hosts.dir();
    await mkdir(join(root, 'dev/cpu/0'), { recursive: true });
    const fh = await open(join(root, 'dev/cpu/0/cpuid'), 'w');
    const put = async (offset: number, hex: string) => fh.write(Buffer.from(hex, 'hex'), 0, 16, offset);
    await put(0x0, '1b000000' + '47656e75' + '6e74656c' + '696e6549'); // max basic leaf 0x1b
    await put(0x7, '00000000' + '04000000' + '00000000' + '00000000'); // EBX bit 2: SGX
    await put(0x2_0000_0012, '01002070' + '00000000' + '0100d805' + '00000000'); // section: 0x70200000, 0x5d80000 bytes
    await put(0x3_0000_0012, '00'.repeat(16)); // end marker
    await fh.close();
    const epc = await readCpuidEpc(root);
    assert.deepEqual(epc, { device: '/dev/cpu/0/cpuid', sgx: true, sections: [{ base: 0x70200000, bytes: 0x05d80000 }] });
  });
});

describe('discoverSgx with the cpuid device', () => {
  test('no sysfs EPC (kernel < 5.17, DCAP driver): EPC from CPUID, source cpuid, sections listed', async () => {
    const root = await host({ devices: ['dev/sgx/enclave', 'dev/sgx/provision'], cpuid: { sections: TWO_SOCKETS } });
    const inv = await discoverSgx(root);
    assert.equal(inv.epcSource, 'cpuid');
    assert.equal(inv.epcBytes, 128 * GiB);
    assert.deepEqual(inv.epcByNuma, [{ node: 0, bytes: 128 * GiB }], 'NUMA node unknown: one entry, no topology');
    assert.deepEqual(inv.epcSections, [
      { base: '0x4000000000', bytes: 64 * GiB },
      { base: '0x8000000000', bytes: 64 * GiB },
    ]);
    assert.equal(inv.cpuidDevice, '/dev/cpu/0/cpuid');
    assert.deepEqual(inv.reasons, []);
  });

  test('sysfs wins when present; --epc-bytes wins over both', async () => {
    const root = await host({ epc: { 0: 8 * MiB }, devices: ['dev/sgx_enclave'], cpuid: { sections: TWO_SOCKETS } });
    const inv = await discoverSgx(root);
    assert.equal(inv.epcSource, 'sysfs');
    assert.equal(inv.epcBytes, 8 * MiB);
    assert.equal(inv.epcSections, undefined);
    assert.equal((await discoverSgx(root, { epcBytes: 16 * MiB })).epcSource, 'override');
  });

  test('a cpuid device that returns nothing is a named error, not an empty inventory', async () => {
    const root = await host({ devices: ['dev/sgx_enclave'], cpuid: 'empty' });
    await assert.rejects(discoverSgx(root), (e: unknown) => isCode('CPUID_READ_FAILED')(e) && /returned 0 bytes/.test((e as Error).message) && /--epc-bytes/.test((e as Error).message));
  });

  test('a cpuid device that cannot be opened is a named error naming the device', async () => {
    const root = await host({ devices: ['dev/sgx_enclave'] });
    await mkdir(join(root, 'dev/cpu/0'), { recursive: true });
    await symlink(join(root, 'nowhere'), join(root, 'dev/cpu/0/cpuid'));
    await assert.rejects(discoverSgx(root), (e: unknown) => isCode('CPUID_UNREADABLE')(e) && /\/dev\/cpu\/0\/cpuid/.test((e as Error).message));
  });

  test('no cpuid device: a reason that says how to get one', async () => {
    const root = await host({ devices: ['dev/sgx_enclave'] });
    const inv = await discoverSgx(root);
    assert.equal(inv.epcSource, 'none');
    assert.equal(inv.epcBytes, 0);
    assert.match(inv.reasons.join('\n'), /modprobe cpuid/);
  });

  test('CPUID without SGX, or a maximum leaf below 0x12, is not read as sections', async () => {
    for (const cpuid of [{ sgx: false, sections: TWO_SOCKETS }, { maxLeaf: 0xd, sections: TWO_SOCKETS }]) {
      const inv = await discoverSgx(await host({ devices: ['dev/sgx_enclave'], cpuid }));
      assert.equal(inv.epcBytes, 0, JSON.stringify(cpuid));
      assert.match(inv.reasons.join('\n'), /does not report SGX/);
    }
  });

  test('a reserved sub-leaf type ends the list (as Linux does) and is reported', async () => {
    const inv = await discoverSgx(await host({ devices: ['dev/sgx_enclave'], cpuid: { sections: TWO_SOCKETS.slice(0, 1), trailingType: 5 } }));
    assert.equal(inv.epcBytes, 64 * GiB);
    assert.match(inv.reasons.join('\n'), /reserved type 5/);
  });

  test('no SGX driver: the cpuid device is not consulted', async () => {
    const inv = await discoverSgx(await host({ cpuid: 'empty' }));
    assert.equal(inv.enclaveDevice, null);
    assert.equal(inv.epcSource, 'none');
  });
});

describe('node agent with EPC from CPUID', () => {
  test('advertises the CPUID EPC without NUMA topology and says so in /status', async () => {
    const root = await hosts.dir();
    const hostRoot = join(root, 'h');
    const kubeletDir = join(root, 'k');
    await makeFakeHost(hostRoot, { devices: ['dev/sgx/enclave', 'dev/sgx/provision'], cpuid: { sections: [{ base: 0x70200000, bytes: 92 * MiB }] } });
    await mkdir(kubeletDir);
    const kubelet = await KubeletStandIn.start({ dir: kubeletDir });
    const agent = await startNodeAgent({ hostRoot, kubeletDir, nodeUpdate: false, metricsAddr: '127.0.0.1:0', pollMs: 50 });
    try {
      await kubelet.waitFor(() => (kubelet.resource(LEGACY_EPC_RESOURCE)?.healthy ?? 0) > 0, 10_000, 'EPC inventory');
      const epc = kubelet.resource(LEGACY_EPC_RESOURCE)!;
      assert.equal(epc.healthy, 92);
      assert.ok(epc.devices.every((d) => !d.topology?.nodes?.length), 'no NUMA topology from CPUID');
      const st = (await (await fetch(agent.opsUrl + '/status')).json()) as { sgx: { epcSource: string; inventory: { epcSections: unknown } } };
      assert.equal(st.sgx.epcSource, 'cpuid');
      assert.deepEqual(st.sgx.inventory.epcSections, [{ base: '0x70200000', bytes: 92 * MiB }]);
    } finally {
      await agent.stop();
      await kubelet.stop();
    }
  });

  test('a cpuid device that returns nothing stops the agent at start with the named error', async () => {
    const root = await hosts.dir();
    const hostRoot = await makeFakeHost(join(root, 'h'), { devices: ['dev/sgx_enclave'], cpuid: 'empty' });
    await assert.rejects(startNodeAgent({ hostRoot, kubeletDir: join(root, 'k'), nodeUpdate: false }), isCode('CPUID_READ_FAILED'));
  });
});
