/**
 * `kube-sgx sim quote --tee tdx` and `sim td-report`: the round trip through
 * `quote verify` is spawned as users run it; the rest runs in-process.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQuote } from '../../src/sgx/quote.js';
import { tempDir } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = tempDir();
after(() => tmp.cleanup());

function cli(...args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (code === -1) return reject(err ?? new Error('spawn failed'));
      try {
        resolve({ code, json: JSON.parse(stdout) as Record<string, unknown> });
      } catch {
        reject(new Error(`not one JSON object (exit ${code}): ${stdout}`));
      }
    });
  });
}

async function cliInProcess(...args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const { main } = await import('../../src/cli/main.js');
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') {
      out += chunk;
      return true;
    }
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    await main(['node', 'kube-sgx', ...args]);
  } finally {
    process.stdout.write = write;
  }
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = undefined;
  return { code, json: out.trim() === '' ? {} : (JSON.parse(out) as Record<string, unknown>) };
}

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
