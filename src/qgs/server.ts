/**
 * The QGS server: Intel's Quote Generation Service protocol on a unix socket
 * (and on vsock where the kernel has it; see vsock.ts). Per connection, as
 * Intel's qgs_server.cpp: one request, one reply, close.
 *
 *   - framed: u32 big-endian length + QGS message → u32 BE length + response;
 *   - raw mode: a bare 1,024-byte TDREPORT (first byte 0x81, which no framed
 *     message within the size cap can start with) → the bare quote.
 *
 * Unlike Intel's server it caps the message size before buffering, answers
 * every malformed framed request with its own QGS error code instead of
 * UNEXPECTED or a silent close, answers a truncated request (EOF before the
 * declared length) with INVALID_SIZE, and gives the backend 90 % of the
 * transaction deadline so the client hears UNEXPECTED before its own 30 s run
 * out. Raw mode has no error channel: a refused raw TDREPORT closes the
 * connection, as Intel's does.
 */
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KubeSgxError } from '../errors.js';
import { silentLogger, type Logger } from '../ops/log.js';
import { removeStaleSocket } from '../quotehelper/server.js';
import { qgsErrorOf, type QgsBackend } from './backend.js';
import type { QgsMetrics } from './metrics.js';
import { QGS_DEFAULTS } from './options.js';
import {
  DEFAULT_QGS_SOCKET,
  QGS_LENGTH_PREFIX_SIZE,
  QGS_RAW_REPORT_SIZE,
  QgsError,
  QgsMsgType,
  encodeCollateralResponse,
  encodeErrorResponse,
  encodePlatformInfoResponse,
  encodeQuoteResponseHead,
  isQgsRequestError,
  parseQgsRequest,
  qgsErrorName,
  qgsLengthPrefix,
  responseTypeFor,
  type QgsRequest,
  type QgsResponseType,
} from './protocol.js';

export { DEFAULT_QGS_SOCKET };

/** A raw-mode request starts with REPORTTYPE.type = 0x81 (TDX). */
const RAW_FIRST_BYTE = 0x81;

export interface QgsServerOptions {
  backend: QgsBackend;
  logger?: Logger;
  metrics?: QgsMetrics;
  /** Largest accepted message (after the length prefix). Default 16 KiB; a GET_QUOTE_REQ with a TDREPORT is 1,048 bytes. */
  maxMessageBytes?: number;
  /** Whole-transaction deadline per connection, from accept (Intel: 30 s). Default 30 s. */
  timeoutMs?: number;
  /** Concurrent connections per listener. Default 1024. */
  maxConnections?: number;
}

const REQUEST_NAMES: Record<number, string> = { 0: 'get_quote', 2: 'get_collateral', 4: 'get_platform_info' };

/** The connection handling, shared by the unix and vsock listeners. */
export class QgsConnectionHandler {
  private readonly log: Logger;
  private readonly maxMessageBytes: number;
  private readonly timeoutMs: number;
  readonly sockets = new Set<Socket>();

  constructor(private readonly opts: QgsServerOptions) {
    this.log = opts.logger ?? silentLogger;
    this.maxMessageBytes = opts.maxMessageBytes ?? QGS_DEFAULTS.maxMessageBytes;
    this.timeoutMs = opts.timeoutMs ?? QGS_DEFAULTS.timeoutMs;
  }

  handle(socket: Socket, transport: 'unix' | 'vsock'): void {
    const m = this.opts.metrics;
    this.sockets.add(socket);
    m?.openConnections.inc({ transport });
    let chunks: Buffer[] = [];
    let received = 0;
    let mode: 'unknown' | 'framed' | 'raw' = 'unknown';
    let expected = 0;
    let done = false;

    const drop = (reason: string, detail?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      m?.rejectedConnections.inc({ reason });
      this.log.debug({ reason, transport, ...detail }, 'closing QGS connection without a reply');
      socket.destroy();
    };
    const refuse = (type: QgsResponseType, error: number, request: string, reason: string) => {
      if (done) return;
      done = true;
      m?.requests.inc({ request, result: qgsErrorName(error) });
      this.log.debug({ request, error: qgsErrorName(error), reason, transport }, 'refused QGS request');
      this.reply(socket, encodeErrorResponse(type, error));
    };

    // One absolute deadline for the whole transaction (as Intel's timer), so a
    // client trickling bytes cannot hold a slot; the backend gets 90 % of it.
    const deadline = setTimeout(() => drop('timeout', { bytes: received }), this.timeoutMs);
    const started = performance.now();
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'QGS client socket error'));
    socket.on('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
      m?.openConnections.dec({ transport });
    });
    socket.on('end', () => {
      if (done) return;
      // allowHalfOpen: the client shut its write side before a whole request
      if (received === 0) return drop('empty'); // connect and close: a probe, not a request
      if (mode === 'raw') return drop('truncated-raw', { bytes: received });
      refuse(QgsMsgType.GET_QUOTE_RESP, QgsError.INVALID_SIZE, 'unknown', `connection closed after ${received} of ${expected ? expected + QGS_LENGTH_PREFIX_SIZE : 'at least 4'} bytes`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      chunks.push(chunk);
      received += chunk.length;
      if (mode === 'unknown') {
        if (received < QGS_LENGTH_PREFIX_SIZE) return;
        const head = Buffer.concat(chunks);
        chunks = [head];
        if (head[0] === RAW_FIRST_BYTE) {
          mode = 'raw';
          expected = QGS_RAW_REPORT_SIZE;
        } else {
          const length = head.readUInt32BE(0);
          if (length === 0) return refuse(QgsMsgType.GET_QUOTE_RESP, QgsError.INVALID_SIZE, 'unknown', 'length prefix 0');
          if (length > this.maxMessageBytes) return refuse(QgsMsgType.GET_QUOTE_RESP, QgsError.INVALID_SIZE, 'unknown', `length prefix ${length} exceeds ${this.maxMessageBytes}`);
          mode = 'framed';
          expected = QGS_LENGTH_PREFIX_SIZE + length;
        }
      }
      if (received < expected) return;
      done = true;
      socket.pause();
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      chunks = [];
      // bytes after the request are ignored, as Intel's server reads exactly the request
      const work = mode === 'raw' ? this.serveRaw(socket, all.subarray(0, QGS_RAW_REPORT_SIZE), started) : this.serveFramed(socket, all.subarray(QGS_LENGTH_PREFIX_SIZE, expected), started);
      work.catch((e: unknown) => {
        // A bug must cost one connection, never the process.
        m?.rejectedConnections.inc({ reason: 'internal-error' });
        this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'internal error while answering a QGS request');
        socket.destroy();
      });
    });
  }

  /** Runs `fn` with 90 % of the transaction budget; 'timeout' when it is spent first. */
  private async withBudget<T>(fn: () => Promise<T>, started: number): Promise<T | 'timeout'> {
    const budget = Math.max(1, Math.floor(this.timeoutMs * 0.9 - (performance.now() - started)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), budget);
    });
    try {
      return await Promise.race([fn(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async serveFramed(socket: Socket, msg: Buffer, started: number): Promise<void> {
    const m = this.opts.metrics;
    const parsed = parseQgsRequest(msg);
    if (isQgsRequestError(parsed)) {
      const request = REQUEST_NAMES[msg.length >= 8 ? msg.readUInt32LE(4) : -1] ?? 'unknown';
      m?.requests.inc({ request, result: qgsErrorName(parsed.error) });
      this.log.debug({ request, error: qgsErrorName(parsed.error), reason: parsed.reason }, 'refused QGS request');
      this.reply(socket, encodeErrorResponse(parsed.responseType, parsed.error));
      return;
    }
    const request = REQUEST_NAMES[parsed.type];
    const responseType = responseTypeFor(parsed.type);
    let out: Buffer[] | 'timeout';
    try {
      out = await this.withBudget(() => this.answer(parsed), started);
    } catch (e) {
      const error = qgsErrorOf(e);
      m?.requests.inc({ request, result: qgsErrorName(error) });
      const err = e instanceof KubeSgxError ? { code: e.code, err: e.message } : { err: String(e) };
      this.log.warn({ request, error: qgsErrorName(error), ...err }, 'QGS request failed');
      this.reply(socket, encodeErrorResponse(responseType, error));
      return;
    }
    if (out === 'timeout') {
      m?.requests.inc({ request, result: qgsErrorName(QgsError.UNEXPECTED) });
      this.log.warn({ request, budgetMs: Math.floor(this.timeoutMs * 0.9) }, 'backend did not answer in time; replied QGS_MSG_ERROR_UNEXPECTED');
      this.reply(socket, encodeErrorResponse(responseType, QgsError.UNEXPECTED));
      return;
    }
    m?.requests.inc({ request, result: 'ok' });
    if (parsed.type === QgsMsgType.GET_QUOTE_REQ) m?.quotes.inc({ mode: 'framed' });
    this.reply(socket, ...out);
    m?.latency.observe({ request }, (performance.now() - started) / 1000);
  }

  private async answer(req: QgsRequest): Promise<Buffer[]> {
    const backend = this.opts.backend;
    switch (req.type) {
      case QgsMsgType.GET_QUOTE_REQ: {
        if (req.report.length !== QGS_RAW_REPORT_SIZE) {
          throw new KubeSgxError('QGS_BAD_REPORT_SIZE', `report_size ${req.report.length} is not a TDREPORT (${QGS_RAW_REPORT_SIZE} bytes)`, { details: { qgsError: QgsError.INVALID_PARAMETER } });
        }
        // the id list (attestation key IDs the TD accepts) is ignored, as Intel's QGS ignores it: one TD QE
        const quote = await backend.getQuote(req.report);
        return [encodeQuoteResponseHead(quote.length), quote];
      }
      case QgsMsgType.GET_COLLATERAL_REQ: {
        if (req.fmspc.length >= 0xffff) throw new KubeSgxError('QGS_BAD_FMSPC', 'fmspc_size does not fit a u16', { details: { qgsError: QgsError.UNEXPECTED } });
        // Intel passes the CA name to the quote provider as a C string: up to the first NUL
        const nul = req.pckCa.indexOf(0);
        const pckCa = req.pckCa.subarray(0, nul < 0 ? req.pckCa.length : nul).toString('latin1');
        return [encodeCollateralResponse(await backend.getCollateral(req.fmspc, pckCa), req.header.minorVersion)];
      }
      default:
        return [encodePlatformInfoResponse(await backend.platformInfo())];
    }
  }

  private async serveRaw(socket: Socket, report: Buffer, started: number): Promise<void> {
    const m = this.opts.metrics;
    let quote: Buffer | 'timeout';
    try {
      quote = await this.withBudget(() => this.opts.backend.getQuote(report), started);
    } catch (e) {
      m?.rejectedConnections.inc({ reason: 'raw-refused' });
      this.log.warn({ mode: 'raw', ...(e instanceof KubeSgxError ? { code: e.code } : {}), err: e instanceof Error ? e.message : String(e) }, 'raw TDREPORT refused; closing (raw mode has no error reply)');
      socket.destroy();
      return;
    }
    if (quote === 'timeout') {
      m?.rejectedConnections.inc({ reason: 'raw-timeout' });
      socket.destroy();
      return;
    }
    m?.quotes.inc({ mode: 'raw' });
    m?.requests.inc({ request: 'raw_quote', result: 'ok' });
    if (socket.destroyed) return;
    socket.end(quote);
    m?.latency.observe({ request: 'raw_quote' }, (performance.now() - started) / 1000);
  }

  /** Length prefix and message(s) in one writev, then close our side (one request per connection). */
  private reply(socket: Socket, ...parts: Buffer[]): void {
    if (socket.destroyed) return;
    const length = parts.reduce((n, p) => n + p.length, 0);
    socket.cork();
    socket.write(qgsLengthPrefix(length));
    for (let i = 0; i < parts.length - 1; i++) socket.write(parts[i]);
    socket.end(parts[parts.length - 1]);
  }
}

export interface QgsUnixServerOptions extends QgsServerOptions {
  socketPath?: string;
  /** Socket file mode. Default 0o660 (QEMU runs as root or in the socket's group). */
  socketMode?: number;
}

/** The QGS on a unix socket. */
export class QgsServer {
  readonly socketPath: string;
  readonly handler: QgsConnectionHandler;
  private readonly server: Server;
  private listening = false;
  private readonly log: Logger;

  private constructor(private readonly opts: QgsUnixServerOptions) {
    this.socketPath = opts.socketPath ?? DEFAULT_QGS_SOCKET;
    this.handler = new QgsConnectionHandler(opts);
    this.log = opts.logger ?? silentLogger;
    this.server = createServer({ allowHalfOpen: true }, (s) => this.handler.handle(s, 'unix'));
    this.server.maxConnections = opts.maxConnections ?? QGS_DEFAULTS.maxConnections;
  }

  /** Creates the parent directory, replaces a stale socket file, listens, chmods. */
  static async listen(opts: QgsUnixServerOptions): Promise<QgsServer> {
    const s = new QgsServer(opts);
    await s.start();
    return s;
  }

  private async start(): Promise<void> {
    const path = this.socketPath;
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw new KubeSgxError('QGS_SOCKET_DIR', `cannot create ${dirname(path)}: ${(e as Error).message}`, { path: ['socket'], cause: e });
    }
    await removeStaleSocket(path, "Intel's QGS (qgsd)");
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(new KubeSgxError('QGS_LISTEN', `cannot listen on ${path}: ${e.message}`, { path: ['socket'], cause: e }));
      this.server.once('error', onError);
      this.server.listen(path, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.server.on('error', (e) => this.log.error({ err: e }, 'QGS socket server error'));
    chmodSync(path, this.opts.socketMode ?? QGS_DEFAULTS.socketMode);
    this.listening = true;
  }

  get isListening(): boolean {
    return this.listening;
  }

  /** Stops accepting, drops open connections, removes the socket file. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.handler.sockets) s.destroy();
    await closed;
    try {
      unlinkSync(this.socketPath);
    } catch {
      // already gone
    }
  }
}
