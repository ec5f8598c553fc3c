/**
 * Large reviews off the event loop (issue 15: no request may block the loop
 * for more than 100 ms). Parsing, reviewing and serialising a 16 MiB review
 * of tiny fields takes seconds; here it runs in a small fixed pool of worker
 * threads (review-worker.ts, the same answerReview() the server calls
 * in-thread), with a bounded queue. The body is transferred, not copied, and
 * the answer comes back as bytes ready to write.
 *
 * A worker that dies (out of heap, past the deadline, crashed) costs only the
 * request it was running: that request gets an error answer and the next job
 * starts a new worker.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { WebhookConfig } from './config.js';
import type { ReviewAnswer } from './review-answer.js';
import type { ReviewKind } from './review.js';
import type { ValidationContext } from './validate.js';

/** Given to each worker at start. */
export interface WorkerData {
  config: WebhookConfig;
}
/** One job, parent → worker; `body` arrives with its buffer transferred. */
export interface ReviewJobMessage {
  body: Uint8Array;
  kind: ReviewKind;
  ctx: ValidationContext;
}
/** Worker → parent: the answer, its bytes transferred. */
export type WorkerReply = ReviewAnswer<Uint8Array>;

/** The pool could not answer the review: queue full, worker died, or shutting down. */
export interface PoolRefusal {
  ok: false;
  refused: true;
  status: 413 | 429 | 503;
  code: 'WEBHOOK_BUSY' | 'WEBHOOK_REVIEW_TOO_LARGE' | 'WEBHOOK_REVIEW_TIMEOUT' | 'WEBHOOK_WORKER_FAILED';
  message: string;
  /** For the reviews metric: the client should retry (busy), the review is too costly (too_large), or the worker failed. */
  outcome: 'busy' | 'too_large' | 'failed';
}

export type WorkerExitReason = 'out_of_memory' | 'deadline' | 'crashed';

export interface ReviewWorkerPoolOptions {
  config: WebhookConfig;
  /** Worker threads. Default 1 (the webhook's pod gets a fraction of a core or two). */
  workers?: number;
  /** Jobs waiting for a worker; beyond, 429. Default 32 (the server's buffer budget bounds their bytes). */
  maxQueued?: number;
  /** Old-generation heap of each worker (MiB); a review needing more ends that worker and gets 413. Default 128 (a 16 MiB review of 1-byte fields fits in 64). */
  heapMb?: number;
  /** A job running longer is stopped with its worker (503). Default 10 s. */
  deadlineMs?: number;
  /** Called when a worker ended while running a job, after that job was answered. */
  onWorkerExit?: (reason: WorkerExitReason, error: Error | undefined) => void;
}

export const DEFAULT_REVIEW_WORKER_HEAP_MB = 128;
/**
 * The main thread's stack (V8's default --stack-size, 984 KiB), not a worker's default 4 MiB: a review
 * nested deeply enough to overflow the stack (400, "Maximum call stack size exceeded") then does so at
 * about the same depth in both places (10,000 levels inside a container's resources: 400 in both).
 */
const MAIN_THREAD_STACK_MB = 984 / 1024;

/**
 * Starts one worker running review-worker: the compiled .js beside this file, or under tsx (tests,
 * `npm run kube-sgx`) the .ts source. tsx's `--import tsx` registers its hooks on the main thread only
 * (tsx 4.23 on Node 20: a worker given it as execArgv still cannot load .ts), so there a short bootstrap
 * registers them through tsx's API first. Either way the worker runs the same review code as the parent.
 */
function startWorker(options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./review-worker.js', import.meta.url), options);
  const entry = new URL('./review-worker.ts', import.meta.url).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

interface Job {
  message: ReviewJobMessage;
  resolve: (r: WorkerReply | PoolRefusal) => void;
}

interface Slot {
  worker: Worker | undefined;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
  timedOut: boolean;
  lastError: Error | undefined;
}

export class ReviewWorkerPool {
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly maxQueued: number;
  private readonly heapMb: number;
  private readonly deadlineMs: number;
  private closed = false;

  constructor(private readonly opts: ReviewWorkerPoolOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.workers ?? 1) }, () => ({ worker: undefined, job: undefined, timer: undefined, timedOut: false, lastError: undefined }));
    this.maxQueued = opts.maxQueued ?? 32;
    this.heapMb = opts.heapMb ?? DEFAULT_REVIEW_WORKER_HEAP_MB;
    this.deadlineMs = opts.deadlineMs ?? 10_000;
  }

  /** Jobs running or waiting now. */
  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.job).length;
  }

  /**
   * Reviews `body` in a worker. Takes ownership of the bytes: a body that
   * owns its whole ArrayBuffer is transferred (and detached here), any other
   * is copied first.
   */
  run(body: Uint8Array, kind: ReviewKind, ctx: ValidationContext): Promise<WorkerReply | PoolRefusal> {
    if (this.closed) return Promise.resolve(refusal(503, 'WEBHOOK_WORKER_FAILED', 'the webhook is shutting down; retry', 'failed'));
    const idle = this.slots.find((s) => !s.job);
    if (!idle && this.queue.length >= this.maxQueued) {
      return Promise.resolve(refusal(429, 'WEBHOOK_BUSY', `${this.pending} large reviews are being processed or waiting; retry`, 'busy'));
    }
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer ? body : new Uint8Array(body);
    return new Promise((resolve) => {
      const job: Job = { message: { body: owned, kind, ctx }, resolve };
      if (idle) this.dispatch(idle, job);
      else this.queue.push(job);
    });
  }

  /** Answers waiting jobs with 503 and stops the workers (a running job gets 503 too). */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve(refusal(503, 'WEBHOOK_WORKER_FAILED', 'the webhook is shutting down; retry', 'failed'));
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }

  private dispatch(slot: Slot, job: Job): void {
    const worker = slot.worker ?? this.spawn(slot);
    slot.job = job;
    slot.timedOut = false;
    slot.lastError = undefined;
    worker.ref();
    slot.timer = setTimeout(() => {
      slot.timedOut = true;
      void worker.terminate();
    }, this.deadlineMs);
    worker.postMessage(job.message, [job.message.body.buffer as ArrayBuffer]);
  }

  private spawn(slot: Slot): Worker {
    const worker = startWorker({ workerData: { config: this.opts.config } satisfies WorkerData, resourceLimits: { maxOldGenerationSizeMb: this.heapMb, stackSizeMb: MAIN_THREAD_STACK_MB } });
    slot.worker = worker;
    worker.on('message', (reply: WorkerReply) => this.finish(slot, reply));
    worker.on('messageerror', (err: Error) => {
      slot.lastError = err;
      void worker.terminate();
    });
    worker.on('error', (err: Error) => {
      slot.lastError = err;
    });
    worker.on('exit', () => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      const job = slot.job;
      if (!job) return;
      const reason: WorkerExitReason = slot.timedOut ? 'deadline' : (slot.lastError as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out_of_memory' : 'crashed';
      const error = slot.lastError;
      this.finish(slot, this.failure(reason, error));
      this.opts.onWorkerExit?.(reason, error);
    });
    return worker;
  }

  private failure(reason: WorkerExitReason, error: Error | undefined): PoolRefusal {
    if (reason === 'out_of_memory') {
      return refusal(413, 'WEBHOOK_REVIEW_TOO_LARGE', `reviewing this body needed more than the review worker's ${this.heapMb} MiB heap`, 'too_large');
    }
    if (reason === 'deadline') return refusal(503, 'WEBHOOK_REVIEW_TIMEOUT', `the review took longer than ${this.deadlineMs} ms; retry`, 'failed');
    return refusal(503, 'WEBHOOK_WORKER_FAILED', `the review worker stopped (${error?.message ?? 'exited'}); retry`, 'failed');
  }

  private finish(slot: Slot, answer: WorkerReply | PoolRefusal): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const job = slot.job;
    slot.job = undefined;
    slot.worker?.unref();
    job?.resolve(answer);
    const next = this.closed ? undefined : this.queue.shift();
    if (next) this.dispatch(slot, next);
  }
}

function refusal(status: PoolRefusal['status'], code: PoolRefusal['code'], message: string, outcome: PoolRefusal['outcome']): PoolRefusal {
  return { ok: false, refused: true, status, code, message, outcome };
}
