/**
 * Closed-loop quote load over a unix socket served by a kube-sgx command in
 * its own process (one connection per request, as Intel's clients do), and
 * the table both quote benches print. Shared by bench/quotehelper.bench.ts
 * and bench/qgs.bench.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pct, procCpuSeconds, procStats } from '../proc.js';

/** Starts `kube-sgx <args>` through the CLI (LOG_LEVEL=warn) and waits for its socket file. */
export async function startCliServer(args: string[], socketPath: string): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  child.stderr?.resume();
  const deadline = Date.now() + 30000;
  while (!existsSync(socketPath)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`kube-sgx ${args[0]} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/** SIGTERM, then waits for the exit. */
export async function stopCliServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export interface LoadRun {
  seconds: number;
  /** Client-side latency of every request, ms, ascending. */
  latencies: number[];
  quotes: Buffer[];
  errors: number;
  /** Failed requests by error code (`code` of the thrown error, else its name). */
  errorsByCode: Record<string, number>;
  serverCpu: number;
  clientCpu: number;
}

export const quotesPerSecond = (r: LoadRun): number => r.quotes.length / r.seconds;

/**
 * One client per list in `work`, each sending its items one after another
 * with `quote` (all clients at once); CPU seconds of this process and of the
 * server process `serverPid` over the run.
 */
export async function closedLoop<T>(work: T[][], quote: (item: T) => Promise<Buffer>, serverPid: number): Promise<LoadRun> {
  const latencies: number[] = [];
  const quotes: Buffer[] = [];
  const errorsByCode: Record<string, number> = {};
  let errors = 0;
  const serverCpu0 = procCpuSeconds(serverPid);
  const clientCpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    work.map(async (mine) => {
      for (const item of mine) {
        const t0 = performance.now();
        try {
          quotes.push(await quote(item));
        } catch (e) {
          errors++;
          const code = (e as { code?: unknown }).code;
          const key = typeof code === 'string' ? code : e instanceof Error ? e.name : 'unknown';
          errorsByCode[key] = (errorsByCode[key] ?? 0) + 1;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const c = process.cpuUsage(clientCpu0);
  return { seconds, latencies: latencies.sort((a, b) => a - b), quotes, errors, errorsByCode, serverCpu: procCpuSeconds(serverPid) - serverCpu0, clientCpu: (c.user + c.system) / 1e6 };
}

export interface RepeatedRuns {
  runs: LoadRun[];
  /** The run with the median quotes/s, and the fastest. */
  median: LoadRun;
  best: LoadRun;
  /** The server's descriptors and RSS before the first run and after each (300 ms after it ended). */
  before: { fds: number; rssMiB: number };
  after: { fds: number; rssMiB: number }[];
}

/** The machine is shared: the main run is repeated and every repeat reported, the median being the result. */
export async function repeatRuns(repeats: number, serverPid: number, run: () => Promise<LoadRun>): Promise<RepeatedRuns> {
  const before = procStats(serverPid);
  const runs: LoadRun[] = [];
  const after: { fds: number; rssMiB: number }[] = [];
  for (let i = 0; i < repeats; i++) {
    runs.push(await run());
    await new Promise((r) => setTimeout(r, 300));
    after.push(procStats(serverPid));
  }
  const byQps = [...runs].sort((a, b) => quotesPerSecond(b) - quotesPerSecond(a));
  return { runs, median: byQps[Math.floor(repeats / 2)]!, best: byQps[0]!, before, after };
}

/** The in-process baseline: `quote` over every item once after `warm` untimed calls, one caller. */
export function baseline<T>(items: T[], quote: (item: T) => unknown, warm = 200): { count: number; seconds: number; cpuSeconds: number } {
  for (const item of items.slice(0, warm)) quote(item);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const item of items) quote(item);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { count: items.length, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const ms = (v: number) => v.toFixed(2);

/** "**met** (n ≥ target)" / "**missed** (n < target)". */
export function judge(qps: number, target: number): string {
  return qps >= target ? `**met** (${qps.toFixed(0)} ≥ ${target})` : `**missed** (${qps.toFixed(0)} < ${target})`;
}

/** Header of the load table; `server` names the server process's CPU column ("helper", "QGS"). */
export function loadTableHead(server: string): string {
  return `| run | quotes | errors | seconds | quotes/s | p50 ms | p99 ms | max ms | ${server} CPU ms/quote | client CPU ms/quote |\n|---|---|---|---|---|---|---|---|---|---|`;
}

export function baselineRow(name: string, b: { count: number; seconds: number; cpuSeconds: number }): string {
  return `| ${name} | ${b.count} | 0 | ${b.seconds.toFixed(2)} | ${(b.count / b.seconds).toFixed(0)} | ${ms((b.seconds * 1000) / b.count)} (mean) | — | — | ${ms((b.cpuSeconds * 1000) / b.count)} | — |`;
}

export function loadRow(name: string, r: LoadRun): string {
  return `| ${name} | ${r.quotes.length} | ${r.errors} | ${r.seconds.toFixed(2)} | ${quotesPerSecond(r).toFixed(0)} | ${ms(pct(r.latencies, 50))} | ${ms(pct(r.latencies, 99))} | ${ms(r.latencies[r.latencies.length - 1]!)} | ${ms((r.serverCpu * 1000) / r.quotes.length)} | ${ms((r.clientCpu * 1000) / r.quotes.length)} |`;
}

/** One row per repeat, the median and best marked. */
export function repeatRows(name: string, rr: RepeatedRuns): string {
  return rr.runs.map((r, i) => loadRow(`${name}, run ${i + 1}${r === rr.median ? ' (median)' : r === rr.best ? ' (best)' : ''}`, r)).join('\n');
}

/** "0 of 50000 (0.00 %)" for `code` over every request of the runs. */
export function errorShare(runs: LoadRun[], code: string): string {
  const total = runs.reduce((n, r) => n + r.quotes.length + r.errors, 0);
  const hits = runs.reduce((n, r) => n + (r.errorsByCode[code] ?? 0), 0);
  return `${hits} of ${total} (${((100 * hits) / Math.max(1, total)).toFixed(2)} %)`;
}
