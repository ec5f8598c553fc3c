/**
 * The node agent against the kubelet stand-in, over real unix sockets in
 * temp dirs, with fake host trees.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { Client, Server, ServerCredentials, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import { deviceApi } from '../../src/deviceplugin/api.js';
import { startNodeAgent, type NodeAgent } from '../../src/nodeagent/agent.js';
import { KubeletStandIn } from '../../src/demo/kubelet-stand-in.js';
import { ENCLAVE_RESOURCE, LEGACY_EPC_RESOURCE, PROVISION_RESOURCE } from '../../src/names.js';
import { makeFakeHost, tempDir, removeDir, touch, MiB } from '../node/fake-host.js';
import { capturingLogger, heldPort, portIsFree } from '../ops/support.js';

const ALL = [LEGACY_EPC_RESOURCE, ENCLAVE_RESOURCE, PROVISION_RESOURCE];

interface Rig {
  root: string;
  hostRoot: string;
  kubeletDir: string;
  kubelet: KubeletStandIn;
  agent: NodeAgent;
}

async function rig(spec: Parameters<typeof makeFakeHost>[1], agentOpts: Parameters<typeof startNodeAgent>[0] = {}): Promise<Rig> {
  const root = await tempDir();
  const hostRoot = join(root, 'h');
  const kubeletDir = join(root, 'k');
  await makeFakeHost(hostRoot, spec);
  await mkdir(kubeletDir);
  const kubelet = await KubeletStandIn.start({ dir: kubeletDir });
  const agent = await startNodeAgent({
    hostRoot,
    kubeletDir,
    nodeUpdate: false,
    enclaveSlots: 5,
    provisionSlots: 3,
    discoveryIntervalMs: 100,
    pollMs: 100,
    ...agentOpts,
  });
  return { root, hostRoot, kubeletDir, kubelet, agent };
}

async function teardown(r: Rig): Promise<void> {
  await r.agent.stop();
  await r.kubelet.stop();
  await removeDir(r.root);
}

function grpcCode(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? (e as { code: number }).code : undefined;
}

const SGX_HOST = {
  epc: { 0: 64 * MiB, 1: 32 * MiB },
  devices: ['dev/sgx_enclave', 'dev/sgx_provision'],
  aesmd: true,
};

describe('node agent with an SGX host', () => {
  let r: Rig;
  before(async () => {
    r = await rig(SGX_HOST);
    await r.kubelet.waitFor(() => ALL.every((n) => (r.kubelet.resource(n)?.messages ?? 0) > 0), 30_000, 'first inventories');
  });
  after(() => teardown(r));

  test('registers each resource with version, endpoint and options', () => {
    const byName = new Map(r.kubelet.registrations.map((x) => [x.resourceName, x]));
    assert.deepEqual([...byName.keys()].sort(), [...ALL].sort());
    assert.equal(byName.get(LEGACY_EPC_RESOURCE)?.endpoint, 'kube-sgx-epc-mib.sock');
    assert.equal(byName.get(ENCLAVE_RESOURCE)?.endpoint, 'kube-sgx-enclave.sock');
    assert.equal(byName.get(PROVISION_RESOURCE)?.endpoint, 'kube-sgx-provision.sock');
    for (const reg of r.kubelet.registrations) assert.equal(reg.version, 'v1beta1');
    assert.equal(r.kubelet.resource(LEGACY_EPC_RESOURCE)?.options.get_preferred_allocation_available, true);
    assert.equal(r.kubelet.resource(ENCLAVE_RESOURCE)?.options.get_preferred_allocation_available ?? false, false);
    assert.deepEqual(r.agent.ready(), { ready: true });
  });

  test('ListAndWatch: counts, health and NUMA topology', () => {
    const epc = r.kubelet.resource(LEGACY_EPC_RESOURCE)!;
    assert.equal(epc.devices.length, 96);
    assert.equal(epc.healthy, 96);
    const perNode = new Map<number, number>();
    for (const d of epc.devices) {
      const nodes = d.topology?.nodes ?? [];
      assert.equal(nodes.length, 1);
      const id = nodes[0].ID ?? 0;
      perNode.set(id, (perNode.get(id) ?? 0) + 1);
    }
    assert.deepEqual([...perNode.entries()].sort(), [
      [0, 64],
      [1, 32],
    ]);
    assert.equal(new Set(epc.devices.map((d) => d.ID)).size, 96, 'IDs unique');
    const enclave = r.kubelet.resource(ENCLAVE_RESOURCE)!;
    assert.equal(enclave.devices.length, 5);
    assert.equal(enclave.healthy, 5);
    assert.equal(enclave.devices[0].topology ?? undefined, undefined, 'slots carry no topology');
    assert.equal(r.kubelet.resource(PROVISION_RESOURCE)!.devices.length, 3);
  });

  test('Allocate enclave: real host path, alias, aesmd env and mount', async () => {
    const res = await r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-0']);
    assert.equal(res.container_responses.length, 1);
    const c = res.container_responses[0];
    assert.deepEqual(c.devices, [
      { container_path: '/dev/sgx_enclave', host_path: '/dev/sgx_enclave', permissions: 'rw' },
      { container_path: '/dev/sgx/enclave', host_path: '/dev/sgx_enclave', permissions: 'rw' },
    ]);
    assert.deepEqual(c.envs, { SGX_AESM_ADDR: '1' });
    assert.deepEqual(c.mounts, [{ container_path: '/var/run/aesmd', host_path: '/var/run/aesmd' }]);
    for (const d of c.devices) assert.ok(!d.host_path.includes(r.hostRoot), 'never under the host root');
  });

  test('Allocate provision: only the provision device', async () => {
    const c = (await r.kubelet.allocate(PROVISION_RESOURCE, ['provision-2'])).container_responses[0];
    assert.deepEqual(c.devices, [
      { container_path: '/dev/sgx_provision', host_path: '/dev/sgx_provision', permissions: 'rw' },
      { container_path: '/dev/sgx/provision', host_path: '/dev/sgx_provision', permissions: 'rw' },
    ]);
    assert.deepEqual(c.envs, {});
    assert.deepEqual(c.mounts, []);
  });

  test('Allocate EPC units: enclave device, no provision device', async () => {
    const ids = r.kubelet.resource(LEGACY_EPC_RESOURCE)!.devices.slice(0, 10).map((d) => d.ID);
    const c = (await r.kubelet.allocate(LEGACY_EPC_RESOURCE, ids)).container_responses[0];
    assert.deepEqual(
      c.devices.map((d) => d.host_path),
      ['/dev/sgx_enclave', '/dev/sgx_enclave'],
    );
    assert.equal(c.envs.SGX_AESM_ADDR, '1');
  });

  test('GetPreferredAllocation keeps EPC on one NUMA node when it fits', async () => {
    const devs = r.kubelet.resource(LEGACY_EPC_RESOURCE)!.devices;
    const nodeOf = new Map(devs.map((d) => [d.ID, d.topology?.nodes?.[0]?.ID ?? 0]));
    const all = devs.map((d) => d.ID);
    // 20 units: best fit is node 1 (32 free) rather than node 0 (64 free)
    let ids = (await r.kubelet.preferredAllocation(LEGACY_EPC_RESOURCE, all, [], 20)).container_responses[0].deviceIDs;
    assert.equal(ids.length, 20);
    assert.deepEqual(new Set(ids.map((i) => nodeOf.get(i))), new Set([1]));
    // 40 units only fit on node 0
    ids = (await r.kubelet.preferredAllocation(LEGACY_EPC_RESOURCE, all, [], 40)).container_responses[0].deviceIDs;
    assert.deepEqual(new Set(ids.map((i) => nodeOf.get(i))), new Set([0]));
    // a must-include unit on node 0 pulls the rest there
    const must = all.find((i) => nodeOf.get(i) === 0)!;
    ids = (await r.kubelet.preferredAllocation(LEGACY_EPC_RESOURCE, all, [must], 10)).container_responses[0].deviceIDs;
    assert.ok(ids.includes(must));
    assert.deepEqual(new Set(ids.map((i) => nodeOf.get(i))), new Set([0]));
    // 80 units span both nodes
    ids = (await r.kubelet.preferredAllocation(LEGACY_EPC_RESOURCE, all, [], 80)).container_responses[0].deviceIDs;
    assert.equal(new Set(ids).size, 80);
    assert.deepEqual(new Set(ids.map((i) => nodeOf.get(i))), new Set([0, 1]));
  });

  test('malformed requests are gRPC errors and the agent keeps serving', async () => {
    const cases: [string, () => Promise<unknown>, number][] = [
      ['unknown EPC id', () => r.kubelet.allocate(LEGACY_EPC_RESOURCE, ['0', 'nope']), GrpcStatus.INVALID_ARGUMENT],
      ['out-of-range EPC id', () => r.kubelet.allocate(LEGACY_EPC_RESOURCE, ['2s']), GrpcStatus.INVALID_ARGUMENT],
      ['unknown slot', () => r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-5']), GrpcStatus.INVALID_ARGUMENT],
      ['foreign slot', () => r.kubelet.allocate(ENCLAVE_RESOURCE, ['provision-0']), GrpcStatus.INVALID_ARGUMENT],
      ['duplicate ids', () => r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-1', 'enclave-1']), GrpcStatus.INVALID_ARGUMENT],
      ['empty ids', () => r.kubelet.allocate(ENCLAVE_RESOURCE, []), GrpcStatus.INVALID_ARGUMENT],
      ['no container requests', () => r.kubelet.allocateRaw(ENCLAVE_RESOURCE, {}), GrpcStatus.INVALID_ARGUMENT],
      ['preferred: size too big', () => r.kubelet.preferredAllocation(LEGACY_EPC_RESOURCE, ['0'], [], 5), GrpcStatus.INVALID_ARGUMENT],
      ['preferred: unknown id', () => r.kubelet.preferredAllocation(LEGACY_EPC_RESOURCE, ['0', 'zzzz'], [], 1), GrpcStatus.INVALID_ARGUMENT],
    ];
    for (const [what, call, code] of cases) {
      await assert.rejects(call(), (e: unknown) => grpcCode(e) === code, what);
    }
    // Bytes that are not a protobuf AllocateRequest at all.
    const client = new Client('unix:' + join(r.kubeletDir, 'kube-sgx-enclave.sock'), credentials.createInsecure());
    const wireError = await new Promise<number | undefined>((resolve) => {
      client.makeUnaryRequest('/v1beta1.DevicePlugin/Allocate', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0x7f, 0x01]), (err) => resolve(err?.code));
    });
    client.close();
    assert.ok(wireError !== undefined && wireError !== GrpcStatus.OK, 'garbage bytes rejected');
    const ok = await r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-4']);
    assert.equal(ok.container_responses.length, 1);
    assert.equal(r.kubelet.resource(ENCLAVE_RESOURCE)?.connected, true, 'stream still up');
  });

  test('metrics and status reflect the node', async () => {
    const text = await r.agent.metrics.registry.metrics();
    assert.match(text, /kube_sgx_node_epc_bytes\{numa_node="0"\} 67108864/);
    assert.match(text, /kube_sgx_node_epc_bytes\{numa_node="1"\} 33554432/);
    assert.match(text, /kube_sgx_node_plugin_registered\{resource="sgx.intel.com\/enclave"\} 1/);
    assert.match(text, /kube_sgx_node_allocated_units_total\{resource="kubernetes.azure.com\/sgx_epc_mem_in_MiB"\} 10/);
    assert.match(text, /kube_sgx_node_sgx_available 1/);
    const st = r.agent.status();
    assert.equal(st.sgx.available, true);
    assert.deepEqual(st.epcMib, { availableUnits: 96, advertisedUnits: 96 });
  });

  test('device loss makes devices Unhealthy, its return makes them Healthy', async () => {
    const enclave = join(r.hostRoot, 'dev/sgx_enclave');
    await unlink(enclave);
    await r.kubelet.waitFor(() => r.kubelet.resource(ENCLAVE_RESOURCE)?.unhealthy === 5 && r.kubelet.resource(LEGACY_EPC_RESOURCE)?.unhealthy === 96, 30_000, 'unhealthy');
    assert.equal(r.kubelet.resource(PROVISION_RESOURCE)?.healthy, 3, 'provision device still there');
    await assert.rejects(r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-0']), (e: unknown) => grpcCode(e) === GrpcStatus.FAILED_PRECONDITION);
    await touch(enclave);
    await r.kubelet.waitFor(() => r.kubelet.resource(ENCLAVE_RESOURCE)?.healthy === 5 && r.kubelet.resource(LEGACY_EPC_RESOURCE)?.healthy === 96, 30_000, 'healthy again');
  });

  test('kubelet restart: sockets deleted, kubelet.sock re-created → re-registered', async () => {
    const before = r.kubelet.registrations.length;
    await r.kubelet.restart();
    // Woken by fs.watch (and the 100 ms poll); the deadline only turns a hang into a failure on a loaded machine.
    await r.kubelet.waitFor(() => ALL.every((n) => r.kubelet.resource(n)?.connected && (r.kubelet.resource(n)?.messages ?? 0) > 0 && r.kubelet.registrations.length >= before + 3), 30_000, 're-registration');
    assert.equal(r.kubelet.resource(LEGACY_EPC_RESOURCE)?.devices.length, 96);
    assert.ok(r.agent.manager.kubeletRestarts >= 1);
    assert.match(await r.agent.metrics.registry.metrics(), /kube_sgx_node_kubelet_restarts_total [1-9]/);
    const c = (await r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-0'])).container_responses[0];
    assert.equal(c.devices[0].host_path, '/dev/sgx_enclave');
  });

  test('kubelet restart that leaves plugin sockets in place still re-registers', async () => {
    const before = r.kubelet.registrationCount(ENCLAVE_RESOURCE);
    await r.kubelet.restart({ deletePluginSockets: false });
    await r.kubelet.waitFor(() => r.kubelet.registrationCount(ENCLAVE_RESOURCE) > before && !!r.kubelet.resource(ENCLAVE_RESOURCE)?.messages, 30_000, 're-registration');
  });

  test('own socket deleted → re-created and registered again', async () => {
    const before = r.kubelet.registrationCount(PROVISION_RESOURCE);
    await unlink(join(r.kubeletDir, 'kube-sgx-provision.sock'));
    await r.kubelet.waitFor(() => r.kubelet.registrationCount(PROVISION_RESOURCE) > before && !!r.kubelet.resource(PROVISION_RESOURCE)?.messages, 30_000, 'socket re-created');
    assert.ok(existsSync(join(r.kubeletDir, 'kube-sgx-provision.sock')));
    const c = (await r.kubelet.allocate(PROVISION_RESOURCE, ['provision-0'])).container_responses[0];
    assert.equal(c.devices[0].host_path, '/dev/sgx_provision');
  });
});

describe('node agent lifecycle', () => {
  test('no SGX: empty inventories with reasons; SGX appearing later is picked up', async () => {
    const r = await rig({ flags: ['fpu'] });
    try {
      await r.kubelet.waitFor(() => ALL.every((n) => (r.kubelet.resource(n)?.messages ?? 0) > 0), 30_000, 'registrations');
      for (const n of ALL) assert.equal(r.kubelet.resource(n)?.devices.length, 0, n);
      const st = r.agent.status();
      assert.equal(st.sgx.available, false);
      assert.ok(st.plugins.every((p) => p.reason && p.reason.length > 0));
      assert.match(await r.agent.metrics.registry.metrics(), /kube_sgx_node_sgx_available 0/);
      assert.match(await r.agent.metrics.registry.metrics(), /kube_sgx_node_sgx_unavailable_reason\{reason="[^"]*driver not loaded[^"]*"\} 1/);
      // the driver loads later
      await touch(join(r.hostRoot, 'sys/devices/system/node/node0/x86/sgx_total_bytes'), String(16 * MiB));
      await touch(join(r.hostRoot, 'dev/sgx_enclave'));
      await r.kubelet.waitFor(() => r.kubelet.resource(LEGACY_EPC_RESOURCE)?.healthy === 16 && r.kubelet.resource(ENCLAVE_RESOURCE)?.healthy === 5, 3000, 'SGX picked up');
      assert.equal(r.kubelet.resource(PROVISION_RESOURCE)?.devices.length, 0, 'still no provision device');
      const c = (await r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-0'])).container_responses[0];
      assert.deepEqual(c.envs, {}, 'no aesmd socket → no SGX_AESM_ADDR');
      assert.deepEqual(c.mounts, [{ container_path: '/var/run/aesmd', host_path: '/var/run/aesmd' }], 'the socket directory is mounted anyway');
    } finally {
      await teardown(r);
    }
  });

  test('aesmd socket directory mounted before the quote helper starts, and after', async () => {
    const r = await rig({ epc: { 0: 16 * MiB }, devices: ['dev/sgx_enclave', 'dev/sgx_provision'] });
    const dirMount = { container_path: '/var/run/aesmd', host_path: '/var/run/aesmd' };
    try {
      await r.kubelet.waitFor(() => r.kubelet.resource(ENCLAVE_RESOURCE)?.healthy === 5 && r.kubelet.resource(LEGACY_EPC_RESOURCE)?.healthy === 16, 30_000, 'inventories');
      assert.equal(r.agent.inventory()?.aesmdSocket, null, 'no socket yet');
      const epcIds = r.kubelet.resource(LEGACY_EPC_RESOURCE)!.devices.slice(0, 4).map((d) => d.ID);
      const early = [
        (await r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-1'])).container_responses[0],
        (await r.kubelet.allocate(LEGACY_EPC_RESOURCE, epcIds)).container_responses[0],
      ];
      for (const c of early) {
        assert.deepEqual(c.mounts, [dirMount], 'a pod started before the quote helper still gets the directory');
        assert.equal(c.envs.SGX_AESM_ADDR, undefined);
      }
      // the quote helper comes up: the socket appears in the (already mounted) directory
      await touch(join(r.hostRoot, 'var/run/aesmd/aesm.socket'));
      await r.agent.rediscover();
      assert.equal(r.agent.inventory()?.aesmdSocket, '/var/run/aesmd/aesm.socket');
      const late = (await r.kubelet.allocate(ENCLAVE_RESOURCE, ['enclave-2'])).container_responses[0];
      assert.deepEqual(late.mounts, [dirMount], 'one mount, not two');
      assert.equal(late.envs.SGX_AESM_ADDR, '1');
      const prov = (await r.kubelet.allocate(PROVISION_RESOURCE, ['provision-0'])).container_responses[0];
      assert.deepEqual(prov.mounts, [], 'the provision device alone carries no aesmd mount');
    } finally {
      await teardown(r);
    }
  });

  test('agent restart: graceful stop removes sockets, a new agent registers again', async () => {
    const r = await rig(SGX_HOST, { resources: [ENCLAVE_RESOURCE] });
    try {
      await r.kubelet.waitFor(() => (r.kubelet.resource(ENCLAVE_RESOURCE)?.messages ?? 0) > 0, 30_000, 'registration');
      assert.equal(r.kubelet.resource(LEGACY_EPC_RESOURCE), undefined, 'only the listed resources');
      await r.agent.stop();
      assert.deepEqual((await readdir(r.kubeletDir)).sort(), ['kubelet.sock'], 'plugin sockets removed');
      await r.kubelet.waitFor(() => r.kubelet.resource(ENCLAVE_RESOURCE)?.connected === false, 30_000, 'stream end seen');
      assert.equal(r.kubelet.resource(ENCLAVE_RESOURCE)?.unhealthy, 5, 'kubelet marks devices unhealthy');
      r.agent = await startNodeAgent({ hostRoot: r.hostRoot, kubeletDir: r.kubeletDir, nodeUpdate: false, resources: [ENCLAVE_RESOURCE], enclaveSlots: 5, pollMs: 100 });
      await r.kubelet.waitFor(() => r.kubelet.registrationCount(ENCLAVE_RESOURCE) === 2 && r.kubelet.resource(ENCLAVE_RESOURCE)?.healthy === 5, 30_000, 're-registration');
    } finally {
      await teardown(r);
    }
  });

  test('kubelet not running yet: agent serves, registers once kubelet.sock appears', async () => {
    const root = await tempDir();
    const hostRoot = join(root, 'h');
    const kubeletDir = join(root, 'k');
    await makeFakeHost(hostRoot, SGX_HOST);
    const agent = await startNodeAgent({ hostRoot, kubeletDir, nodeUpdate: false, resources: [ENCLAVE_RESOURCE], pollMs: 100 });
    let kubelet: KubeletStandIn | undefined;
    try {
      assert.equal(agent.ready().ready, false);
      kubelet = await KubeletStandIn.start({ dir: kubeletDir });
      const k = kubelet;
      await k.waitFor(() => (k.resource(ENCLAVE_RESOURCE)?.healthy ?? 0) === 110, 30_000, 'late registration');
      assert.equal(agent.ready().ready, true);
    } finally {
      await agent.stop();
      await kubelet?.stop();
      await removeDir(root);
    }
  });

  test('kubelet directory wiped and re-created: sockets re-created, registered again', async () => {
    const r = await rig(SGX_HOST, { resources: [ENCLAVE_RESOURCE] });
    try {
      await r.kubelet.waitFor(() => (r.kubelet.resource(ENCLAVE_RESOURCE)?.messages ?? 0) > 0, 30_000, 'registration');
      await r.kubelet.stop();
      await removeDir(r.kubeletDir);
      r.kubelet = await KubeletStandIn.start({ dir: r.kubeletDir });
      const k = r.kubelet;
      await k.waitFor(() => k.resource(ENCLAVE_RESOURCE)?.healthy === 5, 30_000, 're-registration in the new directory');
      assert.ok(existsSync(join(r.kubeletDir, 'kube-sgx-enclave.sock')));
    } finally {
      await teardown(r);
    }
  });

  test('a kubelet that never answers Register does not hold up shutdown', { timeout: 60_000 }, async () => {
    const root = await tempDir();
    const hostRoot = join(root, 'h');
    const kubeletDir = join(root, 'k');
    await makeFakeHost(hostRoot, SGX_HOST);
    await mkdir(kubeletDir);
    const hung = new Server();
    let calls = 0;
    let registerDeadline = Infinity;
    let cancelled = false;
    hung.addService(deviceApi().registration, {
      Register: (call: { getDeadline(): Date | number; on(ev: 'cancelled', f: () => void): void }) => {
        calls++;
        registerDeadline = Number(call.getDeadline());
        call.on('cancelled', () => (cancelled = true));
      },
    });
    await new Promise<void>((res, rej) => hung.bindAsync('unix:' + join(kubeletDir, 'kubelet.sock'), ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    const agent = await startNodeAgent({ hostRoot, kubeletDir, nodeUpdate: false, resources: [ENCLAVE_RESOURCE], pollMs: 100 });
    try {
      while (calls === 0) await new Promise((r) => setTimeout(r, 20));
      assert.equal(calls, 1);
      assert.equal(agent.manager.status()[0].state, 'registering');
      await agent.stop();
      // stop() cancelled the call the kubelet never answered, rather than waiting out its deadline.
      while (!cancelled) await new Promise((r) => setTimeout(r, 20));
      assert.ok(Date.now() < registerDeadline, 'stop() returned before the Register deadline');
    } finally {
      hung.forceShutdown();
      await removeDir(root);
    }
  });

  test('ops server: /metrics, /healthz, /readyz, /status', async () => {
    const r = await rig(SGX_HOST, { metricsAddr: '127.0.0.1:0', resources: [ENCLAVE_RESOURCE] });
    try {
      await r.kubelet.waitFor(() => (r.kubelet.resource(ENCLAVE_RESOURCE)?.messages ?? 0) > 0, 30_000, 'registration');
      const url = r.agent.opsUrl!;
      assert.equal((await fetch(url + '/healthz')).status, 200);
      assert.equal((await fetch(url + '/readyz')).status, 200);
      assert.match(await (await fetch(url + '/metrics')).text(), /kube_sgx_node_plugin_registered\{resource="sgx.intel.com\/enclave"\} 1/);
      const st = (await (await fetch(url + '/status')).json()) as { sgx: { available: boolean } };
      assert.equal(st.sgx.available, true);
    } finally {
      await teardown(r);
    }
  });
});

describe('node agent start-up and stop (ops/lifecycle.ts)', () => {
  /** A fake SGX host and an empty kubelet directory (no kubelet: registration is in the background and not needed here). */
  async function host(): Promise<{ root: string; hostRoot: string; kubeletDir: string }> {
    const root = await tempDir();
    const hostRoot = join(root, 'h');
    const kubeletDir = join(root, 'k');
    await makeFakeHost(hostRoot, SGX_HOST);
    await mkdir(kubeletDir);
    return { root, hostRoot, kubeletDir };
  }

  test('a plugin socket that cannot be bound: start fails, and the plugins already serving are stopped, their sockets removed', async () => {
    const h = await host();
    try {
      // A directory where the provision plugin's socket goes: the EPC and enclave plugins (served first) are up when it fails.
      await mkdir(join(h.kubeletDir, 'kube-sgx-provision.sock'));
      const { log, lines } = capturingLogger();
      await assert.rejects(startNodeAgent({ hostRoot: h.hostRoot, kubeletDir: h.kubeletDir, nodeUpdate: false, pollMs: 100, logger: log }));
      assert.deepEqual(
        lines.filter((l) => l.msg === 'device plugin serving').map((l) => l.resource),
        [LEGACY_EPC_RESOURCE, ENCLAVE_RESOURCE],
        'two plugins were serving before the third failed',
      );
      assert.deepEqual(await readdir(h.kubeletDir), ['kube-sgx-provision.sock'], 'their sockets are gone');
      assert.equal(lines.filter((l) => l.msg === 'node agent stopped').length, 0, 'a failed start is not a stop');
    } finally {
      await removeDir(h.root);
    }
  });

  test('a --metrics-addr already taken: METRICS_LISTEN_FAILED naming metricsAddr, and the plugin servers are stopped', async () => {
    const h = await host();
    const taken = await heldPort();
    try {
      const { log, lines } = capturingLogger();
      await assert.rejects(
        startNodeAgent({ hostRoot: h.hostRoot, kubeletDir: h.kubeletDir, nodeUpdate: false, pollMs: 100, metricsAddr: taken.addr, logger: log }),
        {
          code: 'METRICS_LISTEN_FAILED',
          path: ['metricsAddr'],
          message: `cannot serve metrics on ${taken.addr}: --metrics-addr ${taken.addr}: address already in use (EADDRINUSE)`,
        },
      );
      assert.equal(lines.filter((l) => l.msg === 'device plugin serving').length, 3);
      assert.deepEqual(await readdir(h.kubeletDir), [], 'every plugin socket removed');
      assert.equal(lines.filter((l) => l.level === 40 && String(l.msg).includes('closing failed')).length, 0);
    } finally {
      await taken.close();
      await removeDir(h.root);
    }
  });

  test('stop(): the ops endpoint and the plugin servers closed once, "node agent stopped" once', async () => {
    const h = await host();
    try {
      const { log, lines } = capturingLogger();
      const agent = await startNodeAgent({ hostRoot: h.hostRoot, kubeletDir: h.kubeletDir, nodeUpdate: false, pollMs: 100, metricsAddr: '127.0.0.1:0', logger: log });
      assert.deepEqual(lines.filter((l) => l.msg === 'ops server listening').map((l) => l.url), [agent.opsUrl]);
      assert.equal((await fetch(`${agent.opsUrl!}/healthz`)).status, 200);
      await agent.stop();
      await agent.stop();
      assert.equal(await portIsFree(Number(new URL(agent.opsUrl!).port)), true);
      assert.deepEqual(await readdir(h.kubeletDir), []);
      assert.equal(lines.filter((l) => l.msg === 'node agent stopped').length, 1);
    } finally {
      await removeDir(h.root);
    }
  });
});
