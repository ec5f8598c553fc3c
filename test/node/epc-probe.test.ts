/**
 * The EPC probe file: a privileged init container reads CPUID (probe-epc),
 * the unprivileged agent reads the file (--epc-file). Fake cpuid devices are
 * sparse files read at the real device's offsets (fake-host.ts).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { EPC_PROBE_FORMAT, parseEpcProbe, type EpcProbe, probeEpc, readEpcProbeFile, writeEpcProbeFile } from '../../src/node/epc-probe.js';
import { discoverSgx } from '../../src/node/discovery.js';
import { startNodeAgent } from '../../src/nodeagent/agent.js';
import { LEGACY_EPC_RESOURCE } from '../../src/names.js';
import { KubeletStandIn } from '../../src/demo/kubelet-stand-in.js';
import { KubeSgxError } from '../../src/errors.js';
import { MiB, fakeHosts } from './fake-host.js';

const hosts = fakeHosts('ksgx-probe-');
after(() => hosts.cleanup());
const isCode = (code: string, re?: RegExp) => (e: unknown) => e instanceof KubeSgxError && e.code === code && (!re || re.test(e.message));
const SECTION = { base: 0x70200000, bytes: 92 * MiB };

/** A host as the unprivileged agent sees it: the cpuid device is there but cannot be opened. */
async function unopenableCpuidHost(spec: Parameters<typeof hosts.host>[0]): Promise<string> {
  const root = await hosts.host(spec);
  await mkdir(join(root, 'dev/cpu/0'), { recursive: true });
  await symlink(join(root, 'nowhere'), join(root, 'dev/cpu/0/cpuid'));
  return root;
}

describe('probe-epc: what the privileged init container writes', () => {
  test('no sysfs EPC: CPUID sections, written and read back unchanged', async () => {
    const root = await hosts.host({ devices: ['dev/sgx/enclave'], cpuid: { sections: [SECTION] } });
    const probe = await probeEpc(root);
    assert.deepEqual(probe, { format: EPC_PROBE_FORMAT, sysfsEpc: false, cpuid: { device: '/dev/cpu/0/cpuid', sgx: true, sections: [SECTION] } });
    const file = join(await hosts.dir(), 'epc.json');
    await writeEpcProbeFile(file, probe);
    assert.deepEqual(await readEpcProbeFile(file), probe);
  });

  test('sysfs has EPC: the cpuid device is not opened (an empty one would fail)', async () => {
    const probe = await probeEpc(await hosts.host({ epc: { 0: 8 * MiB }, devices: ['dev/sgx_enclave'], cpuid: 'empty' }));
    assert.equal(probe.sysfsEpc, true);
    assert.equal(probe.cpuid, null);
  });

  test('no cpuid device: a probe that says so; a device that answers nothing: CPUID_READ_FAILED', async () => {
    const none = await probeEpc(await hosts.host({ devices: ['dev/sgx_enclave'] }));
    assert.equal(none.cpuid, null);
    assert.match(none.reason ?? '', /modprobe cpuid/);
    await assert.rejects(probeEpc(await hosts.host({ devices: ['dev/sgx_enclave'], cpuid: 'empty' })), isCode('CPUID_READ_FAILED'));
  });

  test('CLI: kube-sgx node-agent probe-epc --host-root --out', async () => {
    const root = await hosts.host({ devices: ['dev/sgx/enclave'], cpuid: { sections: [SECTION] } });
    const out = join(await hosts.dir(), 'epc.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(process.cwd(), 'src', 'cli', 'main.ts'), 'node-agent', 'probe-epc', '--host-root', root, '--out', out], {
      encoding: 'utf8',
      env: { ...process.env, NODE_TEST_CONTEXT: '' },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const probe = JSON.parse(await readFile(out, 'utf8')) as { cpuid: { sections: unknown } };
    assert.deepEqual(probe.cpuid.sections, [SECTION]);
  });
});

describe('--epc-file: the unprivileged agent uses the probe', () => {
  test('the agent starts where the cpuid device cannot be opened, advertises the probed EPC, /status names the file', async () => {
    const hostRoot = await unopenableCpuidHost({ devices: ['dev/sgx/enclave', 'dev/sgx/provision'] });
    await assert.rejects(discoverSgx(hostRoot), isCode('CPUID_UNREADABLE'), 'without the file, the device would be opened');
    const dir = await hosts.dir();
    const epcFile = join(dir, 'epc.json');
    await writeEpcProbeFile(epcFile, { format: EPC_PROBE_FORMAT, sysfsEpc: false, cpuid: { device: '/dev/cpu/0/cpuid', sgx: true, sections: [SECTION] } });
    const kubeletDir = join(dir, 'k');
    await mkdir(kubeletDir);
    const kubelet = await KubeletStandIn.start({ dir: kubeletDir });
    const agent = await startNodeAgent({ hostRoot, kubeletDir, epcFile, nodeUpdate: false, metricsAddr: '127.0.0.1:0', pollMs: 50, discoveryIntervalMs: 100 });
    try {
      await kubelet.waitFor(() => (kubelet.resource(LEGACY_EPC_RESOURCE)?.healthy ?? 0) > 0, 10_000, 'EPC inventory');
      assert.equal(kubelet.resource(LEGACY_EPC_RESOURCE)!.healthy, 92);
      await agent.rediscover(); // periodic discovery keeps using the file, never the device
      const st = (await (await fetch(agent.opsUrl + '/status')).json()) as { sgx: { epcSource: string; epcProbeFile?: string; inventory: { epcSections: unknown; cpuidDevice: string } } };
      assert.equal(st.sgx.epcSource, 'cpuid');
      assert.equal(st.sgx.epcProbeFile, epcFile);
      assert.equal(st.sgx.inventory.cpuidDevice, '/dev/cpu/0/cpuid');
      assert.deepEqual(st.sgx.inventory.epcSections, [{ base: '0x70200000', bytes: 92 * MiB }]);
    } finally {
      await agent.stop();
      await kubelet.stop();
    }
  });

  test('sysfs still wins over the file; a probe without CPUID is a reason naming the file', async () => {
    const probe: EpcProbe = { format: EPC_PROBE_FORMAT, sysfsEpc: false, cpuid: { device: '/dev/cpu/0/cpuid', sgx: true, sections: [SECTION] } };
    const sysfs = await discoverSgx(await hosts.host({ epc: { 0: 16 * MiB }, devices: ['dev/sgx_enclave'] }), { cpuidProbe: { file: '/run/kube-sgx/epc.json', probe } });
    assert.equal(sysfs.epcSource, 'sysfs');
    assert.equal(sysfs.epcBytes, 16 * MiB);
    assert.equal(sysfs.epcProbeFile, undefined);
    const empty = await discoverSgx(await unopenableCpuidHost({ devices: ['dev/sgx_enclave'] }), {
      cpuidProbe: { file: '/run/kube-sgx/epc.json', probe: { format: EPC_PROBE_FORMAT, sysfsEpc: false, cpuid: null, reason: 'no cpuid device (dev/cpu/N/cpuid) on the host: modprobe cpuid' } },
    });
    assert.equal(empty.epcSource, 'none');
    assert.match(empty.reasons.join('\n'), /init container's probe \(\/run\/kube-sgx\/epc\.json\).*modprobe cpuid/);
  });

  test('a missing file stops the start: EPC_FILE_UNREADABLE naming it', async () => {
    const dir = await hosts.dir();
    const hostRoot = await hosts.host({ devices: ['dev/sgx_enclave'] });
    const missing = join(dir, 'nope.json');
    await assert.rejects(startNodeAgent({ hostRoot, kubeletDir: dir, epcFile: missing, nodeUpdate: false }), isCode('EPC_FILE_UNREADABLE', /nope\.json \(ENOENT\).*probe-epc/));
  });

  test('a garbled file stops the start: EPC_FILE_INVALID naming the field', async () => {
    const dir = await hosts.dir();
    const file = join(dir, 'epc.json');
    await writeFile(file, '{"format": "kube-sgx-epc-probe/v1", "sysfsEpc": fal');
    await assert.rejects(startNodeAgent({ hostRoot: await hosts.host({ devices: ['dev/sgx_enclave'] }), kubeletDir: dir, epcFile: file, nodeUpdate: false }), isCode('EPC_FILE_INVALID', /not JSON/));
    const ok = { format: EPC_PROBE_FORMAT, sysfsEpc: false, cpuid: { device: '/dev/cpu/0/cpuid', sgx: true, sections: [SECTION] } };
    const cases: [unknown, RegExp][] = [
      [{ ...ok, format: 'v0' }, /format/],
      [{ ...ok, cpuid: { ...ok.cpuid, sections: [{ base: 0x70200000, bytes: 1000 }] } }, /cpuid\.sections\.0\.bytes: must be a safe integer multiple of 4096/],
      [{ ...ok, cpuid: { ...ok.cpuid, sections: [{ base: 0, bytes: 0 }] } }, /cpuid\.sections\.0\.bytes/],
      [{ ...ok, cpuid: { ...ok.cpuid, device: '/host/dev/cpu/0/cpuid' } }, /cpuid\.device/],
      [{ ...ok, cpuid: { ...ok.cpuid, sgx: false } }, /sections listed although cpuid\.sgx is false/],
      [{ ...ok, extra: 1 }, /\(root\)/],
      [[], /\(root\)/],
    ];
    for (const [json, re] of cases) assert.throws(() => parseEpcProbe(JSON.stringify(json), file), isCode('EPC_FILE_INVALID', re), JSON.stringify(json));
  });
});
