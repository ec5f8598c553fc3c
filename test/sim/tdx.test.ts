/**
 * Simulated TDX: TDG.MR.REPORT, the TD QE and TDX collateral. Quotes are
 * checked by the real verifier (only with the simulated root) and compared
 * field by field with the real Intel TDX quote and collateral in testdata.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyQuote } from '../../src/dcap/verify.js';
import { parseQuote } from '../../src/sgx/quote.js';
import { TDREPORT_OFFSET, encodeTdReportStruct, parseTdReportStruct, tdReportQuoteKind } from '../../src/sgx/tdreport.js';
import { SIM_DEFAULT_TD, SIM_TDX_MODULE, SIM_TD_QE, SimPlatform, TCB_SCENARIOS, simulateTdQuote } from '../../src/sim/index.js';
import { isCode, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const SAMPLE = '/work/shared/testdata/dcap/phala-dcap-qvl/sample';
const realQuote = parseQuote(readFileSync(join(SAMPLE, 'tdx_quote')));
const realV5 = parseQuote(readFileSync(join(SAMPLE, 'tdx_quote_outdated')));
const realCollateral = JSON.parse(readFileSync(join(SAMPLE, 'tdx_quote_collateral.json'), 'utf8')) as { tcb_info: string; qe_identity: string };

const NOW = new Date('2026-06-01T00:00:00Z');
const platforms = new Map<string, Promise<SimPlatform>>();
const platform = (scenario: (typeof TCB_SCENARIOS)[number]) => {
  let p = platforms.get(scenario);
  if (!p) platforms.set(scenario, (p = SimPlatform.open(join(tmp.dir, scenario), { scenario, seed: `tdx-${scenario}`, now: NOW })));
  return p;
};

/** Key names in order, recursively, for objects (the first element of arrays). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 0 ? [shape(v[0])] : [];
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return typeof v;
}

describe('simulated TDX quotes', () => {
  for (const scenario of TCB_SCENARIOS) {
    for (const quoteVersion of [4, 5] as const) {
      test(`${scenario}, v${quoteVersion}: verifies with the simulated root only, with the scenario's status`, async () => {
        const p = await platform(scenario);
        const r = await simulateTdQuote({ platform: p, quoteVersion, reportData: Buffer.from('td nonce') });
        const q = parseQuote(r.quote, { trailing: 'reject' });
        assert.equal(q.header.version, quoteVersion);
        assert.equal(q.body.type, quoteVersion === 4 ? 2 : 3);
        const opts = { trustedRoots: [r.rootCaPem], now: NOW };
        if (scenario === 'revoked') {
          assert.throws(() => verifyQuote(r.quote, r.collateral, opts), isCode('PCK_REVOKED'));
        } else {
          const v = verifyQuote(r.quote, r.collateral, opts);
          assert.equal(v.status, r.expectedStatus);
          assert.equal(v.teeType, 'TDX');
          assert.equal(v.quoteVersion, quoteVersion);
          assert.equal(v.tdxModule?.id, 'TDX_01');
          assert.equal(v.tdxModule?.status, 'UpToDate');
          assert.equal(v.tdRelaunchAdvised, undefined);
        }
        assert.throws(() => verifyQuote(r.quote, r.collateral, { now: NOW }), isCode('PCK_CHAIN_UNTRUSTED'));
        // the SGX collateral of the same platform is for another TEE and QE
        assert.throws(() => verifyQuote(r.quote, p.collateral(), opts), (e: unknown) => isCode(scenario === 'revoked' ? 'PCK_REVOKED' : 'TCB_INFO_MISMATCH')(e));
      });
    }
  }

  test('the quote carries what the TD reported: MRTD, RTMRs, owner fields, REPORTDATA, debug; MRSIGNERSEAM and SEAMATTRIBUTES zero', async () => {
    const p = await platform('up-to-date');
    const rtmr = [Buffer.alloc(48, 1), undefined, Buffer.alloc(48, 3), Buffer.alloc(48, 4)];
    for (const quoteVersion of [4, 5] as const) {
      const tdReport = p.tdReport({ quoteVersion, reportData: Buffer.alloc(64, 0xab), mrTd: Buffer.alloc(48, 0x11), mrOwner: Buffer.alloc(48, 0x22), mrConfigId: Buffer.alloc(48, 0x33), mrOwnerConfig: Buffer.alloc(48, 0x44), rtmr, debug: true });
      const q = parseQuote(p.getTdQuote(tdReport));
      const b = q.body.type === 2 ? q.body.td10 : q.body.type === 3 ? q.body.td15 : assert.fail('not a TD body');
      assert.deepEqual(b.mrTd, Buffer.alloc(48, 0x11));
      assert.deepEqual(b.mrOwner, Buffer.alloc(48, 0x22));
      assert.deepEqual(b.mrConfigId, Buffer.alloc(48, 0x33));
      assert.deepEqual(b.mrOwnerConfig, Buffer.alloc(48, 0x44));
      assert.deepEqual(b.rtMr, [Buffer.alloc(48, 1), Buffer.alloc(48), Buffer.alloc(48, 3), Buffer.alloc(48, 4)]);
      assert.deepEqual(b.reportData, Buffer.alloc(64, 0xab));
      assert.equal(b.tdAttributes.debug, true);
      assert.equal(b.tdAttributes.septVeDisable, true);
      assert.equal(b.xfam, SIM_DEFAULT_TD.xfam);
      assert.deepEqual(b.teeTcbSvn, SIM_TDX_MODULE.teeTcbSvn);
      assert.deepEqual(b.mrSeam, SIM_TDX_MODULE.mrSeam);
      assert.deepEqual(b.mrSignerSeam, Buffer.alloc(48));
      assert.equal(b.seamAttributes, 0n);
      if (q.body.type === 3) {
        assert.deepEqual(q.body.td15.teeTcbSvn2, SIM_TDX_MODULE.teeTcbSvn);
        assert.deepEqual(q.body.td15.mrServiceTd, Buffer.alloc(48));
      }
    }
    // defaults: the demo TD, not debug
    const plain = parseQuote(p.getTdQuote(p.tdReport()));
    assert.ok(plain.body.type === 2);
    assert.deepEqual(plain.body.td10.mrTd, SIM_DEFAULT_TD.mrTd);
    assert.equal(plain.body.td10.tdAttributes.debug, false);
  });

  test('field by field like the real Intel TDX quotes (v4 and v5), with simulated identities', async () => {
    const p = await platform('up-to-date');
    for (const [real, version] of [
      [realQuote, 4],
      [realV5, 5],
    ] as const) {
      const sim = parseQuote(p.getTdQuote(p.tdReport({ quoteVersion: version })));
      for (const k of ['version', 'attestationKeyType', 'teeType', 'qeSvn', 'pceSvn'] as const) assert.equal(sim.header[k], real.header[k], `header.${k}`);
      assert.deepEqual(sim.header.qeVendorId, real.header.qeVendorId);
      assert.deepEqual(sim.header.userData.subarray(16), real.header.userData.subarray(16));
      assert.equal(sim.body.type, real.body.type);
      const [s, r] = [sim.signatureData, real.signatureData];
      assert.equal(s.certificationData.type, r.certificationData.type);
      assert.equal(s.certificationData.type, 5);
      assert.deepEqual(s.qeAuthData, r.qeAuthData);
      for (const k of ['miscSelect', 'isvProdId', 'configSvn'] as const) assert.equal(s.qeReport[k], r.qeReport[k], `qeReport.${k}`);
      assert.deepEqual(s.qeReport.attributes, r.qeReport.attributes);
      assert.notDeepEqual(s.qeReport.mrSigner, r.qeReport.mrSigner, 'never Intel’s TD QE signer');
      assert.deepEqual(s.qeReport.mrSigner, SIM_TD_QE.mrSigner);
      const st = sim.body.type === 2 ? sim.body.td10 : sim.body.type === 3 ? sim.body.td15 : assert.fail();
      const rt = real.body.type === 2 ? real.body.td10 : real.body.type === 3 ? real.body.td15 : assert.fail();
      assert.equal(st.tdAttributes.value, rt.tdAttributes.value);
      assert.deepEqual(st.mrSignerSeam, rt.mrSignerSeam);
      assert.equal(st.seamAttributes, rt.seamAttributes);
      assert.equal(st.teeTcbSvn[1], rt.teeTcbSvn[1], 'module major version');
      assert.equal(sim.signatureDataLength > 4000, real.signatureDataLength > 4000);
    }
  });

  test('TDX collateral has the real collateral’s structure: TCB Info id TDX with module identities, QE Identity TD_QE', async () => {
    const c = (await platform('out-of-date')).tdxCollateral();
    const tcb = JSON.parse(c.tcb_info) as Record<string, unknown> & { tcbLevels: { tcb: Record<string, unknown> }[] };
    const real = JSON.parse(realCollateral.tcb_info) as typeof tcb;
    assert.deepEqual(Object.keys(tcb), Object.keys(real));
    assert.deepEqual(shape(tcb.tdxModule), shape(real.tdxModule));
    assert.deepEqual(shape(tcb.tdxModuleIdentities), shape(real.tdxModuleIdentities));
    assert.deepEqual(Object.keys(tcb.tcbLevels[0].tcb), Object.keys(real.tcbLevels[0].tcb));
    assert.equal(tcb.id, 'TDX');
    assert.equal(tcb.version, 3);
    const qe = JSON.parse(c.qe_identity) as Record<string, unknown>;
    const realQe = JSON.parse(realCollateral.qe_identity) as Record<string, unknown>;
    assert.deepEqual(shape(qe), shape(realQe));
    assert.equal(qe.id, 'TD_QE');
    assert.equal(qe.attributes, realQe.attributes);
    assert.equal(qe.attributesMask, realQe.attributesMask);
    assert.equal(qe.isvprodid, realQe.isvprodid);
    // one PCK hierarchy: CRLs and chains are the SGX collateral's
    const sgx = (await platform('out-of-date')).collateral();
    assert.equal(c.pck_crl, sgx.pck_crl);
    assert.equal(c.tcb_info_issuer_chain, sgx.tcb_info_issuer_chain);
  });

  test('TDREPORT layout: REPORTMACSTRUCT, TEE_TCB_INFO and TDINFO at Intel’s offsets', async () => {
    const p = await platform('up-to-date');
    const raw = p.tdReport({ reportData: Buffer.alloc(64, 7), mrTd: Buffer.alloc(48, 9), rtmr: [undefined, undefined, undefined, Buffer.alloc(48, 5)], quoteVersion: 5 });
    assert.equal(raw.length, 1024);
    assert.deepEqual([raw[0], raw[1], raw[2], raw[3]], [0x81, 0, 1, 0]);
    assert.deepEqual(raw.subarray(16, 32), Buffer.from(p.getQuote(p.ereport({ targetInfo: p.qeTargetInfo() })).quote.subarray(48, 64)), 'CPUSVN as the SGX QE sees it');
    assert.deepEqual(raw.subarray(128, 192), Buffer.alloc(64, 7));
    assert.deepEqual(raw.subarray(256, 264), Buffer.from([0xff, 0x01, 0x03, 0, 0, 0, 0, 0]), 'VALID 0x301FF');
    assert.deepEqual(raw.subarray(264, 280), SIM_TDX_MODULE.teeTcbSvn);
    assert.deepEqual(raw.subarray(280, 328), SIM_TDX_MODULE.mrSeam);
    assert.deepEqual(raw.subarray(384, 400), SIM_TDX_MODULE.teeTcbSvn, 'TEE_TCB_SVN2 @256+128');
    assert.deepEqual(raw.subarray(528, 576), Buffer.alloc(48, 9), 'MRTD @512+16');
    assert.deepEqual(raw.subarray(512 + 352, 512 + 400), Buffer.alloc(48, 5), 'RTMR3 @512+352');
    const r = parseTdReportStruct(raw);
    assert.deepEqual(tdReportQuoteKind(r), { quoteVersion: 5, teeTcbSvn2Valid: true, mrServiceTdValid: true });
    const v10 = parseTdReportStruct(p.tdReport());
    assert.equal(v10.reportType.version, 0);
    assert.deepEqual(v10.teeTcbInfo.valid, Buffer.from([0xff, 0x01, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual(tdReportQuoteKind(v10), { quoteVersion: 4, teeTcbSvn2Valid: false, mrServiceTdValid: false });
  });

  test('Intel’s TD QE rule: a version-0 report whose valid TEE_TCB_SVN2 differs from TEE_TCB_SVN gets a v5 quote', () => {
    const base = {
      cpuSvn: Buffer.alloc(16),
      reportData: Buffer.alloc(64),
      tdInfo: { attributes: 0n, xfam: 0n, mrTd: Buffer.alloc(48), mrConfigId: Buffer.alloc(48), mrOwner: Buffer.alloc(48), mrOwnerConfig: Buffer.alloc(48), rtMr: [Buffer.alloc(48), Buffer.alloc(48), Buffer.alloc(48), Buffer.alloc(48)] as [Buffer, Buffer, Buffer, Buffer] },
    };
    const tcb = { valid: 0x301ffn, teeTcbSvn: SIM_TDX_MODULE.teeTcbSvn, mrSeam: Buffer.alloc(48), mrSignerSeam: Buffer.alloc(48), attributes: 0n };
    const same = parseTdReportStruct(encodeTdReportStruct({ version: 0, ...base, teeTcbInfo: { ...tcb, teeTcbSvn2: SIM_TDX_MODULE.teeTcbSvn } }));
    assert.equal(tdReportQuoteKind(same).quoteVersion, 4);
    const newer = Buffer.from(SIM_TDX_MODULE.teeTcbSvn);
    newer[0] += 1;
    const differs = parseTdReportStruct(encodeTdReportStruct({ version: 0, ...base, teeTcbInfo: { ...tcb, teeTcbSvn2: newer } }));
    assert.deepEqual(tdReportQuoteKind(differs), { quoteVersion: 5, teeTcbSvn2Valid: true, mrServiceTdValid: false });
    const badValid = parseTdReportStruct(encodeTdReportStruct({ version: 0, ...base, teeTcbInfo: { ...tcb, valid: 0xffn } }));
    assert.throws(() => tdReportQuoteKind(badValid), isCode('TDREPORT_FORMAT_NOT_SUPPORTED', 'VALID'));
  });

  test('bad TDREPORTs are refused with their own codes; the TD QE keeps working', async () => {
    const p = await platform('up-to-date');
    const good = p.tdReport({ reportData: Buffer.from('x') });
    const flip = (off: number) => {
      const b = Buffer.from(good);
      b[off] ^= 1;
      return b;
    };
    assert.throws(() => p.getTdQuote(flip(TDREPORT_OFFSET.MAC + 3)), isCode('SIM_INVALID_TD_REPORT'));
    assert.throws(() => p.getTdQuote(flip(TDREPORT_OFFSET.REPORT_DATA)), isCode('SIM_INVALID_TD_REPORT'));
    assert.throws(() => p.getTdQuote(flip(TDREPORT_OFFSET.TDINFO + 20)), isCode('TDREPORT_HASH_MISMATCH'));
    assert.throws(() => p.getTdQuote(flip(TDREPORT_OFFSET.TEE_TCB_INFO + 30)), isCode('TDREPORT_HASH_MISMATCH'));
    assert.throws(() => p.getTdQuote(flip(0)), isCode('TDREPORT_FORMAT_NOT_SUPPORTED', 'REPORTTYPE'));
    assert.throws(() => p.getTdQuote(flip(TDREPORT_OFFSET.RESERVED + 1)), isCode('TDREPORT_FORMAT_NOT_SUPPORTED', 'reserved'));
    assert.throws(() => p.getTdQuote(good.subarray(0, 1023)), isCode('TDREPORT_TRUNCATED'));
    assert.throws(() => p.getTdQuote(Buffer.concat([good, Buffer.alloc(1)])), isCode('TDREPORT_TRAILING_BYTES'));
    assert.throws(() => p.getTdQuote('junk' as unknown as Uint8Array), isCode('TDREPORT_TRUNCATED'));
    // another platform's TDREPORT: its MAC key is not this TD QE's
    const other = await platform('sw-hardening-needed');
    assert.throws(() => p.getTdQuote(other.tdReport()), isCode('SIM_INVALID_TD_REPORT'));
    assert.ok(p.getTdQuote(good).length > 4000);
    // a flipped byte in the quote is caught by the verifier
    const quote = p.getTdQuote(good);
    quote[48 + 136] ^= 1; // MRTD
    assert.throws(() => verifyQuote(quote, p.tdxCollateral(), { trustedRoots: [p.rootCaPem], now: NOW }), isCode('QUOTE_SIGNATURE_INVALID'));
    assert.throws(() => p.tdReport({ quoteVersion: 3 as 4 }), isCode('SIM_BAD_QUOTE_VERSION'));
    assert.throws(() => p.tdReport({ mrTd: Buffer.alloc(32) }), isCode('SIM_BAD_ARGUMENT'));
    assert.throws(() => p.tdReport({ reportData: Buffer.alloc(65) }), isCode('SIM_BAD_ARGUMENT'));
  });

  test('the TD QE identity survives a reopen; a seed gives the same TD QE everywhere', async () => {
    const p = await platform('up-to-date');
    const key = (x: SimPlatform) => parseQuote(x.getTdQuote(x.tdReport())).signatureData.attestationKey;
    const reopened = await SimPlatform.open(join(tmp.dir, 'up-to-date'), { now: NOW });
    assert.deepEqual(key(reopened), key(p));
    assert.ok(reopened.getTdQuote(p.tdReport()).length > 0, 'a report made before the reopen is still accepted');
    const twin = await SimPlatform.open(join(tmp.dir, 'twin'), { scenario: 'up-to-date', seed: 'tdx-up-to-date', now: NOW });
    assert.deepEqual(key(twin), key(p));
    assert.equal(p.tdQuoteSize(4), p.getTdQuote(p.tdReport()).length);
    assert.equal(p.tdQuoteSize(5), p.getTdQuote(p.tdReport({ quoteVersion: 5 })).length);
  });
});
