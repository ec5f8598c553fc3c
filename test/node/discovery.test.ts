import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { unlink } from 'node:fs/promises';
import { discoverSgx } from '../../src/node/discovery.js';
import { KubeSgxError } from '../../src/errors.js';
import { MiB, touch, fakeHosts } from './fake-host.js';

const hosts = fakeHosts('ksgx-');
const host = hosts.host;
after(() => hosts.cleanup());

describe('discoverSgx', () => {
  test('in-tree driver host: flags, devices, EPC per NUMA node, aesmd', async () => {
    const root = await host({ epc: { 0: 64 * MiB, 1: 32 * MiB }, devices: ['dev/sgx_enclave', 'dev/sgx_provision'], aesmd: true });
    const inv = await discoverSgx(root);
    assert.equal(inv.cpuSgx, true);
    assert.equal(inv.cpuFlc, true);
    assert.deepEqual(inv.enclaveDevices, ['/dev/sgx_enclave']);
    assert.equal(inv.enclaveDevice, '/dev/sgx_enclave', 'real host path, not under the host root');
    assert.equal(inv.provisionDevice, '/dev/sgx_provision');
    assert.deepEqual(inv.epcByNuma, [
      { node: 0, bytes: 64 * MiB },
      { node: 1, bytes: 32 * MiB },
    ]);
    assert.equal(inv.epcBytes, 96 * MiB);
    assert.equal(inv.epcSource, 'sysfs');
    assert.equal(inv.aesmdSocket, '/var/run/aesmd/aesm.socket');
    assert.deepEqual(inv.reasons, []);
  });

  test('legacy DCAP layout /dev/sgx/* and isgx', async () => {
    const root = await host({ epc: { 0: 8 * MiB }, devices: ['dev/sgx/enclave', 'dev/sgx/provision', 'dev/isgx'] });
    const inv = await discoverSgx(root);
    assert.equal(inv.enclaveDevice, '/dev/sgx/enclave');
    assert.equal(inv.provisionDevice, '/dev/sgx/provision');
    assert.equal(inv.legacyDriver, true);
    assert.equal(inv.aesmdSocket, null);
  });

  test('only /dev/isgx: legacy SGX1 driver, no provision, no FLC flag', async () => {
    const root = await host({ flags: ['sgx'], epc: { 0: 8 * MiB }, devices: ['dev/isgx'] });
    const inv = await discoverSgx(root);
    assert.equal(inv.enclaveDevice, '/dev/isgx');
    assert.equal(inv.provisionDevice, null);
    assert.equal(inv.cpuFlc, false);
    assert.ok(inv.reasons.some((r) => r.includes('sgx_lc')));
    assert.ok(inv.reasons.some((r) => r.includes('provision')));
  });

  test('no SGX: empty inventory with reasons, no throw', async () => {
    const root = await host({ flags: ['fpu', 'avx2'] });
    const inv = await discoverSgx(root);
    assert.equal(inv.enclaveDevice, null);
    assert.equal(inv.cpuSgx, false);
    assert.equal(inv.epcBytes, 0);
    assert.equal(inv.reasons.length, 3, inv.reasons.join('\n'));
    assert.match(inv.reasons.join('\n'), /sgx flag/);
    assert.match(inv.reasons.join('\n'), /driver not loaded/);
    assert.match(inv.reasons.join('\n'), /EPC size unknown/);
  });

  test('empty host root (no /proc at all)', async () => {
    const d = await hosts.dir();
    const inv = await discoverSgx(d);
    assert.equal(inv.cpuSgx, null);
    assert.match(inv.reasons[0], /cannot read/);
  });

  test('--epc-bytes overrides sysfs, without topology', async () => {
    const root = await host({ epc: { 0: 64 * MiB }, devices: ['dev/sgx_enclave'] });
    const inv = await discoverSgx(root, { epcBytes: 128 * MiB });
    assert.deepEqual(inv.epcByNuma, [{ node: 0, bytes: 128 * MiB }]);
    assert.equal(inv.epcSource, 'override');
    await assert.rejects(discoverSgx(root, { epcBytes: -1 }), (e: unknown) => e instanceof KubeSgxError && e.code === 'INVALID_EPC_BYTES');
  });

  test('garbage in sgx_total_bytes is reported and ignored', async () => {
    const root = await host({ epc: { 0: 'lots', 1: 16 * MiB }, devices: ['dev/sgx_enclave'] });
    const inv = await discoverSgx(root);
    assert.deepEqual(inv.epcByNuma, [{ node: 1, bytes: 16 * MiB }]);
    assert.ok(inv.reasons.some((r) => r.includes('not a decimal byte count')));
  });

  test('devices appearing and vanishing are seen on the next scan', async () => {
    const root = await host({ epc: { 0: 8 * MiB } });
    assert.equal((await discoverSgx(root)).enclaveDevice, null);
    await touch(join(root, 'dev/sgx_enclave'));
    assert.equal((await discoverSgx(root)).enclaveDevice, '/dev/sgx_enclave');
    await unlink(join(root, 'dev/sgx_enclave'));
    assert.equal((await discoverSgx(root)).enclaveDevice, null);
  });
});
