import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { MethodDefinition } from '@grpc/grpc-js';
import { deviceApi } from '../../src/deviceplugin/api.js';
import { decodeAllocateRequest, decodePreferredAllocationRequest } from '../../src/deviceplugin/wire.js';
import { KubeSgxError } from '../../src/errors.js';

const alloc = () => deviceApi().devicePlugin.Allocate as MethodDefinition<unknown, unknown>;
const pref = () => deviceApi().devicePlugin.GetPreferredAllocation as MethodDefinition<unknown, unknown>;

describe('hand-written request decoders', () => {
  test('AllocateRequest: same result as protobufjs for any ID lists', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }), { maxLength: 20 }), { maxLength: 4 }), (lists) => {
        const msg = { container_requests: lists.map((devices_ids) => ({ devices_ids })) };
        assert.deepEqual(decodeAllocateRequest(alloc().requestSerialize(msg)), msg);
      }),
      { numRuns: 300 },
    );
  });

  test('PreferredAllocationRequest: same result as protobufjs', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 30 }), fc.array(fc.string(), { maxLength: 5 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (a, m, n) => {
        const msg = { container_requests: [{ available_deviceIDs: a, must_include_deviceIDs: m, allocation_size: n }] };
        assert.deepEqual(decodePreferredAllocationRequest(pref().requestSerialize(msg)), msg);
      }),
      { numRuns: 300 },
    );
  });

  test('negative allocation_size decodes as invalid (-1)', () => {
    const buf = pref().requestSerialize({ container_requests: [{ allocation_size: -5 }] });
    assert.equal(decodePreferredAllocationRequest(buf).container_requests?.[0].allocation_size, -1);
  });

  test('unknown fields of every wire type are skipped', () => {
    const known = alloc().requestSerialize({ container_requests: [{ devices_ids: ['a', 'b'] }] });
    const extra = Buffer.from([
      0x10, 0x96, 0x01, // field 2 varint 150
      0x19, 1, 2, 3, 4, 5, 6, 7, 8, // field 3 fixed64
      0x25, 1, 2, 3, 4, // field 4 fixed32
      0x2a, 0x02, 0x68, 0x69, // field 5 bytes "hi"
    ]);
    assert.deepEqual(decodeAllocateRequest(Buffer.concat([extra, known])), { container_requests: [{ devices_ids: ['a', 'b'] }] });
  });

  test('malformed input is a typed error with an offset, never a crash or hang', () => {
    const bad: Buffer[] = [
      Buffer.from([0x0a, 0x05, 0x0a]), // length past the end
      Buffer.from([0x0a]), // truncated length varint
      Buffer.from([0x08]), // field 1 with wire type 0 (expects LEN)
      Buffer.from([0x0b]), // group start
      Buffer.from([0x00]), // field number 0
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11-byte varint
      Buffer.from([0x11, 1, 2]), // truncated fixed64
    ];
    for (const b of bad) {
      assert.throws(() => decodeAllocateRequest(b), (e: unknown) => e instanceof KubeSgxError && e.code === 'INVALID_REQUEST' && typeof e.offset === 'number', b.toString('hex'));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeAllocateRequest(Buffer.from(bytes));
          decodePreferredAllocationRequest(Buffer.from(bytes));
        } catch (e) {
          assert.ok(e instanceof KubeSgxError && e.code === 'INVALID_REQUEST');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
