/**
 * `kube-sgx sim quote --tee tdx` and `sim td-report`: the round trip through
 * `quote verify` is spawned as users run it; the rest runs in-process.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseQuote } from '../../src/sgx/quote.js';
import { cli, cliInProcess, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const P = join(tmp.dir, 'platform');
const OUT = join(tmp.dir, 'out');

describe('kube-sgx sim (TDX)', () => {
  test('sim quote --tee tdx --quote-version 5 → quote verify --root-ca gives the scenario status; without --root-ca exits 1 (spawned)', async () => {
    const q = await cli('sim', 'quote', '--platform', P, '--scenario', 'sw-hardening-needed', '--tee', 'tdx', '--quote-version', '5', '--report-data', 'cd'.repeat(64), '--mrtd', '11'.repeat(48), '--rtmr2', '22'.repeat(48), '--out', OUT);
    assert.equal(q.code, 0, JSON.stringify(q.json));
    assert.equal(q.json.tee, 'tdx');
    assert.equal(q.json.version, 5);
    assert.equal(q.json.expectedStatus, 'SWHardeningNeeded');
    const ok = await cli('quote', 'verify', join(OUT, 'quote.bin'), '--collateral', join(OUT, 'collateral.json'), '--root-ca', join(P, 'root-ca.pem'));
    assert.equal(ok.code, 0, JSON.stringify(ok.json));
    assert.equal(ok.json.status, 'SWHardeningNeeded');
    assert.equal(ok.json.teeType, 'TDX');
    const untrusted = await cli('quote', 'verify', join(OUT, 'quote.bin'), '--collateral', join(OUT, 'collateral.json'));
    assert.equal(untrusted.code, 1);
    assert.equal((untrusted.json.error as { code: string }).code, 'PCK_CHAIN_UNTRUSTED');
  });

  test('sim td-report writes a TDREPORT the platform TD QE quotes; TDX flags are checked', async () => {
    const file = join(tmp.dir, 'tdreport.bin');
    const r = await cliInProcess('sim', 'td-report', '--platform', P, '--report-data', 'ab', '--mrtd', '33'.repeat(48), '--debug', '--out', file);
    assert.equal(r.code, 0, JSON.stringify(r.json));
    const report = readFileSync(file);
    assert.equal(report.length, 1024);
    const { SimPlatform } = await import('../../src/sim/index.js');
    const p = await SimPlatform.open(P);
    const q = parseQuote(p.getTdQuote(report));
    assert.ok(q.body.type === 2);
    assert.equal(q.body.td10.mrTd.toString('hex'), '33'.repeat(48));
    assert.equal(q.body.td10.tdAttributes.debug, true);
    assert.equal(q.body.td10.reportData.toString('hex'), 'ab' + '00'.repeat(63));

    const usage = async (...args: string[]) => assert.equal((await cliInProcess(...args)).code, 2, args.join(' '));
    await usage('sim', 'quote', '--platform', P, '--tee', 'tdx', '--report-data', '00', '--mrenclave', '11'.repeat(32), '--out', OUT);
    await usage('sim', 'quote', '--platform', P, '--tee', 'sgx', '--report-data', '00', '--mrtd', '11'.repeat(48), '--out', OUT);
    await usage('sim', 'quote', '--platform', P, '--tee', 'tdx', '--report-data', '00', '--quote-version', '3', '--out', OUT);
    await usage('sim', 'quote', '--platform', P, '--tee', 'sev', '--report-data', '00', '--out', OUT);
    await usage('sim', 'td-report', '--platform', P, '--report-data', '00', '--rtmr0', '11'.repeat(32), '--out', file);
    await usage('sim', 'td-report', '--platform', P, '--report-data', '00', '--quote-version', '6', '--out', file);
  });
});
