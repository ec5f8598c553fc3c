/** The verifier CLI, spawned as users run it: exit codes and exactly one JSON object on stdout. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCollateral } from '../../src/dcap/index.js';
import { INTEL, PHALA, phalaCollateral } from './helpers.js';
import { startCollateralServer, type CollateralServer } from './collateral-server.js';

interface Run {
  code: number;
  json: Record<string, unknown> | undefined;
  stdout: string;
}

function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: join(PHALA, '..', '..', '..', '..'), timeout: 240_000 }, (err, stdout) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, json, stdout });
    });
  });
}

const SGX = join(PHALA, 'sample/sgx_quote');
const SGX_COL = join(PHALA, 'sample/sgx_quote_collateral.json');
const errorCode = (r: Run) => (r.json?.error as { code?: string } | undefined)?.code;

describe('kube-sgx quote verify', { concurrency: true }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kube-sgx-cli-'));
    writeFileSync(join(dir, 'quote.b64'), readFileSync(SGX).toString('base64') + '\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('verified: exit 0, status and advisoryIds at the top level (base64 quote file)', async () => {
    const r = await run('quote', 'verify', join(dir, 'quote.b64'), '--collateral', SGX_COL, '--at', '2025-07-01T00:00:00Z');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.json?.status, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual(r.json?.advisoryIds, ['INTEL-SA-00289', 'INTEL-SA-00615']);
  });
  test('hex quote, Intel sample with --root-ca and --pck-chain (leaf only)', async () => {
    const r = await run(
      'quote', 'verify', join(INTEL, 'quote.dat'), '--collateral', join(dir, 'intel.json'), '--at', '2025-07-01T00:00:00Z',
      '--root-ca', join(INTEL, 'trustedRootCaCert.pem'), '--pck-chain', join(INTEL, 'pckCert.pem'),
    );
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.json?.status, 'UpToDate');
  });
  test('rejected: exit 1 with error.code (time after the window)', async () => {
    const r = await run('quote', 'verify', SGX, '--collateral', SGX_COL, '--at', '2025-08-01T00:00:00Z');
    assert.equal(r.code, 1);
    assert.equal(errorCode(r), 'CRL_EXPIRED');
    assert.equal(typeof (r.json?.error as { message?: unknown }).message, 'string');
  });
  test("--root-ca: a custom PKI whose certificates lack CRL Distribution Points is refused as Intel's QVL refuses it", async () => {
    // the same forged chain verifies when every certificate has Intel's five extensions, and is refused without one
    const { TestPki } = await import('./pki.js');
    const { serializeCollateral } = await import('../../src/dcap/index.js');
    const pki = await TestPki.create();
    const now = new Date('2026-01-15T12:00:00Z');
    const write = async (name: string, omit?: { cert: 'root' | 'pck'; oid: string }) => {
      const f = await pki.forge({ now, ...(omit ? { omitExtension: omit } : {}) });
      writeFileSync(join(dir, `${name}.quote`), f.quote);
      writeFileSync(join(dir, `${name}.json`), serializeCollateral(f.collateral));
      writeFileSync(join(dir, `${name}.root.pem`), f.rootPem);
      return (...extra: string[]) =>
        run('quote', 'verify', join(dir, `${name}.quote`), '--collateral', join(dir, `${name}.json`), '--root-ca', join(dir, `${name}.root.pem`), '--at', now.toISOString(), ...extra);
    };
    const ok = await (await write('intel-shaped'))();
    assert.equal(ok.code, 0, ok.stdout);
    const noRootDp = await (await write('root-without-dp', { cert: 'root', oid: '2.5.29.31' }))();
    assert.equal(noRootDp.code, 1, noRootDp.stdout);
    assert.equal(errorCode(noRootDp), 'TRUSTED_ROOT_INVALID');
    assert.match(String((noRootDp.json?.error as { message?: unknown }).message), /cRLDistributionPoints/);
    const noLeafDp = await (await write('pck-without-dp', { cert: 'pck', oid: '2.5.29.31' }))();
    assert.equal(errorCode(noLeafDp), 'PCK_CHAIN_INVALID');
  });
  test('usage error: exit 2 with error.code USAGE (bad --at)', async () => {
    const b = await run('quote', 'verify', SGX, '--collateral', SGX_COL, '--at', 'yesterday');
    assert.equal(b.code, 2);
    assert.equal(errorCode(b), 'USAGE');
  });
  // the Intel sample collateral file for the test above
  before(async () => {
    const { intelSampleCollateral } = await import('./helpers.js');
    const { serializeCollateral } = await import('../../src/dcap/index.js');
    writeFileSync(join(dir, 'intel.json'), serializeCollateral(intelSampleCollateral()));
  });
});

describe('kube-sgx quote inspect / collateral fetch', { concurrency: true }, () => {
  let server: CollateralServer;
  let dir: string;
  before(async () => {
    server = await startCollateralServer({ 'SGX/00A067110000': phalaCollateral('sample/sgx_quote_collateral.json') });
    dir = mkdtempSync(join(tmpdir(), 'kube-sgx-cli-'));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('inspect prints every field as JSON, with the PCK certificate extensions', async () => {
    const r = await run('quote', 'inspect', SGX);
    assert.equal(r.code, 0);
    assert.equal((r.json?.header as { version: number }).version, 3);
    const pck = r.json?.pckCertificate as { sgxExtensions: { fmspc: string } };
    assert.equal(pck.sgxExtensions.fmspc.toUpperCase(), '00A067110000');
  });
  test('collateral fetch --pccs writes collateral equal to the served set', async () => {
    const out = join(dir, 'col.json');
    const f = await run('collateral', 'fetch', SGX, '--pccs', `${server.url}/pccs`, '--out', out);
    assert.equal(f.code, 0, f.stdout);
    assert.deepEqual(f.json, { out, fmspc: '00A067110000', ca: 'processor', tee: 'SGX' });
    assert.deepEqual(parseCollateral(readFileSync(out, 'utf8')), phalaCollateral('sample/sgx_quote_collateral.json'));
  });
});
