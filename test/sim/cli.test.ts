/**
 * The sim CLI. The round trip through the verifier's `quote verify` is
 * spawned as users run it; the other commands run in-process through the same
 * commander program (main.ts), which is much cheaper than a tsx spawn each.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureStdout, cli, cliInProcess, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const P = join(tmp.dir, 'platform');
const OUT = join(tmp.dir, 'out');

describe('kube-sgx sim', () => {
  test('sim quote → quote verify --root-ca exits 0 with the scenario status; without --root-ca exits 1 (spawned)', async () => {
    const q = await cli('sim', 'quote', '--platform', P, '--scenario', 'out-of-date', '--seed', 'cli-test', '--report-data', 'aa'.repeat(64), '--mrenclave', '11'.repeat(32), '--isv-svn', '2', '--quote-version', '4', '--out', OUT);
    assert.equal(q.code, 0, JSON.stringify(q.json));
    assert.equal(q.json.version, 4);
    assert.equal(q.json.expectedStatus, 'OutOfDate');
    const ok = await cli('quote', 'verify', join(OUT, 'quote.bin'), '--collateral', join(OUT, 'collateral.json'), '--root-ca', join(P, 'root-ca.pem'));
    assert.equal(ok.code, 0, JSON.stringify(ok.json));
    assert.equal(ok.json.status, 'OutOfDate');
    assert.equal((ok.json.enclave as { mrEnclave: string }).mrEnclave, '11'.repeat(32));
    const untrusted = await cli('quote', 'verify', join(OUT, 'quote.bin'), '--collateral', join(OUT, 'collateral.json'));
    assert.equal(untrusted.code, 1);
    assert.equal((untrusted.json.error as { code: string }).code, 'PCK_CHAIN_UNTRUSTED');
  });

  test('sim init prints the platform summary; reopening keeps the scenario', async () => {
    const init = await cliInProcess('sim', 'init', '--platform', P);
    assert.equal(init.code, 0);
    assert.equal(init.json.scenario, 'out-of-date');
    assert.equal(init.json.rootCa, join(P, 'root-ca.pem'));
  });

  test('sim target-info + sim report: a report the platform QE accepts', async () => {
    const ti = join(tmp.dir, 'qe.ti');
    assert.equal((await cliInProcess('sim', 'target-info', '--platform', P, '--out', ti)).code, 0);
    assert.equal(readFileSync(ti).length, 512);
    const rep = join(tmp.dir, 'report.bin');
    const r = await cliInProcess('sim', 'report', '--platform', P, '--target-info', ti, '--report-data', 'beef', '--mrenclave', '22'.repeat(32), '--out', rep);
    assert.equal(r.code, 0);
    const { SimPlatform } = await import('../../src/sim/index.js');
    const p = await SimPlatform.open(P);
    assert.ok(p.getQuote(readFileSync(rep)).quote.length > 1000);
    const short = join(tmp.dir, 'short.ti');
    writeFileSync(short, Buffer.alloc(100));
    assert.equal((await cliInProcess('sim', 'report', '--platform', P, '--target-info', short, '--report-data', '00', '--out', rep)).code, 2);
  });

  test('sim keygen + sign + verify-sigstruct; sim measure', async () => {
    const key = join(tmp.dir, 'signer.pem');
    assert.equal((await cliInProcess('sim', 'keygen', '--out', key)).code, 0);
    const sig = join(tmp.dir, 'sigstruct.bin');
    const s = await cliInProcess('sim', 'sign', '--mrenclave', '33'.repeat(32), '--key', key, '--isv-prod-id', '4', '--debug', '--out', sig);
    assert.equal(s.code, 0, JSON.stringify(s.json));
    assert.equal(s.json.debug, true);
    const v = await cliInProcess('sim', 'verify-sigstruct', sig);
    assert.equal(v.json.mrSigner, s.json.mrSigner);
    assert.equal(v.json.mrEnclave, '33'.repeat(32));
    const bad = readFileSync(sig);
    bad[970] ^= 1;
    writeFileSync(sig, bad);
    const rejected = await cliInProcess('sim', 'verify-sigstruct', sig);
    assert.equal(rejected.code, 1);
    assert.equal((rejected.json.error as { code: string }).code, 'SIGSTRUCT_SIGNATURE_INVALID');

    const layout = join(tmp.dir, 'layout.json');
    writeFileSync(layout, JSON.stringify({ ssaFrameSize: 1, enclaveSize: '0x2000', pages: [{ offset: 0, secinfo: 'code', data: { fill: 0x90 } }, { offset: '0x1000', secinfo: 'tcs', measured: false }] }));
    const m = await cliInProcess('sim', 'measure', layout);
    assert.equal(m.code, 0);
    assert.match(String(m.json.mrEnclave), /^[0-9a-f]{64}$/);
  });

  test('usage errors exit 2; a corrupted platform exits 1 naming the file', async () => {
    assert.equal((await cliInProcess('sim', 'quote', '--platform', P, '--report-data', 'zz', '--out', OUT)).code, 2);
    assert.equal((await cliInProcess('sim', 'quote', '--platform', P, '--report-data', '00', '--quote-version', '5', '--out', OUT)).code, 2);
    assert.equal((await cliInProcess('sim', 'init', '--platform', join(tmp.dir, 'x'), '--scenario', 'bogus')).code, 2);
    const broken = join(tmp.dir, 'broken');
    assert.equal((await cliInProcess('sim', 'init', '--platform', broken)).code, 0);
    writeFileSync(join(broken, 'keys', 'pck.key'), 'broken');
    const r = await cliInProcess('sim', 'quote', '--platform', broken, '--report-data', '00', '--out', OUT);
    assert.equal(r.code, 1);
    assert.match((r.json.error as { message: string }).message, /pck\.key/);
  });

  test('sim pccs serves until SIGTERM', async () => {
    const dir = join(tmp.dir, 'pccs-platform');
    const stdout = captureStdout();
    const { main } = await import('../../src/cli/main.js');
    const running = main(['node', 'kube-sgx', 'sim', 'pccs', '--platform', dir, '--listen', '127.0.0.1:0']);
    try {
      while (!stdout.text().includes('}')) await new Promise((r) => setTimeout(r, 20));
    } finally {
      stdout.restore();
    }
    const { url } = JSON.parse(stdout.text()) as { url: string };
    const res = await fetch(`${url}/sgx/certification/v4/qe/identity`);
    assert.equal(res.status, 200);
    await res.text();
    process.emit('SIGTERM', 'SIGTERM');
    await running;
    assert.equal(process.exitCode ?? 0, 0);
    process.exitCode = undefined;
    await assert.rejects(fetch(`${url}/sgx/certification/v4/qe/identity`));
  });
});
