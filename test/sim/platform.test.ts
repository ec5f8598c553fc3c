import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import qvl from '@phala/dcap-qvl';
import { SimPlatform, SCENARIO_STATUS, SIM_ADVISORIES, SIM_PCK_TCB, SIM_QE, TCB_SCENARIOS, type TcbScenario } from '../../src/sim/index.js';
import { verifyQuote, QuoteVerifier } from '../../src/dcap/index.js';
import { encodeQuote, parseQuote, parsePckExtensions, parseReport, parseTargetInfo, encodeTargetInfo, makeTargetInfo } from '../../src/sgx/index.js';
import { isCode, tempDir } from './helpers.js';

const EXPECTED_ADVISORIES: Record<TcbScenario, readonly string[]> = {
  'up-to-date': [],
  'sw-hardening-needed': SIM_ADVISORIES.swHardening,
  'out-of-date': SIM_ADVISORIES.outOfDate,
  revoked: SIM_ADVISORIES.outOfDate,
};

const tmp = tempDir();
const platforms = new Map<TcbScenario, SimPlatform>();
const reportData = Buffer.from('kube-sgx platform test');

before(async () => {
  for (const s of TCB_SCENARIOS) platforms.set(s, await SimPlatform.open(join(tmp.dir, s), { scenario: s }));
});
after(() => tmp.cleanup());

const upToDate = () => platforms.get('up-to-date')!;
function quoteOf(p: SimPlatform, version: 3 | 4 = 3, extra: Partial<Parameters<SimPlatform['ereport']>[0]> = {}): Buffer {
  return p.getQuote(p.ereport({ targetInfo: p.qeTargetInfo(), reportData, ...extra }), { version }).quote;
}

describe("each scenario reaches its status through the verifier's verifyQuote", () => {
  for (const s of TCB_SCENARIOS) {
    for (const version of [3, 4] as const) {
      test(`${s}, quote v${version}`, () => {
        const p = platforms.get(s)!;
        const quote = quoteOf(p, version);
        if (s === 'revoked') {
          // The PCK is on the PCK CRL: the verifier rejects it before TCB matching (and its TCB level is Revoked too).
          assert.throws(() => verifyQuote(quote, p.collateral(), { trustedRoots: [p.rootCaPem] }), isCode('PCK_REVOKED'));
          return;
        }
        const r = verifyQuote(quote, p.collateral(), { trustedRoots: [p.rootCaPem] });
        assert.equal(r.status, SCENARIO_STATUS[s]);
        assert.deepEqual(r.advisoryIds, [...EXPECTED_ADVISORIES[s]]);
        assert.equal(r.quoteVersion, version);
        assert.equal(r.fmspc, p.fmspc);
        assert.equal(r.enclave?.reportData, Buffer.concat([reportData, Buffer.alloc(64 - reportData.length)]).toString('hex'));
        assert.equal(r.enclave?.debug, false);
      });
    }
  }

  test('revoked: the TCB level is Revoked as well (a verifier that skips the CRL still says Revoked)', () => {
    const p = platforms.get('revoked')!;
    const levels = (JSON.parse(p.collateral().tcb_info) as { tcbLevels: Array<{ tcbStatus: string }> }).tcbLevels;
    assert.equal(levels[1].tcbStatus, 'Revoked');
  });

  test('the cached QuoteVerifier agrees', () => {
    const p = upToDate();
    const v = new QuoteVerifier({ trustedRoots: [p.rootCaPem] });
    for (let i = 0; i < 3; i++) assert.equal(v.verifySync(quoteOf(p), p.collateral()).status, 'UpToDate');
  });

  test('an independent verifier (@phala/dcap-qvl 0.3.9) gives the same statuses', () => {
    const now = Math.floor(Date.now() / 1000);
    for (const s of TCB_SCENARIOS) {
      const p = platforms.get(s)!;
      const v = qvl.QuoteVerifier.newWithRootCa(Buffer.from(new X509Certificate(p.rootCaPem).raw));
      const c = p.collateral();
      const collateral = { ...c, root_ca_crl: Buffer.from(c.root_ca_crl, 'hex'), pck_crl: Buffer.from(c.pck_crl, 'hex') } as unknown as Parameters<typeof v.verify>[1];
      if (s === 'revoked') {
        assert.throws(() => v.verify(quoteOf(p), collateral, now), /revoked/i);
      } else {
        const r = v.verify(quoteOf(p), collateral, now);
        assert.equal(r.status, SCENARIO_STATUS[s]);
        assert.deepEqual(r.advisory_ids, [...EXPECTED_ADVISORIES[s]]);
      }
    }
  });
});

describe('trust: only with the simulated root', () => {
  test('without trustedRoots (the pinned Intel root) the quote is rejected', () => {
    const p = upToDate();
    assert.throws(() => verifyQuote(quoteOf(p), p.collateral()), isCode('PCK_CHAIN_UNTRUSTED'));
  });

  test("another simulated platform's root does not verify this platform's quotes", () => {
    const p = upToDate();
    const other = platforms.get('out-of-date')!;
    assert.throws(() => verifyQuote(quoteOf(p), p.collateral(), { trustedRoots: [other.rootCaPem] }), isCode('PCK_CHAIN_UNTRUSTED'));
  });

  test('the PCK leaf carries every SGX extension field (parsed by src/sgx)', () => {
    const p = upToDate();
    const ext = parsePckExtensions(new X509Certificate(p.pckCertificatePem()).raw);
    assert.equal(ext.fmspc.toString('hex').toUpperCase(), p.fmspc);
    assert.equal(ext.pceId.toString('hex'), '0000');
    assert.deepEqual(ext.tcbComponents, [...SIM_PCK_TCB.components]);
    assert.equal(ext.pceSvn, SIM_PCK_TCB.pcesvn);
    assert.deepEqual([...ext.cpuSvn], [...SIM_PCK_TCB.components]);
    assert.equal(ext.ppid.length, 16);
    assert.equal(ext.sgxType, 0);
    assert.equal(ext.platformInstanceId, undefined);
    const leaf = new X509Certificate(p.pckCertificatePem());
    assert.equal(leaf.ca, false);
    assert.match(leaf.subject, /CN=Intel SGX PCK Certificate/);
    assert.match(leaf.issuer, /CN=Intel SGX PCK Processor CA/);
  });

  test('the root says it is a simulation', () => {
    const cert = new X509Certificate(upToDate().rootCaPem);
    assert.match(cert.subject, /OU=kube-sgx simulation/);
    assert.equal(cert.ca, true);
  });
});

describe('quote structure', () => {
  test('v3: certification data type 5 (PEM leaf, CA, root); v4: type 6 wrapping type 5; exact round trip through src/sgx', () => {
    const p = upToDate();
    for (const version of [3, 4] as const) {
      const quote = quoteOf(p, version);
      assert.equal(quote.length, p.quoteSize(version));
      const q = parseQuote(quote, { trailing: 'reject' });
      assert.equal(q.header.version, version);
      assert.deepEqual(encodeQuote(q), quote);
      const cd = q.signatureData.certificationData;
      assert.equal(cd.type, 5);
      if (cd.type === 5) assert.equal(cd.certificates.length, 3);
      if (version === 4) assert.equal(quote.readUInt16LE(436 + 128), 6);
      else assert.equal(quote.readUInt16LE(1014 + 32), 5);
      // QE report data = SHA-256(attestation key ‖ auth data) ‖ 32 zeros
      const sd = q.signatureData;
      assert.equal(sd.qeAuthData.length, 32);
      assert.deepEqual(sd.qeReport.reportData.subarray(0, 32), createHash('sha256').update(sd.attestationKey).update(sd.qeAuthData).digest());
      assert.deepEqual(sd.qeReport.reportData.subarray(32), Buffer.alloc(32));
      assert.deepEqual(sd.qeReport.mrSigner, SIM_QE.mrSigner);
      assert.equal(sd.qeReport.attributes.debug, false);
    }
  });

  test('the enclave identity given to ereport is what the verifier reports', () => {
    const p = upToDate();
    const mrEnclave = Buffer.alloc(32, 0xab);
    const mrSigner = Buffer.alloc(32, 0xcd);
    const r = verifyQuote(quoteOf(p, 3, { mrEnclave, mrSigner, isvProdId: 9, isvSvn: 4, debug: true }), p.collateral(), { trustedRoots: [p.rootCaPem] });
    assert.equal(r.enclave?.mrEnclave, mrEnclave.toString('hex'));
    assert.equal(r.enclave?.mrSigner, mrSigner.toString('hex'));
    assert.equal(r.enclave?.isvProdId, 9);
    assert.equal(r.enclave?.isvSvn, 4);
    assert.equal(r.enclave?.debug, true);
  });

  test('a quote with one byte changed is rejected by the verifier', () => {
    const p = upToDate();
    const quote = quoteOf(p);
    const positions: Array<[number, string]> = [
      [0 + 8, 'QUOTE_SIGNATURE_INVALID'], // header QE SVN
      [48 + 64, 'QUOTE_SIGNATURE_INVALID'], // MRENCLAVE
      [48 + 320, 'QUOTE_SIGNATURE_INVALID'], // REPORTDATA
      [436 + 10, 'QUOTE_SIGNATURE_INVALID'], // quote signature
      [564 + 100, 'QE_REPORT_SIGNATURE_INVALID'], // QE report
      [948 + 5, 'QE_REPORT_SIGNATURE_INVALID'], // QE report signature
      [1014 + 3, 'QE_REPORT_DATA_MISMATCH'], // QE auth data
    ];
    for (const [off, code] of positions) {
      const bad = Buffer.from(quote);
      bad[off] ^= 0x01;
      assert.throws(() => verifyQuote(bad, p.collateral(), { trustedRoots: [p.rootCaPem] }), (e: unknown) => isCode(code)(e), `offset ${off}`);
    }
    // anywhere in the signed region, whatever the verifier calls it, it is rejected
    for (let off = 0; off < 432; off += 37) {
      const bad = Buffer.from(quote);
      bad[off] ^= 0x80;
      assert.throws(() => verifyQuote(bad, p.collateral(), { trustedRoots: [p.rootCaPem] }), `offset ${off}`);
    }
  });
});

describe('EREPORT and the simulated QE', () => {
  test('the QE accepts its own platform’s report; a report with one byte changed is refused (SIM_INVALID_REPORT)', () => {
    const p = upToDate();
    const report = p.ereport({ targetInfo: p.qeTargetInfo(), reportData });
    assert.equal(report.length, 432);
    assert.ok(p.getQuote(report).quote.length > 0);
    for (const off of [0, 64, 128, 256, 320, 383, 384, 400, 416, 431]) {
      const bad = Buffer.from(report);
      bad[off] ^= 0x01;
      assert.throws(() => p.getQuote(bad), isCode('SIM_INVALID_REPORT'), `offset ${off}`);
    }
  });

  test('a report targeted at another enclave, or made on another platform, is refused', () => {
    const p = upToDate();
    const other = makeTargetInfo({ mrEnclave: Buffer.alloc(32, 7), attributes: { flags: 5n, xfrm: 3n } });
    assert.throws(() => p.getQuote(p.ereport({ targetInfo: encodeTargetInfo(other), reportData })), isCode('SIM_INVALID_REPORT'));
    const q = platforms.get('out-of-date')!;
    assert.throws(() => p.getQuote(q.ereport({ targetInfo: q.qeTargetInfo(), reportData })), isCode('SIM_INVALID_REPORT'));
    assert.throws(() => p.getQuote(Buffer.alloc(431)), isCode('SIM_INVALID_REPORT'));
  });

  test('random 432-byte reports are never accepted', () => {
    const p = upToDate();
    const good = p.ereport({ targetInfo: p.qeTargetInfo() });
    for (let i = 0; i < 300; i++) {
      const r = randomBytes(432);
      if (i % 2) good.copy(r, 0, 0, 416); // a real body and KEYID with a random MAC
      assert.throws(() => p.getQuote(r), isCode('SIM_INVALID_REPORT'));
    }
  });

  test('qeReportInfo: a QE report for the app enclave over SHA-256(nonce ‖ quote), checkable only by that app', () => {
    const p = upToDate();
    const appTarget = encodeTargetInfo(makeTargetInfo({ mrEnclave: Buffer.alloc(32, 0x11), attributes: { flags: 5n, xfrm: 0xe7n } }));
    const nonce = Buffer.alloc(16, 0x5a);
    const { quote, qeReport } = p.getQuote(p.ereport({ targetInfo: p.qeTargetInfo(), reportData }), { qeReportInfo: { nonce, appTargetInfo: appTarget } });
    assert.ok(qeReport);
    const r = parseReport(qeReport);
    assert.deepEqual(r.body.reportData.subarray(0, 32), createHash('sha256').update(nonce).update(quote).digest());
    assert.deepEqual(r.body.mrEnclave, SIM_QE.mrEnclave);
    assert.equal(p.verifyReport(qeReport, appTarget), true);
    assert.equal(p.verifyReport(qeReport, p.qeTargetInfo()), false);
    assert.throws(() => p.getQuote(p.ereport({ targetInfo: p.qeTargetInfo() }), { qeReportInfo: { nonce: Buffer.alloc(15), appTargetInfo: appTarget } }), isCode('SIM_BAD_QE_REPORT_INFO'));
  });

  test('QE target info, sizes and the attestation key ID', () => {
    const p = upToDate();
    const ti = parseTargetInfo(p.qeTargetInfo());
    assert.deepEqual(ti.mrEnclave, SIM_QE.mrEnclave);
    assert.equal(ti.attributes.provisionKey, true);
    assert.equal(p.quoteSize(3), quoteOf(p, 3).length);
    assert.equal(p.quoteSize(4), quoteOf(p, 4).length);
    assert.throws(() => p.getQuote(p.ereport({ targetInfo: p.qeTargetInfo() }), { version: 5 as 3 }), isCode('SIM_BAD_QUOTE_VERSION'));
    const id = p.attestationKeyId();
    assert.equal(id.length, 256);
    assert.equal(id.readUInt16LE(4), 32);
    assert.deepEqual(id.subarray(6, 38), SIM_QE.mrSigner);
    assert.equal(id.readUInt32LE(54), 1);
    assert.equal(id.readUInt32LE(154), 2);
  });

  test('ereport argument checks', () => {
    const p = upToDate();
    const ti = p.qeTargetInfo();
    assert.throws(() => p.ereport({ targetInfo: ti.subarray(1) }), isCode('SIM_BAD_TARGET_INFO'));
    assert.throws(() => p.ereport({ targetInfo: ti, reportData: Buffer.alloc(65) }), isCode('SIM_BAD_ARGUMENT'));
    assert.throws(() => p.ereport({ targetInfo: ti, mrEnclave: Buffer.alloc(31) }), isCode('SIM_BAD_ARGUMENT'));
    assert.throws(() => p.ereport({ targetInfo: ti, isvSvn: -1 }), isCode('SIM_BAD_ARGUMENT'));
  });
});
