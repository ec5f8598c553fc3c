/**
 * Composition root of the quote helper: picks the backend, starts the aesm
 * socket server and the ops endpoint, and says in the logs which backend runs.
 */
import { KubeSgxError } from '../errors.js';
import { createLogger, type Logger } from '../ops/log.js';
import { ComponentLifecycle } from '../ops/lifecycle.js';
import { SimPlatform } from '../sim/index.js';
import type { QuoteBackend } from './backend.js';
import { DcapBackend } from './dcap-backend.js';
import { createQuoteHelperMetrics, type QuoteHelperMetrics } from './metrics.js';
import { AesmServer } from './server.js';
import { parseQuoteHelperOptions, type QuoteHelperSettings, type QuoteHelperSettingsInput } from './options.js';
import { SimBackend, type SimQuotingPlatform } from './sim-backend.js';

/**
 * startQuoteHelper's options: the data options of quoteHelperOptionsSchema
 * (validated and defaulted by it, the same schema the CLI uses), except that
 * `backend` may also be a ready backend, plus what is not data.
 */
export interface QuoteHelperOptions extends Omit<QuoteHelperSettingsInput, 'backend'> {
  /** "sim" (needs platformDir or simPlatform), "dcap", or a ready backend. */
  backend?: QuoteHelperSettingsInput['backend'] | QuoteBackend;
  /** sim: an already-open platform (the demo shares one). */
  simPlatform?: SimQuotingPlatform;
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

async function createBackend(backend: QuoteBackend | undefined, o: QuoteHelperSettings, simPlatform: SimQuotingPlatform | undefined): Promise<QuoteBackend> {
  if (backend) return backend;
  if (o.backend === 'dcap') return DcapBackend.open(o.dcap);
  if (simPlatform) return new SimBackend(simPlatform, { platformDir: o.platformDir });
  if (!o.platformDir) {
    throw new KubeSgxError('QUOTE_HELPER_NO_PLATFORM', 'the sim backend needs --platform DIR (create one with `kube-sgx sim init`)', { path: ['platform'] });
  }
  return new SimBackend(await SimPlatform.open(o.platformDir), { platformDir: o.platformDir });
}

export async function startQuoteHelper(opts: QuoteHelperOptions): Promise<QuoteHelper> {
  const { logger, simPlatform, backend: given, ...data } = opts;
  const ready = typeof given === 'object' ? given : undefined;
  const o = parseQuoteHelperOptions({ ...data, ...(typeof given === 'string' ? { backend: given } : {}) });
  const log = logger ?? createLogger('quote-helper');
  const socketPath = o.socketPath;
  const backend = await createBackend(ready, o, simPlatform);
  const metrics = createQuoteHelperMetrics();
  metrics.info.set({ backend: backend.name, simulated: String(backend.simulated) }, 1);
  const life = new ComponentLifecycle(log, 'quote helper');
  life.closeOnStop(() => backend.close());

  const ops = await life.starting(async () => {
    const server = await AesmServer.listen({
      socketPath, backend, logger: log, metrics,
      maxFrameBytes: o.maxFrameBytes, idleTimeoutMs: o.idleTimeoutMs, silentTimeoutMs: o.silentTimeoutMs, requestTimeoutMs: o.requestTimeoutMs,
      maxConnections: o.maxConnections, maxConnectionsPerPeer: o.maxConnectionsPerPeer, maxBusyConnections: o.maxBusyConnections,
      socketMode: o.socketMode, maxReplyPadBytes: o.maxReplyPadBytes,
    });
    life.closeOnStop(() => server.close());
    return life.serveOps(o.metricsAddr, {
      registry: metrics.registry,
      ready: () => (server.isListening ? { ready: true } : { ready: false, reason: 'aesm socket not listening' }),
      status: () => ({ component: 'quote-helper', socket: socketPath, listening: server.isListening, ...backend.describe() }),
    }, 'QUOTE_HELPER_OPS_LISTEN');
  });

  life.announce(backend, { socket: socketPath, ops: ops?.url },
    'SIMULATED QUOTES: this quote helper serves quotes from a simulated platform; they prove nothing about real SGX hardware and verify only against the simulator\'s own root CA');
  return { socketPath, backend, metrics, opsUrl: ops?.url, stop: life.stopper({ socket: socketPath }) };
}
