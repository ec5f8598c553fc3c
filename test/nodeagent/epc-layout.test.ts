import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { deviceApi, encodeListAndWatchResponse, listAndWatchEncodedLength, KUBELET_MAX_RECV_BYTES, type InventoryDevice } from '../../src/deviceplugin/api.js';
import fc from 'fast-check';
import { planEpcLayout, epcDevices, parseEpcUnitId, epcUnitId, numaOfUnit, DEFAULT_MAX_MESSAGE_BYTES, EPC_UNIT_ID_PATTERN } from '../../src/nodeagent/epc-layout.js';
import type { MethodDefinition } from '@grpc/grpc-js';

const lw = () => deviceApi().devicePlugin.ListAndWatch as MethodDefinition<unknown, { devices: { ID: string; health: string; topology?: { nodes: { ID?: number }[] } }[] }>;

describe('ListAndWatchResponse encoder', () => {
  test('matches protobufjs byte for byte and decodes back', () => {
    const devices: InventoryDevice[] = [
      { id: '0', healthy: true, numaNode: 0 },
      { id: 'zz', healthy: false, numaNode: 1 },
      { id: 'enclave-17', healthy: true },
      { id: 'x'.repeat(200), healthy: true, numaNode: 300 },
    ];
    const mine = encodeListAndWatchResponse(devices);
    const theirs = lw().responseSerialize({
      devices: devices.map((d) => ({
        ID: d.id,
        health: d.healthy ? 'Healthy' : 'Unhealthy',
        // proto3 as Go encodes it: NUMANode{ID:0} is an empty sub-message.
        ...(d.numaNode === undefined ? {} : { topology: { nodes: [d.numaNode === 0 ? {} : { ID: d.numaNode }] } }),
      })),
    });
    assert.equal(mine.toString('hex'), theirs.toString('hex'));
    assert.equal(listAndWatchEncodedLength(devices), mine.length);
    const back = lw().responseDeserialize(mine);
    assert.equal(back.devices.length, 4);
    assert.equal(back.devices[1].health, 'Unhealthy');
    assert.equal(back.devices[3].topology?.nodes[0].ID, 300);
    assert.equal(back.devices[2].topology, undefined, 'no topology = absent, not an empty message');
  });

  test('empty inventory is an empty message', () => {
    assert.equal(encodeListAndWatchResponse([]).length, 0);
  });
});

describe('EPC MiB layout', () => {
  test('small EPC: every MiB advertised, IDs compact and numbered per NUMA node', () => {
    const l = planEpcLayout([
      { node: 1, units: 64 },
      { node: 0, units: 128 },
    ]);
    assert.equal(l.units, 192);
    assert.equal(l.capReason, undefined);
    assert.deepEqual(l.nodes, [
      { node: 0, units: 128, first: 0 },
      { node: 1, units: 64, first: 128 },
    ]);
    const devs = epcDevices(l, false);
    assert.equal(devs.length, 192);
    assert.equal(encodeListAndWatchResponse(devs).length, l.worstCaseMessageBytes, 'size model is exact');
    assert.equal(numaOfUnit(l, 127), 0);
    assert.equal(numaOfUnit(l, 128), 1);
    assert.equal(numaOfUnit(l, 192), -1);
  });

  test('the hand-written ID parser accepts exactly the documented grammar', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 8 }), fc.stringMatching(/^[0-9a-z]{1,7}$/)), (id) => {
        const want = EPC_UNIT_ID_PATTERN.test(id) ? parseInt(id, 36) : -1;
        assert.equal(parseEpcUnitId(id), want, JSON.stringify(id));
      }),
      { numRuns: 3000 },
    );
  });

  test('IDs round-trip; non-canonical IDs are rejected', () => {
    for (const n of [0, 1, 35, 36, 1295, 46655, 524287, 1679615]) assert.equal(parseEpcUnitId(epcUnitId(n)), n);
    for (const bad of ['', '00', '01', 'A', '-1', '1 ', 'zzzzzzz', '1.5', 'epc-1']) assert.equal(parseEpcUnitId(bad), -1, bad);
  });

  test('512 GiB on 2 NUMA nodes: capped under the budget, proportional split, exact size', () => {
    const half = 256 * 1024;
    const l = planEpcLayout([
      { node: 0, units: half },
      { node: 1, units: half },
    ]);
    assert.equal(l.availableUnits, 2 * half);
    assert.ok(l.units < l.availableUnits);
    assert.ok(l.units > 150_000, `${l.units}`);
    assert.ok(l.capReason && l.capReason.includes('4194304'));
    assert.ok(Math.abs(l.nodes[0].units - l.nodes[1].units) <= 1);
    const worst = encodeListAndWatchResponse(epcDevices(l, false));
    assert.equal(worst.length, l.worstCaseMessageBytes);
    assert.ok(worst.length <= DEFAULT_MAX_MESSAGE_BYTES && worst.length < KUBELET_MAX_RECV_BYTES);
    const oneMore = planEpcLayout(
      [
        { node: 0, units: half },
        { node: 1, units: half },
      ],
      { maxMessageBytes: l.worstCaseMessageBytes + 30 },
    );
    assert.ok(oneMore.units >= l.units, 'cap is the largest that fits');
  });

  test('bad layout input is a typed error', () => {
    assert.throws(() => planEpcLayout([{ node: -1, units: 3 }]), { code: 'INVALID_EPC_LAYOUT' });
    assert.throws(() => planEpcLayout([{ node: 0, units: 1.5 }]), { code: 'INVALID_EPC_LAYOUT' });
  });
});

describe('EpcMibPlugin', () => {
  test('--epc-bytes EPC is advertised without topology (node unknown)', async () => {
    const { EpcMibPlugin } = await import('../../src/nodeagent/sgx-plugins.js');
    const p = new EpcMibPlugin();
    const base = {
      hostRoot: '/x',
      cpuSgx: true,
      cpuFlc: true,
      enclaveDevices: ['/dev/sgx_enclave'],
      provisionDevices: [],
      enclaveDevice: '/dev/sgx_enclave',
      provisionDevice: null,
      legacyDriver: false,
      aesmdSocket: null,
      reasons: [],
    };
    assert.equal(p.setHost({ ...base, epcByNuma: [{ node: 0, bytes: 10 * 1024 * 1024 }], epcBytes: 10 * 1024 * 1024, epcSource: 'override' }), true);
    const devs = p.devices();
    assert.equal(devs.length, 10);
    assert.ok(devs.every((d) => d.numaNode === undefined && d.healthy));
    assert.equal(p.devices(), devs, 'same array while unchanged');
    assert.equal(encodeListAndWatchResponse(epcDevices(p.layout!, false)).length, p.layout!.worstCaseMessageBytes);
    // same host again: no layout change
    assert.equal(p.setHost({ ...base, epcByNuma: [{ node: 0, bytes: 10 * 1024 * 1024 }], epcBytes: 10 * 1024 * 1024, epcSource: 'override' }), false);
    // device gone: same IDs, unhealthy
    p.setHost({ ...base, enclaveDevices: [], enclaveDevice: null, epcByNuma: [{ node: 0, bytes: 10 * 1024 * 1024 }], epcBytes: 10 * 1024 * 1024, epcSource: 'override' });
    assert.deepEqual(p.devices().map((d) => d.healthy), new Array(10).fill(false));
    assert.match(p.reason() ?? '', /unhealthy/);
  });

  test('Allocate: every ID known and listed once per call; the same units may come back in a later call', async () => {
    const { EpcMibPlugin } = await import('../../src/nodeagent/sgx-plugins.js');
    const p = new EpcMibPlugin();
    const host = (mib: number) => ({
      hostRoot: '/x', cpuSgx: true, cpuFlc: true, enclaveDevices: ['/dev/sgx_enclave'], provisionDevices: [], enclaveDevice: '/dev/sgx_enclave',
      provisionDevice: null, legacyDriver: false, aesmdSocket: null, reasons: [], epcByNuma: [{ node: 0, bytes: mib * 1024 * 1024 }], epcBytes: mib * 1024 * 1024, epcSource: 'override' as const,
    });
    p.setHost(host(16));
    const ids = p.devices().map((d) => d.id);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string; path?: unknown[] }).code + ' ' + JSON.stringify((e as { path?: unknown[] }).path);
      }
      return 'ok';
    };
    assert.equal(code(() => p.allocate(ids.slice(0, 8))), 'ok');
    assert.equal(code(() => p.allocate(ids.slice(0, 8))), 'ok', 'a later call may list the same units again');
    assert.equal(code(() => p.allocate([ids[0]!, ids[1]!, ids[0]!])), 'DUPLICATE_DEVICE ["devices_ids",2]');
    assert.equal(code(() => p.allocate([ids[3]!, 'zzzzzz'])), 'UNKNOWN_DEVICE ["devices_ids",1]');
    assert.equal(code(() => p.allocate([epcUnitId(16)])), 'UNKNOWN_DEVICE ["devices_ids",0]', 'one past the last unit');
    assert.equal(code(() => p.allocate([])), 'INVALID_REQUEST ["devices_ids"]');
    // the layout grows: the new units are known, and the bookkeeping follows
    p.setHost(host(32));
    assert.equal(code(() => p.allocate([epcUnitId(16), epcUnitId(31), ids[0]!])), 'ok');
    assert.equal(code(() => p.allocate([epcUnitId(31), epcUnitId(31)])), 'DUPLICATE_DEVICE ["devices_ids",1]');
  });
});
