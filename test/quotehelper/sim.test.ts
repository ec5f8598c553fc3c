import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Logger } from '../../src/ops/log.js';
import { QuoteVerifier, verifyQuote } from '../../src/dcap/index.js';
import { SimPlatform } from '../../src/sim/index.js';
import { AesmClient } from '../../src/quotehelper/client.js';
import { startQuoteHelper, type QuoteHelper } from '../../src/quotehelper/helper.js';
import { INTEL_ECDSA_ATT_KEY_ID } from '../../src/quotehelper/keyid.js';
import { openFdCount, settleFdCount, tempDir } from './util.js';

function captureLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino<never>({ level: 'info' }, stream), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('sim backend end to end: quotes verify with the platform root', () => {
  const t = tempDir();
  const platformDir = join(t.dir, 'platform');
  let platform: SimPlatform;
  let helper: QuoteHelper;
  let client: AesmClient;
  let logs: ReturnType<typeof captureLogger>;

  before(async () => {
    platform = await SimPlatform.open(platformDir, { seed: 'quote-helper-tests' });
    logs = captureLogger();
    helper = await startQuoteHelper({ backend: 'sim', platformDir, socketPath: join(t.dir, 'aesmd', 'aesm.socket'), logger: logs.logger });
    client = new AesmClient({ socketPath: helper.socketPath, timeoutMs: 5000 });
  });
  after(async () => {
    await helper.stop();
    t.cleanup();
  });

  const reportFor = async (data = randomBytes(64)) => {
    const { targetInfo } = await client.initQuoteEx();
    return { report: platform.ereport({ targetInfo, reportData: data }), data };
  };

  test('start-up logs name the backend and warn that quotes are simulated', () => {
    const lines = logs.lines();
    assert.ok(lines.some((l) => l.backend === 'sim' && l.level === 30), 'info line naming the sim backend');
    assert.ok(lines.some((l) => l.level === 40 && /SIMULATED QUOTES/.test(String(l.msg))), 'warning on start');
  });

  test('target info is the simulated QE\'s; a quote for a fresh report verifies against the platform root', async () => {
    const init = await client.initQuoteEx(undefined, { pubKeyId: true });
    assert.ok(init.targetInfo.equals(platform.qeTargetInfo()));
    assert.equal(init.pubKeyIdSize, 32);
    const { report, data } = await reportFor();
    const quote = await client.getQuote(report);
    // ECDSA_ID = the QE report's report_data[0..32) = SHA-256(attestation key ‖ QE auth data).
    assert.ok(init.pubKeyId?.equals(quote.subarray(884, 916)), 'pub_key_id is the QE\'s ECDSA_ID');
    const attKeyAndAuth = Buffer.concat([quote.subarray(500, 564), quote.subarray(1014, 1014 + quote.readUInt16LE(1012))]);
    assert.ok(init.pubKeyId?.equals(createHash('sha256').update(attKeyAndAuth).digest()));
    const result = verifyQuote(quote, platform.collateral(), { trustedRoots: [platform.rootCaPem] });
    assert.equal(result.status, 'UpToDate');
    assert.ok(Buffer.from(quote.subarray(48 + 320, 48 + 384)).equals(data), 'report data carried into the quote');
  });

  test('Gramine\'s flow: InitQuoteEx (pub key ID, no timeout), GetQuoteEx with buf_size 8192, length from 436 + signature_data_len', async () => {
    const init = await client.request({ initQuoteExReq: { att_key_id: INTEL_ECDSA_ATT_KEY_ID, b_pub_key_id: true, buf_size: 32 } });
    assert.equal(init.initQuoteExRes?.errorCode, 0);
    assert.equal(init.initQuoteExRes?.target_info?.length, 512, 'Gramine requires exactly 512');
    const report = platform.ereport({ targetInfo: init.initQuoteExRes?.target_info as Buffer, reportData: Buffer.alloc(64, 0x5a) });
    const res = await client.request({ getQuoteExReq: { report, att_key_id: INTEL_ECDSA_ATT_KEY_ID, buf_size: 8192 } });
    assert.equal(res.getQuoteExRes?.errorCode, 0);
    const padded = res.getQuoteExRes?.quote as Buffer;
    assert.equal(padded.length, 8192, 'aesmd semantics: buf_size bytes');
    const actual = 436 + padded.readUInt32LE(432);
    assert.ok(actual <= 8192);
    assert.equal(verifyQuote(padded.subarray(0, actual), platform.collateral(), { trustedRoots: [platform.rootCaPem] }).status, 'UpToDate');
  });

  test('the same quote does not verify against Intel\'s root (no trustedRoots)', async () => {
    const { report } = await reportFor();
    const quote = await client.getQuote(report);
    assert.throws(() => verifyQuote(quote, platform.collateral()));
  });

  test('a report with one byte changed → AESM_INVALID_REPORT; the helper stays up', async () => {
    const { report } = await reportFor();
    for (const offset of [0, 64, 200, 320, 383, 384, 420]) {
      const bad = Buffer.from(report);
      bad[offset] ^= 0x01;
      await assert.rejects(client.getQuote(bad), { code: 'AESM_INVALID_REPORT' }, `byte ${offset}`);
    }
    const quote = await client.getQuote(report);
    assert.equal(verifyQuote(quote, platform.collateral(), { trustedRoots: [platform.rootCaPem] }).status, 'UpToDate');
  });

  test('qe_report_info: the QE report binds SHA-256(nonce ‖ quote) and targets the app', async () => {
    const { report } = await reportFor();
    const nonce = randomBytes(16);
    const appTargetInfo = Buffer.alloc(512);
    report.copy(appTargetInfo, 0, 64, 96); // the app's MRENCLAVE
    const r = await client.getQuoteEx(report, { qeReportInfo: { nonce, appTargetInfo } });
    assert.equal(r.qeReport?.length, 432);
    const expected = createHash('sha256').update(nonce).update(r.quote).digest();
    assert.ok(r.qeReport?.subarray(320, 352).equals(expected), 'report_data = SHA-256(nonce ‖ quote)');
    assert.ok(r.qeReport?.subarray(352, 384).equals(Buffer.alloc(32)));
  });

  test('reduced load: 40 concurrent clients × 10 quotes, all verify, no fd or heap growth', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { targetInfo } = await client.initQuoteEx();
    const size = await client.getQuoteSizeEx();
    const one = async (i: number) => {
      const quotes: Buffer[] = [];
      for (let j = 0; j < 10; j++) {
        const report = platform.ereport({ targetInfo, reportData: Buffer.alloc(64, (i * 10 + j) & 0xff) });
        quotes.push((await client.getQuoteEx(report, { bufSize: size })).quote);
      }
      return quotes;
    };
    await Promise.all(Array.from({ length: 40 }, (_, i) => one(i))); // warm-up
    gc();
    const fdBefore = openFdCount();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let round = 0; round < 2; round++) {
      const all = (await Promise.all(Array.from({ length: 40 }, (_, i) => one(i)))).flat();
      assert.equal(all.length, 400);
      const collateral = platform.collateral();
      const verifier = new QuoteVerifier({ trustedRoots: [platform.rootCaPem] });
      for (const q of all) assert.equal(verifier.verifySync(q, collateral).status, 'UpToDate');
    }
    const fdAfter = await settleFdCount(fdBefore + 2);
    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(fdAfter <= fdBefore + 2, `fds ${fdBefore} → ${fdAfter}`);
    assert.ok(heapGrowth < 16 * 1024 * 1024, `heap grew ${heapGrowth} bytes`);
    const text = await helper.metrics.registry.metrics();
    assert.doesNotMatch(text, /kube_sgx_quote_helper_errors_total\{code="AESM_(?!INVALID_REPORT)/);
  });

  test('the QE target info is stable across a helper restart', async () => {
    const before = await client.targetInfo();
    await helper.stop();
    helper = await startQuoteHelper({ backend: 'sim', platformDir, socketPath: join(t.dir, 'aesmd', 'aesm.socket'), logger: captureLogger().logger });
    assert.ok((await client.targetInfo()).equals(before));
  });
});
