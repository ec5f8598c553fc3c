/**
 * QGS throughput and latency: 200 concurrent clients × 50 TD quotes each over
 * the QGS unix socket (one connection per request, as QEMU and libtdx_attest
 * do), sim backend, QGS in its own process started through the CLI
 * (`kube-sgx qgs --backend sim`). Baseline: the same simulated TD QE called
 * in-process (no socket, no framing) — there is no other QGS to compare with
 * on a machine without TDX. Every quote is verified afterwards.
 *
 * QGS_BENCH_SCALE=0.1 (for a quick smoke run) scales the client and quote counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { baseline, baselineRow, closedLoop, judge, loadRow, loadTableHead, quotesPerSecond, repeatRows, repeatRuns, startCliServer, stopCliServer, type LoadRun } from './loadgen/socket-quotes.js';
import { QuoteVerifier } from '../src/dcap/index.js';
import { QgsClient } from '../src/qgs/index.js';
import { SimPlatform } from '../src/sim/index.js';

const SCALE = Math.min(1, Math.max(0.01, Number(process.env.QGS_BENCH_SCALE ?? '1') || 1));
const CLIENTS = Math.max(2, Math.round(200 * SCALE));
const QUOTES_PER_CLIENT = Math.max(2, Math.round(50 * SCALE));
const TARGET_QPS = 2000;
const REPEATS = SCALE < 1 ? 2 : 5;

const ms = (v: number) => v.toFixed(2);

function loadRun(client: QgsClient, reports: Buffer[][], raw: boolean, qgsPid: number): Promise<LoadRun> {
  return closedLoop(reports, (report) => (raw ? client.getQuoteRaw(report) : client.getQuote(report)), qgsPid);
}

export default async function bench(): Promise<{ title: string; markdown: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-sgx-qgs-bench-'));
  const platformDir = join(dir, 'platform');
  const socketPath = join(dir, 'qgs.socket');
  const platform = await SimPlatform.open(platformDir, { seed: 'qgs-bench' });
  const child = await startCliServer(['qgs', '--backend', 'sim', '--platform', platformDir, '--socket', socketPath], socketPath);
  try {
    const client = new QgsClient({ socketPath, timeoutMs: 30000 });
    // TDREPORTs are made before the clock starts: the TD's cost is not the QGS's.
    const reports = Array.from({ length: CLIENTS }, (_, i) =>
      Array.from({ length: QUOTES_PER_CLIENT }, (_, j) => platform.tdReport({ reportData: Buffer.alloc(64, (i * QUOTES_PER_CLIENT + j) % 251), quoteVersion: j % 2 ? 5 : 4 })),
    );

    // Baseline: the simulated TD QE in-process.
    const base = baseline(reports.flat().slice(0, 2000), (r) => platform.getTdQuote(r));

    const pid = child.pid as number;
    await loadRun(client, reports.slice(0, Math.max(1, CLIENTS / 4)).map((r) => r.slice(0, 10)), false, pid); // warm-up
    const load = loadavg()[0];
    const rr = await repeatRuns(REPEATS, pid, () => loadRun(client, reports, false, pid));
    const main = rr.median;
    const raw = await loadRun(client, reports.map((r) => r.slice(0, Math.max(1, Math.round(QUOTES_PER_CLIENT / 5)))), true, pid);

    const collateral = platform.tdxCollateral();
    const verifier = new QuoteVerifier({ trustedRoots: [platform.rootCaPem] });
    const v0 = performance.now();
    let verified = 0;
    let quoted = 0;
    for (const run of [...rr.runs, raw]) {
      for (const q of run.quotes) {
        quoted++;
        if (verifier.verifySync(q, collateral).status === 'UpToDate') verified++;
      }
    }
    const verifySeconds = (performance.now() - v0) / 1000;

    const total = CLIENTS * QUOTES_PER_CLIENT;
    const qgsMs = (main.serverCpu * 1000) / main.quotes.length;
    const clientMs = (main.clientCpu * 1000) / main.quotes.length;
    const markdown = `
${CLIENTS} concurrent clients × ${QUOTES_PER_CLIENT} TD quotes each = ${total} GET_QUOTE_REQ per run over the QGS unix socket (one connection per request, as QEMU and libtdx_attest do), \
half TD 1.0 (quote v4) and half TD 1.5 (quote v5) TDREPORTs, sim backend, QGS in its own process started through the CLI (\`kube-sgx qgs --backend sim\`), clients in the bench process on the same cores. \
TDREPORTs are created before timing. ${REPEATS} runs; the median run is the result${SCALE < 1 ? ` (QGS_BENCH_SCALE=${SCALE}: a smoke run, not a measurement)` : ''}. Target ≥ ${TARGET_QPS} quotes/s: median run ${judge(quotesPerSecond(main), TARGET_QPS)}; best run ${judge(quotesPerSecond(rr.best), TARGET_QPS)}.

1-minute load average ${load.toFixed(1)} on ${cpus().length} cores when the runs started.

${loadTableHead('QGS')}
${baselineRow('baseline: simulated TD QE called in-process (no socket, no framing), 1 caller', base)}
${repeatRows('QGS, framed GET_QUOTE', rr)}
${loadRow('QGS, raw mode (bare TDREPORT → bare quote)', raw)}

- Verification: ${verified}/${quoted} quotes verify (\`QuoteVerifier.verifySync\`, the platform root as the only trusted root, TDX collateral, status UpToDate), ${verifySeconds.toFixed(1)} s.
- QGS process, open descriptors: ${rr.before.fds} before → ${rr.after.map((x) => x.fds).join(' → ')} after each run; RSS ${rr.before.rssMiB.toFixed(0)} → ${rr.after.map((x) => x.rssMiB.toFixed(0)).join(' → ')} MiB.
- CPU per quote (user + system), median run: QGS ${ms(qgsMs)} ms + clients ${ms(clientMs)} ms, so the single-threaded QGS alone is bounded at ≈ ${(1000 / qgsMs).toFixed(0)} quotes/s on one idle core (an estimate from CPU time).
- Latency is client-side (connect → parsed reply) with ${CLIENTS} requests in flight: mostly queueing.
`;
    return { title: 'QGS (TDX Quote Generation Service protocol, sim backend)', markdown };
  } finally {
    await stopCliServer(child);
    rmSync(dir, { recursive: true, force: true });
  }
}
