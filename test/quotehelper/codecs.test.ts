import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { aesmErrorName, quote3ErrorName, quote3ToAesm } from '../../src/quotehelper/aesm-errors.js';
import { quoteLength } from '../../src/quotehelper/client.js';
import { FrameAccumulator, frame } from '../../src/quotehelper/framing.js';
import { INTEL_ECDSA_ATT_KEY_ID, decodeAttKeyIdList, encodeAttKeyIdList } from '../../src/quotehelper/keyid.js';

describe('quote helper codecs', () => {
  test('Intel ECDSA key ID layout (sgx_ql_get_keyid)', () => {
    const id = INTEL_ECDSA_ATT_KEY_ID;
    assert.equal(id.length, 256);
    assert.equal(id.readUInt16LE(4), 32);
    assert.equal(id.subarray(6, 38).toString('hex'), '8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff');
    assert.ok(id.subarray(38, 54).every((b) => b === 0));
    assert.equal(id.readUInt32LE(54), 1);
    assert.equal(id.readUInt32LE(154), 2);
    assert.ok(id.subarray(158).every((b) => b === 0));
  });

  test('key ID list round trip and rejection', () => {
    const list = encodeAttKeyIdList([INTEL_ECDSA_ATT_KEY_ID, Buffer.alloc(256, 1)]);
    assert.equal(list.length, 8 + 512);
    const ids = decodeAttKeyIdList(list);
    assert.equal(ids?.length, 2);
    assert.ok(ids?.[0].equals(INTEL_ECDSA_ATT_KEY_ID));
    assert.equal(decodeAttKeyIdList(list.subarray(0, 300)), undefined);
    assert.throws(() => encodeAttKeyIdList([Buffer.alloc(10)]), { code: 'QUOTE_HELPER_BAD_KEY_ID' });
  });

  test('quote3_error_t → aesm_error_t as aesmd maps it', () => {
    assert.equal(quote3ToAesm(0), 0);
    assert.equal(quote3ToAesm(0xe015), 47);
    assert.equal(quote3ToAesm(0xe00f), 42);
    assert.equal(quote3ToAesm(0xe002), 3);
    assert.equal(quote3ToAesm(0xe012), 29);
    assert.equal(quote3ToAesm(0xe019), 12);
    assert.equal(quote3ToAesm(0xe040), 1, 'not in aesmd\'s table → unexpected');
    assert.equal(aesmErrorName(47), 'AESM_INVALID_REPORT');
    assert.equal(aesmErrorName(99), 'AESM_UNKNOWN_ERROR', 'unnamed numbers: one code, the number in details');
    assert.equal(aesmErrorName(27), 'AESM_UNKNOWN_ERROR', '27 is unassigned in aesm_error.h');
    assert.equal(aesmErrorName(51), 'AESM_CONFIG_UNSUPPORTED');
    assert.equal(quote3ErrorName(0xe015), 'SGX_QL_INVALID_REPORT');
    assert.equal(quote3ErrorName(0xe099), 'QUOTE3_ERROR_0xe099');
  });

  test('quoteLength trims aesmd padding for v3, v4 SGX, v4 TDX and v5', () => {
    const make = (version: number, teeType: number, bodyLen: number, sigLen: number, v5 = false) => {
      const head = v5 ? 48 + 6 : 48;
      const q = Buffer.alloc(head + bodyLen + 4 + sigLen + 100); // + padding
      q.writeUInt16LE(version, 0);
      q.writeUInt32LE(teeType, 4);
      if (v5) q.writeUInt32LE(bodyLen, 50);
      q.writeUInt32LE(sigLen, head + bodyLen);
      return { q, len: head + bodyLen + 4 + sigLen };
    };
    for (const [v, tee, body, v5] of [[3, 0, 384, false], [4, 0, 384, false], [4, 0x81, 584, false], [5, 0x81, 648, true]] as const) {
      const { q, len } = make(v, tee, body, 1000, v5);
      assert.equal(quoteLength(q), len, `v${v} tee ${tee}`);
    }
    assert.equal(quoteLength(Buffer.alloc(10)), 10);
    const bogus = make(3, 0, 384, 1000).q;
    bogus.writeUInt32LE(1 << 30, 432); // signature length past the buffer
    assert.equal(quoteLength(bogus), bogus.length, 'a length past the buffer is not trusted');
  });

  test('frame accumulator: split chunks, caps, empty', () => {
    const f = frame(Buffer.from('hello'));
    const acc = new FrameAccumulator(16);
    assert.equal(acc.push(f.subarray(0, 2)).kind, 'incomplete');
    assert.equal(acc.push(f.subarray(2, 6)).kind, 'incomplete');
    const done = acc.push(Buffer.concat([f.subarray(6), Buffer.from('trailing')]));
    assert.equal(done.kind, 'complete');
    assert.equal(done.kind === 'complete' ? done.payload.toString() : '', 'hello');
    assert.deepEqual(new FrameAccumulator(16).push(Buffer.from('ffffffff', 'hex')), { kind: 'oversized', length: 0xffffffff });
    assert.deepEqual(new FrameAccumulator(16).push(Buffer.alloc(4)), { kind: 'empty' });
  });
});
