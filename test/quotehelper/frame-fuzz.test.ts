/**
 * Issue 15 §5: junk-frame fuzz of the aesm socket. Valid requests of every
 * kind with random fields, then mutated (bytes flipped, truncated, a lying
 * length prefix, junk appended, replaced by random protobuf-ish bytes),
 * split into random pieces, with or without a half-close. Whatever arrives,
 * the helper answers with one framed Response carrying an aesm errorCode,
 * or closes without a byte — never a partial reply, never a hang past its
 * deadlines, never a crash; and it keeps serving.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AesmClient } from '../../src/quotehelper/client.js';
import { frame } from '../../src/quotehelper/framing.js';
import { INTEL_ECDSA_ATT_KEY_ID } from '../../src/quotehelper/keyid.js';
import { decodeResponse, encodeRequest, type AesmRequest } from '../../src/quotehelper/schema.js';
import { fakeReport } from './fake-backend.js';
import { rawExchange, startFakeServer } from './util.js';

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const u32 = fc.oneof(fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 1, 432, 960, 15000, 0xffffffff));
const keyId = fc.oneof(fc.constant(INTEL_ECDSA_ATT_KEY_ID), bytes(400));

const requestArb: fc.Arbitrary<AesmRequest> = fc.oneof(
  fc.record({ initQuoteExReq: fc.record({ att_key_id: opt(keyId), b_pub_key_id: opt(fc.boolean()), buf_size: opt(u32), timeout: opt(u32) }) }),
  fc.record({ getQuoteSizeExReq: fc.record({ att_key_id: opt(keyId), timeout: opt(u32) }) }),
  fc.record({
    getQuoteExReq: fc.record({
      report: opt(fc.oneof(fc.nat(255).map(fakeReport), bytes(500))),
      att_key_id: opt(keyId),
      qe_report_info: opt(bytes(1000)),
      buf_size: opt(u32),
      timeout: opt(u32),
    }),
  }),
  fc.record({ selectAttKeyIDReq: fc.record({ att_key_id_list: opt(bytes(3000)), timeout: opt(u32) }) }),
  fc.record({ getSupportedAttKeyIDNumReq: fc.record({ timeout: opt(u32) }) }),
  fc.record({ getSupportedAttKeyIDsReq: fc.record({ buf_size: opt(u32), timeout: opt(u32) }) }),
  fc.constantFrom<AesmRequest>({ initQuoteReq: {} }, { getQuoteReq: {} }, { getLicTokenReq: {} }, { checkUpdateStatusReq: {} }, { sgxRegisterReq: {} }),
);

/** Protobuf-shaped junk: tags of random field numbers and wire types, lengths that may lie. */
const protoJunk = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 7 }), bytes(40), fc.nat({ max: 300 })), { maxLength: 8 })
  .map((fields) => {
    const out: number[] = [];
    const varint = (n: number) => {
      do {
        out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
        n >>>= 7;
      } while (n > 0);
    };
    for (const [field, wire, payload, len] of fields) {
      varint((field << 3) | wire);
      if (wire === 2) varint(len);
      out.push(...payload);
    }
    return Buffer.from(out);
  });

type Wire = { parts: Buffer[]; end: boolean };

const wireArb: fc.Arbitrary<Wire> = fc
  .tuple(
    fc.oneof(
      requestArb.map((r) => ({ kind: 'valid' as const, payload: encodeRequest(r) })),
      protoJunk.map((payload) => ({ kind: 'junk' as const, payload })),
      bytes(600).map((payload) => ({ kind: 'junk' as const, payload })),
    ),
    fc.oneof(
      fc.constant({ op: 'none' as const }),
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ op: fc.constant('truncate' as const), keep: fc.nat() }),
      fc.record({ op: fc.constant('lying-length' as const), length: u32 }),
      fc.record({ op: fc.constant('append' as const), extra: bytes(200) }),
      fc.record({ op: fc.constant('no-prefix' as const) }),
    ),
    fc.array(fc.nat(), { maxLength: 6 }),
    fc.boolean(),
  )
  .map(([{ payload }, m, cuts, end]) => {
    let wire: Buffer;
    switch (m.op) {
      case 'none':
        wire = frame(payload);
        break;
      case 'flip': {
        wire = frame(payload);
        const i = m.at % wire.length;
        wire[i] = wire[i]! ^ m.xor;
        break;
      }
      case 'truncate':
        wire = frame(payload).subarray(0, m.keep % (payload.length + 5));
        break;
      case 'lying-length':
        wire = Buffer.concat([Buffer.alloc(4), payload]);
        wire.writeUInt32LE(m.length, 0);
        break;
      case 'append':
        wire = Buffer.concat([frame(payload), m.extra]);
        break;
      case 'no-prefix':
        wire = payload;
        break;
    }
    const points = [...new Set(cuts.map((c) => (wire.length ? c % wire.length : 0)))].sort((a, b) => a - b);
    const parts: Buffer[] = [];
    let from = 0;
    for (const p of points) {
      parts.push(wire.subarray(from, p));
      from = p;
    }
    parts.push(wire.subarray(from));
    return { parts: parts.filter((p) => p.length > 0), end };
  });

describe('aesm socket junk-frame fuzz', () => {
  test('every input gets one framed Response with an errorCode, or a close without a byte; the helper keeps serving', async () => {
    const ts = await startFakeServer({ silentTimeoutMs: 200, idleTimeoutMs: 400, requestTimeoutMs: 2000 });
    const client = new AesmClient({ socketPath: ts.socketPath, timeoutMs: 5000 });
    const seen = { replies: 0, ok: 0, closed: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(wireArb, { minLength: 25, maxLength: 25 }), async (batch) => {
          const cpu = process.cpuUsage();
          const outcomes = await Promise.all(batch.map((w) => rawExchange(ts.socketPath, w.parts, { end: w.end, timeoutMs: 5000 })));
          const used = process.cpuUsage(cpu);
          assert.ok((used.user + used.system) / 1000 < 3000, `a batch of 25 took ${(used.user + used.system) / 1000} ms CPU`);
          outcomes.forEach((o, i) => {
            const what = JSON.stringify(Buffer.concat(batch[i]!.parts).subarray(0, 64).toString('hex'));
            assert.equal(o.closedByServer, true, `the server ends every exchange within its deadlines: ${what}`);
            if (o.data.length === 0) {
              seen.closed++;
              return;
            }
            assert.ok(o.data.length >= 4 && o.data.readUInt32LE(0) === o.data.length - 4, `one whole framed reply: ${what}`);
            const res = decodeResponse(o.data.subarray(4)) as Record<string, unknown>;
            const inner = Object.values(res).filter((v) => v !== undefined && v !== null);
            // One inner message; a legacy request's answer also carries unsupportedRequestResponse (handlers.ts).
            assert.ok(inner.length === 1 || (inner.length === 2 && 'unsupportedRequestResponse' in res), `one inner message: ${what}`);
            const codes = inner.map((m) => (m as { errorCode?: unknown }).errorCode);
            assert.ok(codes.every((c) => typeof c === 'number'), `an aesm errorCode: ${what}`);
            const code = codes[0];
            seen.replies++;
            if (code === 0) seen.ok++;
          });
        }),
        { numRuns: 50 },
      );
      // Both paths were exercised: answers (some successful) and silent closes.
      assert.ok(seen.replies > 20 && seen.ok > 0 && seen.closed > 20, JSON.stringify(seen));
      process.stderr.write(`# aesm frame fuzz: ${JSON.stringify(seen)}\n`);
      assert.equal((await client.getQuote(fakeReport(9))).readUInt16LE(0), 3);
      assert.equal(await client.getSupportedAttKeyIdNum(), 1);
    } finally {
      await ts.close();
    }
  });
});
