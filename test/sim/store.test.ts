import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { SimPlatform } from '../../src/sim/index.js';
import { verifyQuote } from '../../src/dcap/index.js';
import { parseQuote } from '../../src/sgx/index.js';
import { isCode, tempDir } from './helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());
let n = 0;
const fresh = () => join(tmp.dir, `p${n++}`);

function quote(p: SimPlatform): Buffer {
  return p.getQuote(p.ereport({ targetInfo: p.qeTargetInfo(), reportData: Buffer.from('store') })).quote;
}
const spki = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
const attestationKey = (p: SimPlatform) => parseQuote(quote(p)).signatureData.attestationKey.toString('hex');

/** Every file under dir → its bytes (to prove nothing was rewritten). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, readFileSync(p).toString('hex'));
    }
  };
  walk(dir);
  return out;
}

describe('platform directory', () => {
  test('created when missing, with the documented files; keys 0600 in a 0700 keys/ directory', async () => {
    const dir = fresh();
    await SimPlatform.open(dir);
    const names = readdirSync(dir).sort();
    assert.deepEqual(names, ['collateral.json', 'keys', 'pck-ca.pem', 'pck.pem', 'platform.json', 'root-ca.pem', 'tcb-signing.pem']);
    assert.deepEqual(readdirSync(join(dir, 'keys')).sort(), ['attestation.key', 'pck-ca.key', 'pck.key', 'report.key', 'root-ca.key', 'tcb-signing.key']);
    assert.equal(statSync(join(dir, 'keys')).mode & 0o777, 0o700);
    for (const k of readdirSync(join(dir, 'keys'))) assert.equal(statSync(join(dir, 'keys', k)).mode & 0o777, 0o600, k);
    const meta = JSON.parse(readFileSync(join(dir, 'platform.json'), 'utf8')) as { version: number; scenario: string };
    assert.equal(meta.version, 2);
    assert.equal(meta.scenario, 'up-to-date');
    const base = dir.slice(tmp.dir.length + 1);
    assert.equal(readdirSync(tmp.dir).filter((f) => f.startsWith(`.${base}.creating`)).length, 0, 'no temp directory left behind');
  });

  test('an existing empty directory is filled', async () => {
    const dir = fresh();
    mkdirSync(dir);
    const p = await SimPlatform.open(dir, { scenario: 'out-of-date' });
    assert.equal(p.scenario, 'out-of-date');
  });

  test('reused when present: same identity, files untouched, old quotes still verify', async () => {
    const dir = fresh();
    const a = await SimPlatform.open(dir, { scenario: 'sw-hardening-needed' });
    const q = quote(a);
    const before = snapshot(dir);
    const b = await SimPlatform.open(dir);
    assert.deepEqual(snapshot(dir), before);
    assert.equal(b.scenario, 'sw-hardening-needed');
    assert.equal(b.rootCaPem, a.rootCaPem);
    assert.deepEqual(b.qeTargetInfo(), a.qeTargetInfo());
    assert.equal(attestationKey(b), attestationKey(a));
    assert.equal(verifyQuote(q, b.collateral(), { trustedRoots: [b.rootCaPem] }).status, 'SWHardeningNeeded');
    // and a report made by the first instance is accepted by the second's QE (same report key)
    assert.ok(b.getQuote(a.ereport({ targetInfo: a.qeTargetInfo() })).quote);
  });

  test('concurrent opens of a new directory agree on one platform', async () => {
    const dir = fresh();
    const ps = await Promise.all([SimPlatform.open(dir), SimPlatform.open(dir), SimPlatform.open(dir)]);
    assert.equal(new Set(ps.map((p) => p.rootCaPem)).size, 1);
    assert.equal(new Set(ps.map(attestationKey)).size, 1);
  });

  test('same seed → same identity, byte-identical certificates even when created at other times; another seed → another', async () => {
    const [a, b, c] = await Promise.all([
      SimPlatform.open(fresh(), { seed: 'alpha', now: new Date(Date.now() - 20 * 86400_000) }),
      SimPlatform.open(fresh(), { seed: 'alpha', now: new Date(Date.now() - 3 * 86400_000 + 12345) }),
      SimPlatform.open(fresh(), { seed: 'beta' }),
    ]);
    for (const f of ['root-ca.pem', 'pck-ca.pem', 'pck.pem', 'tcb-signing.pem', 'keys/root-ca.key', 'keys/attestation.key', 'keys/report.key']) {
      assert.equal(readFileSync(join(a.dir, f), 'utf8'), readFileSync(join(b.dir, f), 'utf8'), f);
    }
    assert.equal(a.rootCaPem, b.rootCaPem);
    assert.equal(attestationKey(a), attestationKey(b));
    assert.deepEqual(a.attestationKeyId(), b.attestationKeyId());
    const meta = (p: SimPlatform) => {
      const m = JSON.parse(readFileSync(join(p.dir, 'platform.json'), 'utf8')) as Record<string, string>;
      delete m.createdAt;
      return m;
    };
    assert.deepEqual(meta(a), meta(b));
    // one root file trusts both machines' quotes
    assert.equal(verifyQuote(quote(a), b.collateral(), { trustedRoots: [b.rootCaPem] }).status, 'UpToDate');
    assert.equal(verifyQuote(quote(b), a.collateral(), { trustedRoots: [a.rootCaPem] }).status, 'UpToDate');
    // reports made on a are accepted by b's QE: the report secret is derived from the seed too
    assert.ok(b.getQuote(a.ereport({ targetInfo: a.qeTargetInfo() })).quote);
    assert.notEqual(spki(a.rootCaPem), spki(c.rootCaPem));
    assert.notEqual(attestationKey(a), attestationKey(c));
    assert.throws(() => c.getQuote(a.ereport({ targetInfo: a.qeTargetInfo() })), isCode('SIM_INVALID_REPORT'));
    assert.throws(() => verifyQuote(quote(c), a.collateral(), { trustedRoots: [a.rootCaPem] }), isCode('PCK_CHAIN_UNTRUSTED'));
  });

  test('without a seed, two platforms share nothing', async () => {
    const [a, b] = await Promise.all([SimPlatform.open(fresh()), SimPlatform.open(fresh())]);
    assert.notEqual(spki(a.rootCaPem), spki(b.rootCaPem));
    assert.notEqual(attestationKey(a), attestationKey(b));
    assert.throws(() => b.getQuote(a.ereport({ targetInfo: a.qeTargetInfo() })), isCode('SIM_INVALID_REPORT'));
  });

  test('opening with another scenario or seed than it was created with is an error', async () => {
    const dir = fresh();
    await SimPlatform.open(dir, { seed: 's1', scenario: 'up-to-date' });
    await assert.rejects(SimPlatform.open(dir, { scenario: 'revoked' }), isCode('SIM_SCENARIO_MISMATCH', 'platform.json'));
    await assert.rejects(SimPlatform.open(dir, { seed: 's2' }), isCode('SIM_SEED_MISMATCH', 'platform.json'));
    await SimPlatform.open(dir, { seed: 's1' });
    await assert.rejects(SimPlatform.open(fresh(), { scenario: 'nope' as 'revoked' }), isCode('SIM_BAD_ARGUMENT'));
  });
});

describe('corrupted or half-written directories: a clear error naming the file, keys never overwritten', () => {
  const template = fresh();
  const ready = SimPlatform.open(template);
  async function damaged(damage: (dir: string) => void): Promise<{ dir: string; before: Map<string, string> }> {
    await ready;
    const dir = fresh();
    cpSync(template, dir, { recursive: true });
    damage(dir);
    return { dir, before: snapshot(dir) };
  }
  const cases: Array<[string, (dir: string) => void, string, string]> = [
    ['platform.json missing (half-written)', (d) => unlinkSync(join(d, 'platform.json')), 'SIM_PLATFORM_INCOMPLETE', 'platform.json'],
    ['collateral.json missing', (d) => unlinkSync(join(d, 'collateral.json')), 'SIM_PLATFORM_INCOMPLETE', 'collateral.json'],
    ['a key missing', (d) => unlinkSync(join(d, 'keys', 'attestation.key')), 'SIM_PLATFORM_INCOMPLETE', 'attestation.key'],
    ['platform.json truncated', (d) => writeFileSync(join(d, 'platform.json'), '{"kind":"kube-sgx-sim-pl'), 'SIM_PLATFORM_CORRUPT', 'platform.json'],
    ['platform.json of an unknown version', (d) => {
      const f = join(d, 'platform.json');
      writeFileSync(f, readFileSync(f, 'utf8').replace('"version": 2', '"version": 9'));
    }, 'SIM_PLATFORM_CORRUPT', 'platform.json'],
    ['a version-1 platform (certificates without CRL Distribution Points)', (d) => {
      const f = join(d, 'platform.json');
      writeFileSync(f, readFileSync(f, 'utf8').replace('"version": 2', '"version": 1'));
    }, 'SIM_PLATFORM_CORRUPT', 'CRL Distribution Points'],
    ['a key file is garbage', (d) => writeFileSync(join(d, 'keys', 'pck.key'), 'garbage'), 'SIM_PLATFORM_CORRUPT', 'pck.key'],
    ['a key file is empty (crash mid-write)', (d) => writeFileSync(join(d, 'keys', 'root-ca.key'), ''), 'SIM_PLATFORM_CORRUPT', 'root-ca.key'],
    ['the report key is not 16 bytes of hex', (d) => writeFileSync(join(d, 'keys', 'report.key'), 'abcd\n'), 'SIM_PLATFORM_CORRUPT', 'report.key'],
    ['a certificate is truncated', (d) => {
      const f = join(d, 'pck.pem');
      writeFileSync(f, readFileSync(f, 'utf8').slice(0, 200));
    }, 'SIM_PLATFORM_CORRUPT', 'pck.pem'],
    ['a certificate belongs to another key', (d) => cpSync(join(d, 'pck-ca.pem'), join(d, 'pck.pem')), 'SIM_PLATFORM_CORRUPT', 'pck.pem'],
    ['collateral.json is not collateral', (d) => writeFileSync(join(d, 'collateral.json'), '{"tcb_info":1}'), 'SIM_PLATFORM_CORRUPT', 'collateral.json'],
    ['collateral.json with a wrong TCB Info signature', (d) => {
      const f = join(d, 'collateral.json');
      const c = JSON.parse(readFileSync(f, 'utf8')) as Record<string, string>;
      c.tcb_info_signature = 'ab'.repeat(64);
      writeFileSync(f, JSON.stringify(c));
    }, 'SIM_PLATFORM_CORRUPT', 'collateral.json'],
    ['collateral.json with an edited TCB level', (d) => {
      const f = join(d, 'collateral.json');
      const c = JSON.parse(readFileSync(f, 'utf8')) as Record<string, string>;
      c.tcb_info = c.tcb_info.replace('"UpToDate"', '"OutOfDate"');
      writeFileSync(f, JSON.stringify(c));
    }, 'SIM_PLATFORM_CORRUPT', 'collateral.json'],
  ];
  for (const [name, damage, code, file] of cases) {
    test(name, async () => {
      const { dir, before } = await damaged(damage);
      await assert.rejects(SimPlatform.open(dir), isCode(code, file));
      assert.deepEqual(snapshot(dir), before, 'nothing in the directory was rewritten');
    });
  }

  test('a file where the directory should be', async () => {
    const f = fresh();
    writeFileSync(f, 'x');
    await assert.rejects(SimPlatform.open(f), isCode('SIM_PLATFORM_CORRUPT', f));
  });

  test('a directory with unrelated files is not taken over', async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await assert.rejects(SimPlatform.open(dir), isCode('SIM_PLATFORM_INCOMPLETE', 'platform.json'));
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  });
});

describe('collateral lifetime', () => {
  const DAY = 86400_000;
  test('re-issued (not the keys) when near expiry on open; a reused platform keeps verifying', async () => {
    const dir = fresh();
    const t0 = new Date('2026-01-01T00:00:00Z');
    const a = await SimPlatform.open(dir, { now: t0, scenario: 'out-of-date' });
    const keysBefore = snapshot(join(dir, 'keys'));
    const col0 = readFileSync(join(dir, 'collateral.json'), 'utf8');
    const expiry0 = a.collateralExpiresAt().getTime();
    assert.ok(expiry0 - t0.getTime() >= 89 * DAY);

    // 10 days later: still fresh, nothing rewritten
    const b = await SimPlatform.open(dir, { now: new Date(t0.getTime() + 10 * DAY) });
    assert.equal(readFileSync(join(dir, 'collateral.json'), 'utf8'), col0);
    assert.equal(b.collateralExpiresAt().getTime(), expiry0);

    // 75 days later (< 30 days left): re-issued and re-signed, same keys and root
    const t75 = new Date(t0.getTime() + 75 * DAY);
    const c = await SimPlatform.open(dir, { now: t75 });
    assert.notEqual(readFileSync(join(dir, 'collateral.json'), 'utf8'), col0);
    assert.ok(c.collateralExpiresAt().getTime() > t75.getTime() + 60 * DAY);
    assert.deepEqual(snapshot(join(dir, 'keys')), keysBefore);
    assert.equal(c.rootCaPem, a.rootCaPem);
    const q = quote(c);
    assert.equal(verifyQuote(q, c.collateral(), { trustedRoots: [c.rootCaPem], now: t75 }).status, 'OutOfDate');
    // the old collateral has expired by 100 days; the new one has not
    const t100 = new Date(t0.getTime() + 100 * DAY);
    assert.throws(() => verifyQuote(q, a.collateral(), { trustedRoots: [a.rootCaPem], now: t100 }), (e: unknown) => e instanceof Error && /EXPIRED/.test((e as { code?: string }).code ?? ''));
    assert.equal(verifyQuote(q, c.collateral(), { trustedRoots: [c.rootCaPem], now: t100 }).status, 'OutOfDate');
  });

  test('a long-running platform re-issues collateral in the background when collateral() finds it near expiry', async () => {
    const p = await SimPlatform.open(fresh());
    await p.refreshCollateral(new Date(Date.now() - 80 * DAY), true); // as if issued 80 days ago
    const stale = p.collateralExpiresAt().getTime();
    assert.ok(stale < Date.now() + 11 * DAY);
    const served = p.collateral(); // still valid: served at once, re-issue starts
    assert.equal(served.tcb_info.includes('"nextUpdate"'), true);
    assert.equal(p.collateralExpiresAt().getTime(), stale, 'served at once, before the re-issue finishes');
    // the re-issue runs in the background (generous bound: the test machine may be loaded)
    for (let i = 0; i < 1200 && p.collateralExpiresAt().getTime() === stale; i++) await new Promise((r) => setTimeout(r, 25));
    await p.refreshCollateral(); // resolves once the background re-issue has been saved
    assert.ok(p.collateralExpiresAt().getTime() > Date.now() + 80 * DAY);
    assert.equal(verifyQuote(quote(p), p.collateral(), { trustedRoots: [p.rootCaPem] }).status, 'UpToDate');
    const onDisk = JSON.parse(readFileSync(join(p.dir, 'collateral.json'), 'utf8')) as { tcb_info: string };
    assert.equal(onDisk.tcb_info, p.collateral().tcb_info);
  });

  test('collateral not yet valid (clock set back) is re-issued too', async () => {
    const dir = fresh();
    const t0 = new Date('2026-03-01T00:00:00Z');
    await SimPlatform.open(dir, { now: t0 });
    const earlier = new Date(t0.getTime() - 2 * DAY);
    const p = await SimPlatform.open(dir, { now: earlier });
    // (the certificates start an hour before creation, so only the collateral dates can follow the clock back)
    const info = JSON.parse(p.collateral().tcb_info) as { issueDate: string };
    assert.ok(Date.parse(info.issueDate) <= earlier.getTime());
  });

  test('keys are PEM PKCS#8 P-256 and match the certificates', async () => {
    const dir = fresh();
    const p = await SimPlatform.open(dir);
    const key = createPublicKey(readFileSync(join(dir, 'keys', 'pck.key'), 'utf8'));
    assert.equal(key.export({ type: 'spki', format: 'der' }).toString('hex'), spki(p.pckCertificatePem()));
    rmSync(dir, { recursive: true, force: true });
  });
});
