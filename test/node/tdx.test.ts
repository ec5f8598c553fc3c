/**
 * TDX hosts and guests from fake host trees: discovery, the labels the node
 * agent patches, and `tdx.intel.com/tdx-guest` served over the real
 * device-plugin gRPC to the kubelet stand-in.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, unlink } from 'node:fs/promises';
import { discoverSgx } from '../../src/node/discovery.js';
import { nodeFactsFor } from '../../src/node/node-status.js';
import { startNodeAgent, parseSgxResourceList } from '../../src/nodeagent/agent.js';
import { KubeletStandIn } from '../../src/demo/kubelet-stand-in.js';
import { ENCLAVE_RESOURCE, LABEL_INTEL_NFD_TDX, LABEL_INTEL_NFD_TDX_GUEST, LABEL_TDX, TDX_GUEST_RESOURCE } from '../../src/names.js';
import { fakeHosts } from './fake-host.js';

const hosts = fakeHosts('ksgx-tdx-');
const host = hosts.host;
after(() => hosts.cleanup());

const TDX_HOST_FILES = { 'sys/module/kvm_intel/parameters/tdx': 'Y\n', 'sys/fs/cgroup/misc.capacity': 'sev 0\ntdx 63\n' };
const TD_FLAGS = ['fpu', 'tsc', 'hypervisor', 'tdx_guest'];

describe('TDX discovery and labels', () => {
  test('a TDX host: kvm_intel tdx=Y, key IDs from the misc cgroup; labelled host and with Intel\'s NFD label', async () => {
    const inv = await discoverSgx(await host({ devices: ['dev/sgx_enclave', 'dev/sgx_provision'], epc: { 0: 1 << 26 } }, TDX_HOST_FILES));
    assert.equal(inv.tdx?.host, true);
    assert.equal(inv.tdx?.hostKeyIds, 63);
    assert.equal(inv.tdx?.guest, false);
    const labels = nodeFactsFor(inv).labels;
    assert.equal(labels[LABEL_TDX], 'host');
    assert.equal(labels[LABEL_INTEL_NFD_TDX], 'true');
    assert.equal(LABEL_INTEL_NFD_TDX_GUEST in labels, false);
    assert.equal(labels['sgx.intel.com/capable'], 'true', 'SGX facts are unchanged');
  });

  test('a TDX guest: cpu flag, /dev/tdx_guest and configfs-tsm provider tdx_guest; labelled guest', async () => {
    const root = await host({ flags: TD_FLAGS, devices: ['dev/tdx_guest'] }, { 'sys/kernel/config/tsm/report/r0/provider': 'tdx_guest\n' });
    const inv = await discoverSgx(root);
    assert.equal(inv.tdx?.guest, true);
    assert.equal(inv.tdx?.guestDevice, '/dev/tdx_guest');
    assert.equal(inv.tdx?.tsmProvider, 'tdx_guest');
    assert.deepEqual(inv.tdx?.evidence, ['/dev/tdx_guest exists', 'cpu flag tdx_guest', 'configfs-tsm provider tdx_guest']);
    const labels = nodeFactsFor(inv).labels;
    assert.equal(labels[LABEL_TDX], 'guest');
    assert.equal(labels[LABEL_INTEL_NFD_TDX_GUEST], 'enabled');
    assert.equal(LABEL_INTEL_NFD_TDX in labels, false);
  });

  test('each guest signal alone is enough; the older /dev/tdx-guest name is found', async () => {
    const old = await discoverSgx(await host({ flags: ['fpu'], devices: ['dev/tdx-guest'] }));
    assert.equal(old.tdx?.guestDevice, '/dev/tdx-guest');
    const tsmOnly = await discoverSgx(await host({ flags: ['fpu'] }, { 'sys/kernel/config/tsm/report/x/provider': 'tdx_guest\n' }));
    assert.deepEqual([tsmOnly.tdx?.guest, tsmOnly.tdx?.guestDevice], [true, null]);
    const sevTsm = await discoverSgx(await host({ flags: ['fpu'] }, { 'sys/kernel/config/tsm/report/x/provider': 'sev_guest\n' }));
    assert.equal(sevTsm.tdx?.guest, false, 'another TSM provider is not TDX');
  });

  test('neither: no TDX labels but kube-sgx.io/tdx is removed; kvm_intel tdx=N is not a host', async () => {
    const inv = await discoverSgx(await host({ devices: ['dev/sgx_enclave'] }, { 'sys/module/kvm_intel/parameters/tdx': 'N\n' }));
    assert.deepEqual([inv.tdx?.host, inv.tdx?.guest], [false, false]);
    const labels = nodeFactsFor(inv).labels;
    assert.equal(labels[LABEL_TDX], null);
    assert.equal(LABEL_INTEL_NFD_TDX in labels, false);
  });

  test('--resources accepts tdx-guest', () => {
    assert.deepEqual(parseSgxResourceList('enclave,tdx-guest'), [ENCLAVE_RESOURCE, TDX_GUEST_RESOURCE]);
    assert.deepEqual(parseSgxResourceList(TDX_GUEST_RESOURCE), [TDX_GUEST_RESOURCE]);
  });
});

describe('tdx.intel.com/tdx-guest device plugin', () => {
  test('on a TD node it is registered by default and Allocate hands out /dev/tdx_guest; a lost device turns it Unhealthy', async () => {
    const root = await host({ flags: TD_FLAGS, devices: ['dev/tdx_guest'] });
    const kubeletDir = join(root, 'kubelet');
    await mkdir(kubeletDir);
    const kubelet = await KubeletStandIn.start({ dir: kubeletDir });
    const agent = await startNodeAgent({ hostRoot: root, kubeletDir, nodeUpdate: false, pollMs: 50, discoveryIntervalMs: 100 });
    try {
      await kubelet.waitFor(() => (kubelet.resource(TDX_GUEST_RESOURCE)?.healthy ?? 0) === 110, 10_000, 'tdx-guest inventory');
      const ids = kubelet.resource(TDX_GUEST_RESOURCE)!.devices.slice(0, 1).map((d) => d.ID);
      const res = await kubelet.allocate(TDX_GUEST_RESOURCE, ids);
      assert.deepEqual(res.container_responses[0]?.devices, [{ container_path: '/dev/tdx_guest', host_path: '/dev/tdx_guest', permissions: 'rw' }]);
      await assert.rejects(kubelet.allocate(TDX_GUEST_RESOURCE, ['tdx-guest-110']), /unknown device ID/);
      // The SGX plugins still register (empty: a TD has no SGX).
      assert.equal(kubelet.resource(ENCLAVE_RESOURCE)?.devices.length, 0);

      await unlink(join(root, 'dev/tdx_guest'));
      await kubelet.waitFor(() => (kubelet.resource(TDX_GUEST_RESOURCE)?.unhealthy ?? 0) === 110, 10_000, 'devices unhealthy after the device vanished');
      await assert.rejects(kubelet.allocate(TDX_GUEST_RESOURCE, ids), /no TDX guest device/);
    } finally {
      await agent.stop();
      await kubelet.stop();
    }
  });

  test('on an SGX node it is not registered unless asked for, and then advertises nothing', async () => {
    const root = await host({ devices: ['dev/sgx_enclave', 'dev/sgx_provision'], epc: { 0: 1 << 26 } });
    const kubeletDir = join(root, 'kubelet');
    await mkdir(kubeletDir);
    const kubelet = await KubeletStandIn.start({ dir: kubeletDir });
    let agent = await startNodeAgent({ hostRoot: root, kubeletDir, nodeUpdate: false, pollMs: 50 });
    try {
      await kubelet.waitFor(() => kubelet.resource(ENCLAVE_RESOURCE)?.connected === true, 10_000, 'SGX plugins registered');
      assert.equal(agent.status().plugins.some((p) => p.resource === TDX_GUEST_RESOURCE), false);
      await agent.stop();
      agent = await startNodeAgent({ hostRoot: root, kubeletDir, nodeUpdate: false, pollMs: 50, resources: [TDX_GUEST_RESOURCE] });
      await kubelet.waitFor(() => kubelet.resource(TDX_GUEST_RESOURCE)?.connected === true, 10_000, 'tdx-guest registered');
      assert.equal(kubelet.resource(TDX_GUEST_RESOURCE)?.devices.length, 0);
      assert.match(agent.status().plugins.find((p) => p.resource === TDX_GUEST_RESOURCE)?.reason ?? '', /no TDX guest device/);
    } finally {
      await agent.stop();
      await kubelet.stop();
    }
  });
});
