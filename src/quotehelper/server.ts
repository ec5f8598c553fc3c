/**
 * The aesmd-compatible unix-socket server. Per connection: read one frame
 * (u32 LE length + Request), answer it, close — as aesmd does. Unlike aesmd it
 * caps the frame size, times out silent clients, shares connection slots per
 * peer (admission.ts) and answers BUSY — before the caller's own deadline, or
 * when no slot is free — so a bad client never stops others being served.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KubeSgxError } from '../errors.js';
import { silentLogger, type Logger } from '../ops/log.js';
import { AesmError, aesmErrorName } from './aesm-errors.js';
import type { QuoteBackend } from './backend.js';
import { FrameAccumulator, lengthPrefix } from './framing.js';
import { handleRequest, requestKind, requestTimeout } from './handlers.js';
import type { QuoteHelperMetrics } from './metrics.js';
import { type AesmRequest, type AesmResponse, RESPONSE_FOR, decodeRequest, encodeResponse } from './schema.js';
import { ConnectionTable, type Slot } from './admission.js';
import { peerCredentials, peerCredentialsAvailable } from './peer.js';
import { QUOTE_HELPER_DEFAULTS as D } from './options.js';

export interface AesmServerOptions {
  socketPath: string;
  backend: QuoteBackend;
  logger?: Logger;
  metrics?: QuoteHelperMetrics;
  /** Largest accepted request payload; bigger length prefixes close the connection. Default 64 KiB. */
  maxFrameBytes?: number;
  /** A client must send its whole frame within this long after connecting (and close within it after the reply). Default 5 s. */
  idleTimeoutMs?: number;
  /**
   * A client that has sent nothing this long after connecting is dropped
   * (Intel's client writes its request right after connect). Also the whole-frame
   * deadline of a connection that will be answered BUSY. Default 1 s.
   */
  silentTimeoutMs?: number;
  /**
   * Upper bound on the time a request may take. A request's own `timeout`
   * (ms, as Intel's client sends it) lowers it; the reply is AESM_BUSY at 90 %
   * of the budget so the client gets an answer before its deadline. Default 15 s.
   */
  requestTimeoutMs?: number;
  /** Connections served at once over all peers; from 3/4 of it slots are shared fairly, then requests answered AESM_BUSY. Default 1024. */
  maxConnections?: number;
  /** One peer's share (uid, and pid when visible) once 3/4 of maxConnections are taken; below that a peer may hold more. Default 64. */
  maxConnectionsPerPeer?: number;
  /** Connections being answered AESM_BUSY at once; past it new connections are closed. Default maxConnections. */
  maxBusyConnections?: number;
  /** Socket file mode. Default 0o666. */
  socketMode?: number;
  /** Cap on zero-padding a quote to buf_size. Default 1 MiB. */
  maxReplyPadBytes?: number;
}

export class AesmServer {
  readonly socketPath: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly log: Logger;
  private readonly maxFrameBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly silentTimeoutMs: number;
  private readonly maxReplyPadBytes: number;
  private readonly table: ConnectionTable;
  private peersKnown = false;
  private listening = false;

  private constructor(private readonly opts: AesmServerOptions) {
    this.socketPath = opts.socketPath;
    this.log = opts.logger ?? silentLogger;
    this.maxFrameBytes = opts.maxFrameBytes ?? D.maxFrameBytes;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? D.idleTimeoutMs;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? D.requestTimeoutMs;
    this.silentTimeoutMs = opts.silentTimeoutMs ?? D.silentTimeoutMs;
    this.maxReplyPadBytes = opts.maxReplyPadBytes ?? D.maxReplyPadBytes;
    const maxConnections = opts.maxConnections ?? D.maxConnections;
    this.table = new ConnectionTable({
      maxConnections,
      maxConnectionsPerPeer: opts.maxConnectionsPerPeer ?? D.maxConnectionsPerPeer,
      maxBusyConnections: opts.maxBusyConnections ?? maxConnections,
    });
    // No server.maxConnections: Node would close the connection at accept,
    // before the client writes (Intel's client then dies of SIGPIPE).
    this.server = createServer({ allowHalfOpen: true }, (s) => this.onConnection(s));
  }

  /** Creates the parent directory, replaces a stale socket file, listens, chmods. */
  static async listen(opts: AesmServerOptions): Promise<AesmServer> {
    const srv = new AesmServer(opts);
    await srv.start();
    return srv;
  }

  get isListening(): boolean {
    return this.listening;
  }

  private async start(): Promise<void> {
    const path = this.socketPath;
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw new KubeSgxError('QUOTE_HELPER_SOCKET_DIR', `cannot create ${dirname(path)}: ${(e as Error).message}`, { path: ['socket'], cause: e });
    }
    await removeStaleSocket(path);
    this.peersKnown = await peerCredentialsAvailable();
    if (!this.peersKnown) this.log.warn('cannot read SO_PEERCRED here: all clients share one set of connection slots');
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(new KubeSgxError('QUOTE_HELPER_LISTEN', `cannot listen on ${path}: ${e.message}`, { path: ['socket'], cause: e }));
      this.server.once('error', onError);
      // A deep backlog (the kernel caps it at somaxconn) so a burst of connects is queued, not refused.
      this.server.listen({ path, backlog: 4096 }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.server.on('error', (e) => this.log.error({ err: e }, 'aesm socket server error'));
    chmodSync(path, this.opts.socketMode ?? D.socketMode);
    this.listening = true;
  }

  /** Stops accepting, drops open connections, removes the socket file. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    try {
      unlinkSync(this.socketPath);
    } catch {
      // already gone (server.close() may unlink it)
    }
  }

  /** "uid:1000/pid:4242", "uid:1000" when the pid is not visible, "unknown" without SO_PEERCRED. */
  private peerOf(socket: Socket): string {
    const cred = this.peersKnown ? peerCredentials(socket) : undefined;
    if (!cred) return 'unknown';
    return cred.pid > 0 ? `uid:${cred.uid}/pid:${cred.pid}` : `uid:${cred.uid}`;
  }

  private onConnection(socket: Socket): void {
    const m = this.opts.metrics;
    const peer = this.peerOf(socket);
    const admission = this.table.admit(peer, () => {
      m?.rejectedConnections.inc({ reason: 'evicted' });
      this.log.debug({ peer }, 'gave the slot of an unfinished connection to another peer');
      socket.destroy();
    });
    if (admission.kind === 'refuse') {
      m?.rejectedConnections.inc({ reason: 'overload' });
      socket.destroy();
      return;
    }
    const slot: Slot | undefined = admission.kind === 'slot' ? admission.slot : undefined;
    this.sockets.add(socket);
    m?.openConnections.inc();
    const acc = new FrameAccumulator(this.maxFrameBytes);
    let done = false;

    const reject = (reason: string, detail?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      m?.rejectedConnections.inc({ reason });
      this.log.debug({ reason, peer, ...detail }, 'closing aesm connection without a reply');
      socket.destroy();
    };

    // Absolute deadlines (not inactivity timers), so a client trickling one
    // byte at a time cannot hold a slot: one for the first byte, one for the
    // whole frame. A connection that will be answered BUSY gets the short one for both.
    const frameDeadline = setTimeout(() => reject('idle', { bytes: acc.bytes }), slot ? this.idleTimeoutMs : this.silentTimeoutMs);
    // Checked once more after the poll phase, so a request already in the
    // socket buffer when the event loop was late is still read.
    let silentDeadline: NodeJS.Timeout | undefined = setTimeout(
      () => setImmediate(() => acc.bytes === 0 && reject('silent')),
      this.silentTimeoutMs,
    );
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'aesm client socket error'));
    socket.on('close', () => {
      clearTimeout(frameDeadline);
      clearTimeout(silentDeadline);
      if (slot) this.table.release(slot);
      else if (admission.kind === 'busy') admission.release();
      this.sockets.delete(socket);
      m?.openConnections.dec();
    });
    // allowHalfOpen: a client may shut down its write side after the frame
    // and still read the reply; before a whole frame it is a truncated request.
    socket.on('end', () => {
      if (!done) reject('truncated', { bytes: acc.bytes });
    });
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      if (silentDeadline) {
        clearTimeout(silentDeadline);
        silentDeadline = undefined;
        if (slot) slot.spoke = true;
      }
      const st = acc.push(chunk);
      if (st.kind === 'incomplete') return;
      if (st.kind === 'oversized') return reject('oversized', { length: st.length });
      if (st.kind === 'empty') return reject('empty');
      done = true;
      if (slot) slot.complete = true;
      clearTimeout(frameDeadline);
      socket.pause();
      const answer = slot ? this.serve(socket, st.payload) : this.answerBusy(socket, st.payload);
      answer.catch((e: unknown) => {
        // A bug must cost one connection, never the process.
        m?.rejectedConnections.inc({ reason: 'internal-error' });
        this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'internal error while answering an aesm request');
        socket.destroy();
      });
    });
  }

  /** No slot free for this peer: read the request and answer AESM_BUSY in its own reply type. */
  private async answerBusy(socket: Socket, payload: Buffer): Promise<void> {
    const m = this.opts.metrics;
    let kind: ReturnType<typeof requestKind>;
    try {
      kind = requestKind(decodeRequest(payload));
    } catch {
      kind = undefined;
    }
    if (kind === undefined) {
      m?.rejectedConnections.inc({ reason: 'malformed' });
      socket.destroy();
      return;
    }
    m?.requests.inc({ request: kind, result: aesmErrorName(AesmError.BUSY) });
    m?.errors.inc({ code: aesmErrorName(AesmError.BUSY) });
    this.reply(socket, { [RESPONSE_FOR[kind]]: { errorCode: AesmError.BUSY } });
  }

  private reply(socket: Socket, response: AesmResponse, written?: () => void): void {
    if (socket.destroyed) return; // client went away meanwhile
    // The client reads the reply and closes; one that never does is dropped.
    socket.setTimeout(this.idleTimeoutMs, () => socket.destroy());
    const reply = encodeResponse(response);
    // Prefix and payload leave in one writev (cork), without copying the quote again.
    socket.cork();
    socket.write(lengthPrefix(reply.length));
    socket.end(reply, written);
  }

  private async serve(socket: Socket, payload: Buffer): Promise<void> {
    const m = this.opts.metrics;
    const started = performance.now();
    let req: AesmRequest;
    try {
      req = decodeRequest(payload);
    } catch (e) {
      m?.rejectedConnections.inc({ reason: 'malformed' });
      this.log.debug({ err: (e as Error).message }, 'malformed aesm request');
      socket.destroy();
      return;
    }
    const kind = requestKind(req);
    if (kind === undefined) {
      // aesmd closes without replying when no known inner message is present.
      m?.rejectedConnections.inc({ reason: 'unknown-request' });
      socket.destroy();
      return;
    }
    const budget = Math.min(requestTimeout(req, kind) ?? this.requestTimeoutMs, this.requestTimeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const busy = new Promise<'busy'>((resolve) => {
      timer = setTimeout(() => resolve('busy'), Math.max(1, Math.floor(budget * 0.9)));
    });
    const outcome = await Promise.race([handleRequest(req, { backend: this.opts.backend, maxReplyPadBytes: this.maxReplyPadBytes }), busy]);
    clearTimeout(timer);

    let response: AesmResponse;
    let errorCode: number;
    if (outcome === 'busy') {
      errorCode = AesmError.BUSY;
      response = { [RESPONSE_FOR[kind]]: { errorCode } };
      this.log.warn({ request: kind, budgetMs: budget }, 'backend did not answer within the request timeout; replied AESM_BUSY');
    } else if (outcome === undefined) {
      socket.destroy();
      return;
    } else {
      response = outcome.response;
      errorCode = outcome.errorCode;
      if (outcome.quoted) m?.quotes.inc();
      if (outcome.error) {
        this.log.warn({ request: kind, aesmError: aesmErrorName(errorCode), code: outcome.error.code, err: outcome.error.message }, 'request failed');
      }
    }
    const result = errorCode === 0 ? 'ok' : aesmErrorName(errorCode);
    m?.requests.inc({ request: kind, result });
    if (errorCode !== 0) m?.errors.inc({ code: aesmErrorName(errorCode) });

    this.reply(socket, response, () => {
      m?.latency.observe({ request: kind }, (performance.now() - started) / 1000);
    });
  }
}

/**
 * A socket file left by a crashed helper is removed; a live one (something
 * answers connect) or a non-socket file is an error, never silently replaced.
 * `service` names what else may be serving it (aesmd; Intel's QGS for the QGS socket).
 */
export async function removeStaleSocket(path: string, service = 'aesmd'): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new KubeSgxError('QUOTE_HELPER_SOCKET_EXISTS', `${path} exists and is not a socket`, { path: ['socket'] });
  }
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) {
    throw new KubeSgxError('QUOTE_HELPER_SOCKET_IN_USE', `another process is serving ${path} (is ${service} running?)`, { path: ['socket'] });
  }
  unlinkSync(path);
}
