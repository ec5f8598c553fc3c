import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnclaveMeasurement, measureEnclave, measureLayoutFile, parseEnclaveLayout } from '../../src/sim/measure.js';
import { KubeSgxError } from '../../src/errors.js';

/**
 * The expected MRENCLAVE is derived by hand from the published algorithm
 * (Intel SDM EADD/EEXTEND/ECREATE; the same records Gramine's sgx_sign.py
 * packs as '<8sLQ44s', '<8sQQ40s', '<8sQ48s'): every 64-byte record is
 * written out below as literal hex, independent of src/sim/measure.ts.
 *
 * Enclave: SECS.SIZE 0x2000, SSAFRAMESIZE 1; page 0 = code (SECINFO 0x205),
 * measured, every byte 0x90; page 1 = TCS (SECINFO 0x100), not measured.
 */
const zeros = (n: number) => '00'.repeat(n);
const le64 = (n: number) => Buffer.from(BigInt(n).toString(16).padStart(16, '0'), 'hex').reverse().toString('hex');
function handStream(): Buffer {
  const parts: string[] = [];
  // ECREATE: "ECREATE\0" ‖ u32 1 ‖ u64 0x2000 ‖ 44 × 00
  parts.push('4543524541544500' + '01000000' + '0020000000000000' + zeros(44));
  // EADD page 0: "EADD\0\0\0\0" ‖ u64 0 ‖ SECINFO.FLAGS u64 0x205 ‖ 40 × 00
  parts.push('4541444400000000' + '0000000000000000' + '0502000000000000' + zeros(40));
  for (let i = 0; i < 16; i++) {
    // EEXTEND: "EEXTEND\0" ‖ u64 offset ‖ 48 × 00, then the 256 data bytes
    parts.push('45455854454e4400' + le64(i * 256) + zeros(48) + '90'.repeat(256));
  }
  // EADD page 1 (TCS, unmeasured): offset 0x1000, flags 0x100
  parts.push('4541444400000000' + '0010000000000000' + '0001000000000000' + zeros(40));
  return Buffer.from(parts.join(''), 'hex');
}
const HAND_MRENCLAVE = createHash('sha256').update(handStream()).digest('hex');

const layout = {
  ssaFrameSize: 1,
  enclaveSize: '0x2000',
  pages: [
    { offset: 0, secinfo: 'code', data: { fill: 0x90 } },
    { offset: '0x1000', secinfo: 'tcs', measured: false },
  ],
};

describe('MRENCLAVE measurement', () => {
  test('the record stream is 64-byte records (+256 data bytes per EEXTEND)', () => {
    assert.equal(handStream().length, 64 + 64 + 16 * (64 + 256) + 64);
  });

  test('layout → the hand-derived MRENCLAVE', () => {
    assert.equal(measureEnclave(parseEnclaveLayout(layout)).toString('hex'), HAND_MRENCLAVE);
  });

  test('the incremental API gives the same value', () => {
    const m = new EnclaveMeasurement(0x2000n, 1);
    m.addPage(0n, 0x205n, Buffer.alloc(4096, 0x90));
    m.eadd(0x1000n, 0x100n);
    assert.equal(m.finish().toString('hex'), HAND_MRENCLAVE);
    assert.throws(() => m.finish(), (e: unknown) => e instanceof KubeSgxError && e.code === 'MEASURE_FINISHED');
  });

  test('one changed data byte, flag, offset or size changes MRENCLAVE', () => {
    const variants = [
      { ...layout, pages: [{ offset: 0, secinfo: 'code', data: { hex: '90'.repeat(4095) + '91' } }, layout.pages[1]] },
      { ...layout, pages: [{ offset: 0, secinfo: 'data', data: { fill: 0x90 } }, layout.pages[1]] },
      { ...layout, pages: [{ offset: 0, secinfo: 'code', data: { fill: 0x90 } }, { ...layout.pages[1], measured: true }] },
      { ...layout, enclaveSize: 0x4000 },
      { ...layout, ssaFrameSize: 2 },
    ];
    for (const v of variants) assert.notEqual(measureEnclave(parseEnclaveLayout(v)).toString('hex'), HAND_MRENCLAVE);
  });

  test('layout files: data from a file relative to the layout, split across `count` pages', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-measure-'));
    try {
      writeFileSync(join(dir, 'text.bin'), Buffer.alloc(4096, 0x90));
      writeFileSync(join(dir, 'layout.json'), JSON.stringify({ ...layout, pages: [{ offset: 0, secinfo: '0x205', data: { file: 'text.bin' } }, layout.pages[1]] }));
      assert.equal(measureLayoutFile(join(dir, 'layout.json')).toString('hex'), HAND_MRENCLAVE);
      writeFileSync(join(dir, 'two.bin'), Buffer.alloc(8192, 0x90));
      writeFileSync(join(dir, 'two.json'), JSON.stringify({ ssaFrameSize: 1, enclaveSize: 0x4000, pages: [{ offset: 0, count: 2, secinfo: 'code', data: { file: 'two.bin' } }] }));
      const m = new EnclaveMeasurement(0x4000n, 1);
      m.addPage(0n, 0x205n, Buffer.alloc(4096, 0x90));
      m.addPage(0x1000n, 0x205n, Buffer.alloc(4096, 0x90));
      assert.equal(measureLayoutFile(join(dir, 'two.json')).toString('hex'), m.finish().toString('hex'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad layouts are MEASURE_BAD_LAYOUT naming the field', () => {
    const bad = (v: unknown, pathPart: string) =>
      assert.throws(
        () => measureEnclave(parseEnclaveLayout(v)),
        (e: unknown) => e instanceof KubeSgxError && e.code === 'MEASURE_BAD_LAYOUT' && e.message.includes(pathPart),
      );
    bad({ ...layout, enclaveSize: 0x3000 }, 'enclaveSize');
    bad({ ...layout, ssaFrameSize: 0 }, 'ssaFrameSize');
    bad({ ...layout, pages: [{ offset: 0x2000, secinfo: 'code' }] }, 'pages.0');
    bad({ ...layout, pages: [{ offset: 0x800, secinfo: 'code' }] }, 'pages.0');
    bad({ ...layout, pages: [{ offset: 0, secinfo: 'code', data: { hex: '00'.repeat(4097) } }] }, 'pages.0.data');
    bad({ ...layout, pages: [{ offset: 0, secinfo: 'weird' }] }, 'pages.0.secinfo');
    bad({ ...layout, extra: 1 }, 'layout');
    assert.throws(() => measureLayoutFile('/nonexistent/layout.json'), (e: unknown) => e instanceof KubeSgxError && e.code === 'MEASURE_BAD_LAYOUT');
  });
});
