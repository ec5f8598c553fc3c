/**
 * `runDemo`: the composition root of the end-to-end demo. Makes a temp dir,
 * runs the steps, and — whatever happens, including an abort from SIGINT —
 * stops everything the steps started and removes the temp dir before it
 * returns the report.
 */
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../ops/log.js';
import { Cleanups, runSteps, type RunEvents, type StepResult } from './runner.js';
import { demoPaths, stepsFor, type DemoContext } from './steps.js';

export interface DemoOptions {
  /** Real backends on an SGX machine instead of the simulator. */
  hardware?: boolean;
  /** Aborting stops the demo at once; cleanup still runs. */
  signal?: AbortSignal;
  /** Component log level (logs go to stderr); default silent. */
  logLevel?: string;
  /** Parent directory of the temp dir (default the OS temp dir). */
  tmpRoot?: string;
  /** Tests: after this step passes, wait until `signal` aborts. */
  holdAfter?: string;
  events?: RunEvents & { onHold?(stepId: string, tempDir: string): void };
}

export interface DemoReport {
  ok: boolean;
  mode: 'simulation' | 'hardware';
  /** Set when the demo was interrupted (the signal's reason). */
  interrupted?: string;
  steps: StepResult[];
  tempDir: string;
  cleanup: { ok: boolean; tempDirRemoved: boolean; failures: { what: string; error: string }[] };
  durationMs: number;
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const started = performance.now();
  const mode = opts.hardware ? 'hardware' : 'simulation';
  const signal = opts.signal ?? new AbortController().signal;
  // Short prefix: unix socket paths inside it must stay under 108 bytes.
  const tempDir = await mkdtemp(join(opts.tmpRoot ?? tmpdir(), 'ksgx-demo-'));
  // Last resort if the process dies between here and the cleanup below.
  const onExit = () => rmSync(tempDir, { recursive: true, force: true });
  process.once('exit', onExit);

  const cleanups = new Cleanups();
  const logger: Logger = createLogger('demo', opts.logLevel ?? 'silent');
  const paths = demoPaths(tempDir, mode);
  await mkdir(paths.kubeletDir, { recursive: true });
  if (mode === 'hardware') await mkdir(join(tempDir, 'aesmd'), { recursive: true });
  const ctx: DemoContext = { mode, tempDir, cleanups, logger, ...paths };

  const steps = stepsFor(mode).map((s) =>
    s.id !== opts.holdAfter
      ? s
      : {
          ...s,
          run: async (c: DemoContext) => {
            const out = await s.run(c);
            opts.events?.onHold?.(s.id, tempDir);
            await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
            return out;
          },
        },
  );

  let results: StepResult[] = [];
  let crash: string | undefined;
  try {
    results = await runSteps(steps, ctx, signal, opts.events);
  } catch (e) {
    // runSteps records step failures itself; this is a bug in the runner or a callback.
    crash = e instanceof Error ? e.message : String(e);
  }
  const failures = await cleanups.runAll();
  await rm(tempDir, { recursive: true, force: true }).catch((e: unknown) => failures.push({ what: 'temp dir', error: String(e) }));
  process.off('exit', onExit);
  if (crash !== undefined) failures.push({ what: 'demo runner', error: crash });
  const tempDirRemoved = !existsSync(tempDir);
  const interrupted = signal.aborted ? String(signal.reason ?? 'aborted') : undefined;
  return {
    ok: !interrupted && crash === undefined && results.length > 0 && results.every((r) => r.status === 'passed') && failures.length === 0 && tempDirRemoved,
    mode,
    ...(interrupted ? { interrupted } : {}),
    steps: results,
    tempDir,
    cleanup: { ok: failures.length === 0 && tempDirRemoved, tempDirRemoved, failures },
    durationMs: Math.round(performance.now() - started),
  };
}
