/**
 * Cases real data cannot show, on the real SGX sample re-signed under a test
 * PKI (test/dcap/pki.ts): revocation through CRLs built here, CA
 * constraints, Revoked TCB as data, Intel's status convergence where Phala's
 * dcap-qvl differs.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyQuote } from '../../src/dcap/index.js';
import { convergeTcbStatus, convergeTcbStatusLikeDcapQvl } from '../../src/dcap/tcb.js';
import { rejects } from './helpers.js';
import { TestPki, type ForgeOptions, type Forged } from './pki.js';

const NOW = new Date('2026-01-15T12:00:00Z');
let pki: TestPki;
before(async () => {
  pki = await TestPki.create();
});
const forge = (o: Partial<ForgeOptions> = {}): Promise<Forged> => pki.forge({ now: NOW, ...o });
const verify = (f: Forged, extra: { now?: Date } = {}) => verifyQuote(f.quote, f.collateral, { now: extra.now ?? NOW, trustedRoots: [f.rootPem] });
const rejectsWith = async (o: Partial<ForgeOptions>, code: string, msg?: string) => {
  const f = await forge(o);
  rejects(() => verify(f), code, msg);
};

type Level = { tcbStatus: string; advisoryIDs?: string[] };
const levels = (j: Record<string, unknown>) => j.tcbLevels as Level[];

describe('re-signed under a test root', () => {
  test('verifies like the original when the test root is trusted explicitly', async () => {
    const f = await forge();
    const r = verify(f);
    assert.equal(r.status, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual(r.advisoryIds, ['INTEL-SA-00289', 'INTEL-SA-00615']);
  });
  test('is untrusted under the production pin → PCK_CHAIN_UNTRUSTED', async () => {
    const f = await forge();
    rejects(() => verifyQuote(f.quote, f.collateral, { now: NOW }), 'PCK_CHAIN_UNTRUSTED');
  });
  test('collateral expires at the earliest nextUpdate (CRLs and JSON: now + 30 days)', async () => {
    const r = verify(await forge());
    assert.equal(r.collateralExpiresAt, new Date(NOW.getTime() + 30 * 86_400_000).toISOString());
  });
});

describe('SGX quote versions 4 and 5 (the sample re-encoded: type-6 certification data, v5 body descriptor)', () => {
  for (const version of [4, 5] as const) {
    test(`SGX v${version} verifies like v3`, async () => {
      const f = await forge({ quoteVersion: version });
      assert.equal(f.quote.readUInt16LE(0), version);
      const r = verify(f);
      assert.equal(r.quoteVersion, version);
      assert.equal(r.teeType, 'SGX');
      assert.equal(r.status, 'ConfigurationAndSWHardeningNeeded');
      assert.ok(r.enclave);
    });
  }
  test('SGX v5: one byte of the body descriptor changed → rejected by the parser, never accepted', async () => {
    const f = await forge({ quoteVersion: 5 });
    const q = Buffer.from(f.quote);
    q[50] ^= 0x01; // body size
    assert.throws(() => verifyQuote(q, f.collateral, { now: NOW, trustedRoots: [f.rootPem] }), (e: unknown) => e instanceof Error && 'code' in e);
  });
});

describe('revocation via CRLs built in the test', () => {
  test('PCK certificate on the PCK CRL → PCK_REVOKED', async () => {
    const e = rejects(() => verify(f1), 'PCK_REVOKED');
    assert.equal(e.details?.serial, '0B');
  });
  let f1: Forged;
  before(async () => {
    f1 = await forge({ revokePck: true });
  });
  test('PCK CA on the root CA CRL → INTERMEDIATE_CA_REVOKED', async () => rejectsWith({ revokeCa: true }, 'INTERMEDIATE_CA_REVOKED'));
  test('TCB signing certificate on the root CA CRL → TCB_SIGNING_CERT_REVOKED', async () => rejectsWith({ revokeTcbSigner: true }, 'TCB_SIGNING_CERT_REVOKED'));
  test('a CRL without a CRL Number → CRL_INVALID', async () => rejectsWith({ omitCrlNumber: true }, 'CRL_INVALID'));
  test('the root CA CRL given as the PCK CRL → CRL_UNKNOWN_ISSUER', async () => {
    const f = await forge();
    rejects(() => verify({ ...f, collateral: { ...f.collateral, pck_crl: f.collateral.root_ca_crl } }), 'CRL_UNKNOWN_ISSUER');
  });
});

describe("the five extensions Intel's QVL requires in every certificate (REQUIRED_X509_EXTENSIONS)", () => {
  // Intel refuses a chain in which any certificate lacks one of them; so must kube-sgx, also under a custom root.
  const EXTENSIONS = {
    authorityKeyIdentifier: '2.5.29.35',
    cRLDistributionPoints: '2.5.29.31',
    subjectKeyIdentifier: '2.5.29.14',
    keyUsage: '2.5.29.15',
    basicConstraints: '2.5.29.19',
  };
  // the code of the first check that meets the certificate: the trusted root is refused when it is loaded,
  // the PCK CA in the PCK chain (checked before the collateral), the TCB signer in the TCB Info chain
  const where = { root: 'TRUSTED_ROOT_INVALID', ca: 'PCK_CHAIN_INVALID', pck: 'PCK_CHAIN_INVALID', tcb: 'TCB_INFO_CHAIN_INVALID' } as const;
  for (const [cert, code] of Object.entries(where) as [keyof typeof where, string][]) {
    for (const [name, oid] of Object.entries(EXTENSIONS)) {
      test(`${cert} without ${name} → ${code}`, async () => rejectsWith({ omitExtension: { cert, oid } }, code, name));
    }
  }
});

describe('CA constraints', () => {
  test('an intermediate without the CA flag → PCK_CHAIN_INVALID', async () => rejectsWith({ caIsNotCa: true }, 'PCK_CHAIN_INVALID', 'not a CA'));
  test('root pathLenConstraint 0 with an intermediate below → PCK_CHAIN_INVALID', async () => rejectsWith({ rootPathLen: 0 }, 'PCK_CHAIN_INVALID', 'pathLenConstraint'));
});

describe('TCB statuses are data, combined as Intel does', () => {
  test('matched platform level Revoked → status Revoked returned (not thrown)', async () => {
    const f = await forge({ tcbInfo: (j) => levels(j).forEach((l) => (l.tcbStatus = 'Revoked')) });
    const r = verify(f);
    assert.equal(r.status, 'Revoked');
    assert.equal(r.platform.status, 'Revoked');
  });
  test('QE OutOfDate with platform ConfigurationNeeded → OutOfDateConfigurationNeeded (dcap-qvl: OutOfDate)', async () => {
    const f = await forge({
      tcbInfo: (j) => levels(j).forEach((l) => ((l.tcbStatus = 'ConfigurationNeeded'), (l.advisoryIDs = ['INTEL-SA-00001']))),
      qeIdentity: (j) => {
        j.tcbLevels = [
          { tcb: { isvsvn: 12 }, tcbDate: '2025-01-01T00:00:00Z', tcbStatus: 'UpToDate' },
          { tcb: { isvsvn: 8 }, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00002', 'INTEL-SA-00001'] },
        ];
      },
    });
    const r = verify(f);
    assert.equal(r.status, 'OutOfDateConfigurationNeeded');
    assert.equal(r.qeStatus, 'OutOfDate');
    assert.deepEqual(r.advisoryIds, ['INTEL-SA-00001', 'INTEL-SA-00002'], 'de-duplicated union, platform first');
    assert.equal(r.tcbDate, '2024-01-01T00:00:00Z', 'earliest matched level date');
    assert.equal(convergeTcbStatusLikeDcapQvl(r.platform.status, [r.qeStatus]), 'OutOfDate');
  });
  test('QE level Revoked → Revoked', async () => {
    const f = await forge({ qeIdentity: (j) => (j.tcbLevels = [{ tcb: { isvsvn: 1 }, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: 'Revoked' }]) });
    assert.equal(verify(f).status, 'Revoked');
  });
  test('QE ISVSVN below every QE level → TCB_NOT_SUPPORTED', async () => {
    const f = await forge({ qeIdentity: (j) => (j.tcbLevels = [{ tcb: { isvsvn: 99 }, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: 'UpToDate' }]) });
    rejects(() => verify(f), 'TCB_NOT_SUPPORTED', 'QE ISVSVN');
  });
  test('TCB levels in shuffled JSON order give the same level (Intel sorts them)', async () => {
    const f = await forge({ tcbInfo: (j) => levels(j).reverse() });
    assert.equal(verify(f).status, 'ConfigurationAndSWHardeningNeeded');
  });
  test('duplicate TCB levels → TCB_INFO_INVALID', async () => {
    const f = await forge({ tcbInfo: (j) => levels(j).push(levels(j)[0]) });
    rejects(() => verify(f), 'TCB_INFO_INVALID', 'duplicate');
  });
  test('the full Intel convergence table', () => {
    const table: Record<string, [string, string, string]> = {
      UpToDate: ['UpToDate', 'OutOfDate', 'Revoked'],
      SWHardeningNeeded: ['SWHardeningNeeded', 'OutOfDate', 'Revoked'],
      ConfigurationNeeded: ['ConfigurationNeeded', 'OutOfDateConfigurationNeeded', 'Revoked'],
      ConfigurationAndSWHardeningNeeded: ['ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded', 'Revoked'],
      OutOfDate: ['OutOfDate', 'OutOfDate', 'Revoked'],
      OutOfDateConfigurationNeeded: ['OutOfDateConfigurationNeeded', 'OutOfDateConfigurationNeeded', 'Revoked'],
      Revoked: ['Revoked', 'Revoked', 'Revoked'],
    };
    for (const [platform, [up, out, rev]] of Object.entries(table)) {
      const p = platform as Parameters<typeof convergeTcbStatus>[0];
      assert.equal(convergeTcbStatus(p, ['UpToDate']), up, platform);
      assert.equal(convergeTcbStatus(p, ['OutOfDate']), out, platform);
      assert.equal(convergeTcbStatus(p, ['SWHardeningNeeded']), out, `${platform}: a non-UpToDate QE level counts as OutOfDate`);
      assert.equal(convergeTcbStatus(p, ['UpToDate', 'Revoked']), rev, platform);
    }
  });
});

describe('identity and collateral mismatches', () => {
  test('QE MRSIGNER differs → QE_IDENTITY_MISMATCH', async () =>
    rejectsWith({ qeIdentity: (j) => (j.mrsigner = '00'.repeat(32)) }, 'QE_IDENTITY_MISMATCH', 'MRSIGNER'));
  test('QE ISVPRODID differs → QE_IDENTITY_MISMATCH', async () => rejectsWith({ qeIdentity: (j) => (j.isvprodid = 7) }, 'QE_IDENTITY_MISMATCH', 'ISVPRODID'));
  test('QE ATTRIBUTES under mask differ → QE_IDENTITY_MISMATCH', async () =>
    rejectsWith({ qeIdentity: (j) => (j.attributes = '13000000000000000000000000000000') }, 'QE_IDENTITY_MISMATCH', 'ATTRIBUTES'));
  test('TD_QE identity for an SGX quote → QE_IDENTITY_MISMATCH', async () => rejectsWith({ qeIdentity: (j) => (j.id = 'TD_QE') }, 'QE_IDENTITY_MISMATCH'));
  test('PCE-ID differs → PCEID_MISMATCH', async () => rejectsWith({ tcbInfo: (j) => (j.pceId = '0100') }, 'PCEID_MISMATCH'));
  test('FMSPC differs → FMSPC_MISMATCH', async () => rejectsWith({ tcbInfo: (j) => (j.fmspc = '00A067110001') }, 'FMSPC_MISMATCH'));
  test('TCB Info nextUpdate passed → TCB_INFO_EXPIRED', async () =>
    rejectsWith({ tcbInfo: (j) => (j.nextUpdate = '2026-01-15T11:59:59Z') }, 'TCB_INFO_EXPIRED'));
  test('QE Identity issueDate in the future → QE_IDENTITY_NOT_YET_VALID', async () =>
    rejectsWith({ qeIdentity: (j) => (j.issueDate = '2026-01-15T12:00:01Z') }, 'QE_IDENTITY_NOT_YET_VALID'));
  test('TCB Info version 4 → TCB_INFO_UNSUPPORTED_VERSION', async () => rejectsWith({ tcbInfo: (j) => (j.version = 4) }, 'TCB_INFO_UNSUPPORTED_VERSION'));
  test('TCB Info field of the wrong type is named → TCB_INFO_INVALID tcbInfo.tcbLevels.0.tcbStatus', async () =>
    rejectsWith({ tcbInfo: (j) => (levels(j)[0].tcbStatus = 'Fine') }, 'TCB_INFO_INVALID', 'tcbInfo.tcbLevels.0.tcbStatus'));
});
