/**
 * The demo's step runner: runs steps in order, stops at the first failure,
 * records what each step proved (or why it failed), and always runs the
 * cleanups registered along the way — after success, failure or an abort
 * (SIGINT/SIGTERM) — in reverse order.
 */
import { toKubeSgxError, KubeSgxError, type ErrorCode } from '../errors.js';

export type StepStatus = 'passed' | 'failed' | 'skipped' | 'aborted';

export interface StepOutcome {
  /** One sentence: what this step showed to be true. */
  proved: string;
  /** Facts behind it (IDs, sizes, claims), for --json and the detail lines. */
  details?: Record<string, unknown>;
}

export interface DemoStep<C> {
  id: string;
  title: string;
  run(ctx: C): Promise<StepOutcome>;
}

export interface StepResult {
  id: string;
  title: string;
  status: StepStatus;
  durationMs: number;
  proved?: string;
  details?: Record<string, unknown>;
  error?: { code: string; message: string };
  /** Why a step did not run. */
  reason?: string;
}

export interface RunEvents {
  onStart?(index: number, total: number, step: { id: string; title: string }): void;
  onResult?(index: number, total: number, result: StepResult): void;
}

/** Cleanups registered by steps; run once, last registered first, each failure collected not thrown. */
export class Cleanups {
  private readonly stack: { what: string; fn: () => Promise<void> | void }[] = [];
  private ran = false;

  add(what: string, fn: () => Promise<void> | void): void {
    if (this.ran) throw new KubeSgxError('DEMO_CLEANUP_CLOSED', `cannot register cleanup "${what}" after cleanup ran`);
    this.stack.push({ what, fn });
  }

  get size(): number {
    return this.stack.length;
  }

  /** Runs every cleanup (each bounded by `timeoutMs`); returns the failures. */
  async runAll(timeoutMs = 10_000): Promise<{ what: string; error: string }[]> {
    this.ran = true;
    const failures: { what: string; error: string }[] = [];
    while (this.stack.length > 0) {
      const { what, fn } = this.stack.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(fn),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } catch (e) {
        failures.push({ what, error: e instanceof Error ? e.message : String(e) });
      } finally {
        clearTimeout(timer);
      }
    }
    return failures;
  }
}

/**
 * Runs `steps` in order. A step that throws fails the run and the remaining
 * steps are skipped. When `signal` aborts, the running step is abandoned at
 * once (its resources are released by the cleanups the caller runs next).
 */
export async function runSteps<C>(steps: readonly DemoStep<C>[], ctx: C, signal: AbortSignal, events: RunEvents = {}): Promise<StepResult[]> {
  const results: StepResult[] = [];
  let stopped: { status: StepStatus; reason: string } | undefined;
  for (const [i, step] of steps.entries()) {
    if (!stopped && signal.aborted) stopped = { status: 'aborted', reason: `interrupted (${String(signal.reason ?? 'signal')})` };
    if (stopped) {
      const r: StepResult = { id: step.id, title: step.title, status: 'skipped', durationMs: 0, reason: stopped.reason };
      results.push(r);
      events.onResult?.(i, steps.length, r);
      continue;
    }
    events.onStart?.(i, steps.length, step);
    const started = performance.now();
    let result: StepResult;
    try {
      const outcome = await raceAbort(step.run(ctx), signal);
      result = { id: step.id, title: step.title, status: 'passed', durationMs: elapsed(started), proved: outcome.proved, ...(outcome.details ? { details: outcome.details } : {}) };
    } catch (e) {
      if (signal.aborted) {
        result = { id: step.id, title: step.title, status: 'aborted', durationMs: elapsed(started), reason: `interrupted (${String(signal.reason ?? 'signal')})` };
        stopped = { status: 'aborted', reason: `not run: interrupted during "${step.title}"` };
      } else {
        const err = toKubeSgxError(e, 'DEMO_STEP_FAILED');
        result = { id: step.id, title: step.title, status: 'failed', durationMs: elapsed(started), error: { code: err.code, message: err.message } };
        stopped = { status: 'skipped', reason: `not run: step "${step.title}" failed` };
      }
    }
    results.push(result);
    events.onResult?.(i, steps.length, result);
  }
  return results;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new KubeSgxError('DEMO_ABORTED', 'interrupted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new KubeSgxError('DEMO_ABORTED', 'interrupted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Throws a typed step failure when `cond` is false: the message says what was expected. */
export function expect(cond: boolean, code: ErrorCode, message: string, details?: Record<string, unknown>): asserts cond {
  if (!cond) throw new KubeSgxError(code, message, details ? { details } : {});
}
