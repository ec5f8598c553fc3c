/**
 * The HTTPS server: `/mutate`, `/validate` (POST AdmissionReview v1),
 * `/healthz`, `/readyz`, `/metrics`. Bad requests are 400 with a reason, never
 * a 500 or a crash. The serving certificate follows its files
 * (src/ops/tls-reload.ts), so rotation needs no restart.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { toKubeSgxError } from '../errors.js';
import { discardRequestBody } from '../ops/drain.js';
import { healthReply, sendHealthReply, type Readiness } from '../ops/health.js';
import { listen } from '../ops/listen.js';
import { silentLogger, type Logger } from '../ops/log.js';
import { loadCertificateFiles } from '../ops/tls-reload.js';
import { defaultWebhookConfig, type WebhookConfig } from './config.js';
import { answerReview } from './review-answer.js';
import { ReviewWorkerPool, type ReviewWorkerPoolOptions } from './review-pool.js';
import type { ReviewKind } from './review.js';
import { configuredMaxEpcBytes, type ValidationContext } from './validate.js';

/**
 * Largest AdmissionReview accepted. The webhook is registered for pod CREATE,
 * whose review carries `object` only (`oldObject` is null). The API server
 * reads request bodies up to 3 MiB (MaxRequestBodyBytes: etcd's 1.5 MiB, x2
 * for JSON); the review re-encodes the pod as JSON with defaults and
 * managedFields, and a protobuf body of many small fields grows several-fold
 * as JSON. 16 MiB holds any of these with room for the review around it.
 */
export const MAX_REVIEW_BODY_BYTES = 16 * 1024 * 1024;
/**
 * Review bodies buffered at once, over all connections. One review of any
 * accepted size is always let through; beyond that, concurrent large bodies
 * wait for the client's retry (429) instead of growing the heap without bound.
 */
export const MAX_BUFFERED_REVIEW_BYTES = 32 * 1024 * 1024;
/**
 * Reviews at least this large are parsed, reviewed and serialised in the
 * review worker (review-pool.ts), not on the event loop. Measured (docs/webhook.md,
 * "Bounded cost"): the costliest shape, a pod of 1-byte env entries, takes a few
 * ms at this size on the event loop and over 100 ms at 1 MiB on a loaded
 * machine; ordinary pods are a few KiB and never leave the event loop.
 */
export const REVIEW_WORKER_THRESHOLD_BYTES = 64 * 1024;

export interface ReviewWorkerOptions extends Omit<ReviewWorkerPoolOptions, 'config' | 'onWorkerExit'> {
  /** Bodies of at least this many bytes go to the worker. Default REVIEW_WORKER_THRESHOLD_BYTES. */
  thresholdBytes?: number;
}

export interface WebhookServerOptions {
  /** "HOST:PORT"; port 0 picks a free port. */
  listen: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  config?: WebhookConfig;
  /** Largest EPC per node, when known (e.g. NodeEpcCapacity.current). Defaults to the config's fixed value. */
  maxEpcPerNode?: () => bigint | undefined;
  /** Largest review body (bytes); larger ones get 413. Default MAX_REVIEW_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Review bytes buffered at once over all connections; beyond it 429. Default MAX_BUFFERED_REVIEW_BYTES. */
  maxBufferedBytes?: number;
  /** Re-read the certificate files at least this often (ms), besides file-change events. Default 10 s. */
  certPollMs?: number;
  /** Where large reviews run: size threshold, workers, queue, heap, deadline. */
  reviewWorker?: ReviewWorkerOptions;
  logger?: Logger;
}

export interface WebhookServer {
  readonly url: string;
  readonly registry: Registry;
  /** Re-reads the certificate files now; resolves true when a new certificate was installed. */
  reloadCertificates(): Promise<boolean>;
  /** Not ready while closing or when the serving certificate in use has expired (the API server would refuse it). */
  ready(): Readiness;
  close(): Promise<void>;
}

function makeMetrics(registry: Registry) {
  return {
    reviews: new Counter({
      name: 'kube_sgx_webhook_reviews_total',
      help: 'Admission reviews answered, by endpoint and outcome (skipped, allowed, patched, denied, bad_request, too_large, busy, failed).',
      labelNames: ['endpoint', 'outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'kube_sgx_webhook_review_duration_seconds',
      help: 'Time to answer one admission review, body read to response written.',
      labelNames: ['endpoint'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    workerJobs: new Counter({
      name: 'kube_sgx_webhook_review_worker_jobs_total',
      help: 'Reviews at or over the size threshold, handed to the review worker thread instead of the event loop.',
      registers: [registry],
    }),
    workerPending: new Gauge({
      name: 'kube_sgx_webhook_review_worker_pending',
      help: 'Reviews in the review worker now, running or queued (beyond the queue: 429).',
      registers: [registry],
    }),
    workerExits: new Counter({
      name: 'kube_sgx_webhook_review_worker_exits_total',
      help: 'Review worker threads that ended while reviewing (out_of_memory, deadline, crashed); the next large review starts a new one.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    buffered: new Gauge({
      name: 'kube_sgx_webhook_review_bytes_buffered',
      help: 'Review body bytes held now over all connections (bounded by the buffer budget).',
      registers: [registry],
    }),
  };
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const config = opts.config ?? defaultWebhookConfig;
  const log = opts.logger ?? silentLogger;
  const registry = new Registry();
  const metrics = makeMetrics(registry);
  const fixedMax = configuredMaxEpcBytes(config);
  const maxEpc = opts.maxEpcPerNode ?? (() => fixedMax);
  const maxBodyBytes = opts.maxBodyBytes ?? MAX_REVIEW_BODY_BYTES;
  const budget = new BodyBudget(opts.maxBufferedBytes ?? MAX_BUFFERED_REVIEW_BYTES, metrics.buffered);
  const { thresholdBytes: workerThreshold = REVIEW_WORKER_THRESHOLD_BYTES, ...poolOptions } = opts.reviewWorker ?? {};
  // Workers start on the first large review, so a webhook that never gets one pays nothing for them.
  const pool = new ReviewWorkerPool({
    ...poolOptions,
    config,
    onWorkerExit: (reason, err) => {
      metrics.workerExits.inc({ reason });
      log.warn({ reason, err: err?.message }, 'review worker ended during a review; the next large review starts a new one');
    },
  });

  const certificates = await loadCertificateFiles({
    certFile: opts.tlsCertFile,
    keyFile: opts.tlsKeyFile,
    errorCode: 'WEBHOOK_TLS_INVALID',
    ...(opts.certPollMs !== undefined ? { pollMs: opts.certPollMs } : {}),
    logger: log,
  });
  certificates.exportMetrics(registry, 'kube_sgx_webhook');
  let closing = false;
  const ready = (): Readiness => {
    if (closing) return { ready: false, reason: 'shutting down' };
    const notAfter = certificates.notAfterSeconds;
    if (notAfter !== undefined && notAfter * 1000 <= Date.now()) return { ready: false, reason: 'the serving certificate has expired' };
    return { ready: true };
  };
  const health = { registry, ready };

  async function inWorker(body: Buffer, endpoint: ReviewKind, ctx: ValidationContext) {
    metrics.workerJobs.inc();
    const answer = pool.run(body, endpoint, ctx);
    metrics.workerPending.set(pool.pending);
    try {
      return await answer;
    } finally {
      metrics.workerPending.set(pool.pending);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const probe = healthReply(path, health);
    if (probe) return sendHealthReply(req, res, await probe);
    if (path !== '/mutate' && path !== '/validate') return sendText(res, 404, 'not found\n');
    const endpoint: ReviewKind = path === '/mutate' ? 'mutate' : 'validate';
    if (req.method !== 'POST') return sendText(res, 405, 'use POST with an AdmissionReview\n');
    const started = process.hrtime.bigint();
    const read = await readBody(req, res, maxBodyBytes, budget);
    try {
      if (!read.ok) {
        metrics.reviews.inc({ endpoint, outcome: read.outcome });
        if (read.status === 429) res.setHeader('retry-after', '1');
        return sendJson(res, read.status, { error: { code: read.code, message: read.message } });
      }
      const ctx = { maxEpcPerNodeBytes: maxEpc() };
      const answer = read.body.length >= workerThreshold ? await inWorker(read.body, endpoint, ctx) : answerReview(read.body, config, endpoint, ctx);
      if ('refused' in answer) {
        metrics.reviews.inc({ endpoint, outcome: answer.outcome });
        if (answer.status !== 413) res.setHeader('retry-after', '1');
        log.warn({ code: answer.code, message: answer.message, bytes: read.body.length }, 'large admission review not answered');
        return sendJson(res, answer.status, { error: { code: answer.code, message: answer.message } });
      }
      metrics.reviews.inc({ endpoint, outcome: answer.ok ? answer.outcome : 'bad_request' });
      sendBody(res, answer.ok ? 200 : 400, answer.json);
      if (!answer.ok) log.warn({ code: answer.code, message: answer.message }, 'bad admission review');
      else if (answer.outcome === 'denied') log.info({ uid: answer.uid, endpoint, message: answer.deniedMessage }, 'pod denied');
    } finally {
      read.release();
      metrics.duration.observe({ endpoint }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  const listening = await listen({
    address: opts.listen,
    flag: '--listen',
    tls: certificates,
    handler: (req, res) => {
      handle(req, res).catch((e: unknown) => {
        // Last resort: handlers answer on their own; this only runs on a bug.
        log.error({ err: e }, 'webhook handler failed');
        if (!res.headersSent) sendJson(res, 400, { error: toKubeSgxError(e).toJSON() });
      });
    },
    // Idle keep-alive connections are the client's to close. Go's http.DefaultTransport drops them after
    // 90 s (that the apiserver's webhook client keeps that default is not verified here). With Node's
    // default 5 s the server can close a connection just as the client reuses it, and the review on it
    // fails (failurePolicy then decides the pod); Go servers do not close idle connections by default.
    keepAliveTimeoutMs: 120_000,
    requestTimeoutMs: 10_000,
    headersTimeoutMs: 10_000,
  });
  // A client may shut its write side once the request is sent. A review answered by the worker is written after
  // that FIN arrives, so the server must not end the connection at the FIN: both flags keep it open until the
  // last answer is written (httpAllowHalfOpen is Node's own, undocumented; without it the answer was lost).
  Object.assign(listening.server, { allowHalfOpen: true, httpAllowHalfOpen: true });
  // Half-open connections the HTTP layer no longer tracks (closeAllConnections misses them) are cut at close.
  const sockets = new Set<Socket>();
  listening.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  listening.server.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake failed'));
  // Malformed HTTP is answered with a status, as Node's default handler does, then closed: never a bare reset.
  listening.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const pending = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || err.code === 'ECONNRESET' || pending?.headersSent) return void socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  return {
    url: listening.url,
    registry,
    reloadCertificates: () => certificates.reload(),
    ready,
    close: async () => {
      closing = true;
      const closed = listening.close();
      for (const socket of sockets) socket.destroy();
      await closed;
      await pool.close();
    },
  };
}

/** Review bytes buffered now over all connections; one request may always proceed. */
class BodyBudget {
  private inFlight = 0;
  constructor(
    private readonly limit: number,
    private readonly gauge: Gauge,
  ) {}
  tryReserve(n: number): boolean {
    if (this.inFlight > 0 && this.inFlight + n > this.limit) return false;
    this.inFlight += n;
    this.gauge.set(this.inFlight);
    return true;
  }
  release(n: number): void {
    this.inFlight -= n;
    this.gauge.set(this.inFlight);
  }
}

type BodyRead =
  | { ok: true; body: Buffer; release: () => void }
  | { ok: false; status: 400 | 413 | 429; code: string; message: string; outcome: 'bad_request' | 'too_large' | 'busy'; release: () => void };

/**
 * Reads the body within `limit` bytes and the shared budget. A refused body
 * is answered at once but still read and discarded (ops/drain.ts: up to
 * MAX_DRAIN_BYTES, within the server's requestTimeout), so a client still
 * writing gets the 4xx instead of a reset; the connection then stays usable.
 */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number, budget: BodyBudget): Promise<BodyRead> {
  return new Promise((resolve) => {
    let reserved = 0;
    const release = () => {
      budget.release(reserved);
      reserved = 0;
    };
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const refuse = (status: 400 | 413 | 429, code: string, message: string, outcome: 'bad_request' | 'too_large' | 'busy') => {
      settled = true;
      chunks.length = 0;
      release();
      req.off('data', onData);
      discardRequestBody(req, res);
      resolve({ ok: false, status, code, message, outcome, release });
    };
    const header = req.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && declared > limit) {
      refuse(413, 'WEBHOOK_REVIEW_TOO_LARGE', `body of ${declared} bytes exceeds the ${limit}-byte limit`, 'too_large');
    } else if (declared !== undefined) {
      if (budget.tryReserve(declared)) reserved = declared;
      else refuse(429, 'WEBHOOK_BUSY', 'too many large reviews in flight; retry', 'busy');
    }
    function onData(chunk: Buffer) {
      if (settled) return;
      size += chunk.length;
      if (size > limit) return refuse(413, 'WEBHOOK_REVIEW_TOO_LARGE', `body exceeds the ${limit}-byte limit`, 'too_large');
      if (size > reserved) {
        // No (or a wrong) Content-Length: reserve as the bytes come.
        if (!budget.tryReserve(size - reserved)) return refuse(429, 'WEBHOOK_BUSY', 'too many large reviews in flight; retry', 'busy');
        reserved = size;
      }
      chunks.push(chunk);
    }
    req.on('data', onData);
    req.on('end', () => {
      if (settled) return;
      settled = true;
      if (size === 0) resolve({ ok: false, status: 400, code: 'WEBHOOK_BAD_REVIEW', message: 'empty body: expected an AdmissionReview', outcome: 'bad_request', release });
      else resolve({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), release });
    });
    const fail = () => {
      if (settled) return;
      settled = true;
      release();
      resolve({ ok: false, status: 400, code: 'WEBHOOK_BAD_REVIEW', message: 'request body could not be read (connection closed)', outcome: 'bad_request', release });
    };
    req.on('error', fail);
    req.on('close', fail); // a client gone mid-body: settle, so nothing waits forever
  });
}

function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendJson(res: ServerResponse, code: number, value: unknown): void {
  sendBody(res, code, JSON.stringify(value));
}

/** JSON already serialised: text from the event loop, bytes from the review worker. */
function sendBody(res: ServerResponse, code: number, json: string | Uint8Array): void {
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': typeof json === 'string' ? Buffer.byteLength(json) : json.byteLength });
  res.end(json);
}
