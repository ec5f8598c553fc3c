/**
 * The service's collateral sources (--pccs, --thim, --collateral-dir) verify
 * the real Intel SGX sample through a loopback server speaking the real paths;
 * two sources at once are a configuration error.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeSgxError } from '../../src/errors.js';
import { parseCollateral } from '../../src/dcap/index.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { assembleAttestationService } from '../../src/service/server.js';
import { startCollateralServer, type CollateralServer } from '../dcap/collateral-server.js';
import { INTEL_SGX_QUOTE, INTEL_SAMPLE_TIME } from './helpers.js';

const sample = parseCollateral(readFileSync(join('test/vectors/dcap/phala-dcap-qvl/sample/sgx_quote_collateral.json'), 'utf8'));
let server: CollateralServer;
before(async () => {
  server = await startCollateralServer({ 'SGX/00A067110000': sample });
});
after(() => server.close());

for (const [flag, opts] of [
  ['--thim', () => ({ thimUrl: `${server.url}/thim` })],
  ['--pccs', () => ({ pccsUrl: `${server.url}/pccs` })],
] as const) {
  test(`${flag}: the real Intel sample verifies with collateral fetched over HTTP`, async () => {
    const { verifier } = await createDcapVerifier({ simulation: false, now: () => INTEL_SAMPLE_TIME, ...opts() });
    const r = await verifier.verify(INTEL_SGX_QUOTE);
    assert.equal(r.status, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual([...r.advisoryIds].sort(), ['INTEL-SA-00289', 'INTEL-SA-00615']);
    const d = await verifier.describe();
    assert.match(String(d.source), flag === '--thim' ? /^Azure THIM / : /^PCCS /);
  });
}

test('--qcnl-config: the PCCS named in a QCNL file (pccs_url) serves the collateral; the source names the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-sgx-qcnl-'));
  try {
    const file = join(dir, 'sgx_default_qcnl.conf');
    writeFileSync(file, JSON.stringify({ pccs_url: `${server.url}/pccs/sgx/certification/v4/`, use_secure_cert: false }));
    const { verifier } = await createDcapVerifier({ simulation: false, now: () => INTEL_SAMPLE_TIME, qcnlConfigFile: file });
    assert.equal((await verifier.verify(INTEL_SGX_QUOTE)).status, 'ConfigurationAndSWHardeningNeeded');
    assert.equal((await verifier.describe()).source, `PCCS ${server.url}/pccs (from ${file})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two collateral sources at once are refused (CONFIG_INVALID)', async () => {
  await assert.rejects(
    assembleAttestationService({ pccsUrl: 'http://127.0.0.1:1', thimUrl: 'http://127.0.0.1:1' }, 'http://127.0.0.1:1'),
    (e: unknown) => e instanceof KubeSgxError && e.code === 'CONFIG_INVALID' && /exclude each other/.test(e.message),
  );
});
