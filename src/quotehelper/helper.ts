/**
 * Composition root of the quote helper: picks the backend, starts the aesm
 * socket server and the ops endpoint, and says in the logs which backend runs.
 */
import { KubeSgxError } from '../errors.js';
import { createLogger, type Logger } from '../ops/log.js';
import { startOpsServer, type OpsServer } from '../ops/server.js';
import { SimPlatform } from '../sim/index.js';
import type { QuoteBackend } from './backend.js';
import { DcapBackend, type DcapBackendOptions } from './dcap-backend.js';
import { createQuoteHelperMetrics, type QuoteHelperMetrics } from './metrics.js';
import { AesmServer, DEFAULT_AESM_SOCKET, type AesmServerOptions } from './server.js';
import { SimBackend, type SimQuotingPlatform } from './sim-backend.js';

export type QuoteHelperLimits = Pick<
  AesmServerOptions,
  'maxFrameBytes' | 'idleTimeoutMs' | 'silentTimeoutMs' | 'requestTimeoutMs' | 'maxConnections' | 'maxConnectionsPerPeer' | 'maxBusyConnections' | 'socketMode' | 'maxReplyPadBytes'
>;

export interface QuoteHelperOptions extends QuoteHelperLimits {
  /** Default /var/run/aesmd/aesm.socket. */
  socketPath?: string;
  /** "sim" (needs platformDir or simPlatform), "dcap", or a ready backend. */
  backend: 'sim' | 'dcap' | QuoteBackend;
  /** sim: the simulated platform directory (`kube-sgx sim init`). */
  platformDir?: string;
  /** sim: an already-open platform (the demo shares one). */
  simPlatform?: SimQuotingPlatform;
  /** dcap: library path and device root. */
  dcap?: DcapBackendOptions;
  /** HOST:PORT for /metrics /healthz /readyz /status; omitted = no ops endpoint. */
  metricsAddr?: string;
  logger?: Logger;
}

export interface QuoteHelper {
  readonly socketPath: string;
  readonly backend: QuoteBackend;
  readonly metrics: QuoteHelperMetrics;
  /** The ops endpoint's base URL, when metricsAddr was given. */
  readonly opsUrl: string | undefined;
  /** Stops serving, removes the socket file, closes the ops endpoint and the backend. */
  stop(): Promise<void>;
}

async function createBackend(opts: QuoteHelperOptions): Promise<QuoteBackend> {
  if (typeof opts.backend === 'object') return opts.backend;
  if (opts.backend === 'dcap') return DcapBackend.open(opts.dcap);
  if (opts.backend === 'sim') {
    if (opts.simPlatform) return new SimBackend(opts.simPlatform, { platformDir: opts.platformDir });
    if (!opts.platformDir) {
      throw new KubeSgxError('QUOTE_HELPER_NO_PLATFORM', 'the sim backend needs --platform DIR (create one with `kube-sgx sim init`)', { path: ['platform'] });
    }
    return new SimBackend(await SimPlatform.open(opts.platformDir), { platformDir: opts.platformDir });
  }
  throw new KubeSgxError('QUOTE_HELPER_BAD_BACKEND', `unknown backend ${JSON.stringify(opts.backend)} (expected sim or dcap)`, { path: ['backend'] });
}

export async function startQuoteHelper(opts: QuoteHelperOptions): Promise<QuoteHelper> {
  const log = opts.logger ?? createLogger('quote-helper');
  const socketPath = opts.socketPath ?? DEFAULT_AESM_SOCKET;
  const backend = await createBackend(opts);
  const metrics = createQuoteHelperMetrics();
  metrics.info.set({ backend: backend.name, simulated: String(backend.simulated) }, 1);

  let server: AesmServer;
  try {
    server = await AesmServer.listen({
      socketPath, backend, logger: log, metrics,
      maxFrameBytes: opts.maxFrameBytes, idleTimeoutMs: opts.idleTimeoutMs, silentTimeoutMs: opts.silentTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs,
      maxConnections: opts.maxConnections, maxConnectionsPerPeer: opts.maxConnectionsPerPeer, maxBusyConnections: opts.maxBusyConnections,
      socketMode: opts.socketMode, maxReplyPadBytes: opts.maxReplyPadBytes,
    });
  } catch (e) {
    await backend.close();
    throw e;
  }

  let ops: OpsServer | undefined;
  if (opts.metricsAddr !== undefined) {
    try {
      ops = await startOpsServer({
        listen: opts.metricsAddr,
        registry: metrics.registry,
        ready: () => (server.isListening ? { ready: true } : { ready: false, reason: 'aesm socket not listening' }),
        status: () => ({ component: 'quote-helper', socket: socketPath, listening: server.isListening, ...backend.describe() }),
      });
    } catch (e) {
      await server.close();
      await backend.close();
      throw new KubeSgxError('QUOTE_HELPER_OPS_LISTEN', `cannot serve --metrics-addr ${opts.metricsAddr}: ${(e as Error).message}`, { cause: e, path: ['metricsAddr'] });
    }
  }

  log.info({ socket: socketPath, ops: ops?.url, ...backend.describe() }, `quote helper serving with the ${backend.name} backend`);
  if (backend.simulated) {
    log.warn({ backend: backend.name }, 'SIMULATED QUOTES: this quote helper serves quotes from a simulated platform; they prove nothing about real SGX hardware and verify only against the simulator\'s own root CA');
  }

  let stopped = false;
  return {
    socketPath,
    backend,
    metrics,
    opsUrl: ops?.url,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await ops?.close();
      await backend.close();
      log.info({ socket: socketPath }, 'quote helper stopped');
    },
  };
}
