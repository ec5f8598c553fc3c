/**
 * Composition root of `kube-sgx qgs`: picks the backend, serves the QGS on a
 * unix socket (and vsock when asked and the kernel has it), and the ops
 * endpoint; says in the logs which backend runs.
 */
import { createLogger, type Logger } from '../ops/log.js';
import { ComponentLifecycle } from '../ops/lifecycle.js';
import type { QgsBackend } from './backend.js';
import { QgsDcapBackend } from './dcap-backend.js';
import { createQgsMetrics, type QgsMetrics } from './metrics.js';
import { parseQgsOptions, type QgsSettings, type QgsSettingsInput } from './options.js';
import { QgsServer } from './server.js';
import { SimQgsBackend } from './sim-backend.js';
import { listenVsock, type VsockListener } from './vsock.js';

/**
 * startQgs's options: the data options of qgsOptionsSchema (validated and
 * defaulted by it, the same schema the CLI uses), except that `backend` may
 * also be a ready backend, plus the logger.
 */
export interface QgsServiceOptions extends Omit<QgsSettingsInput, 'backend'> {
  /** "sim" (needs platformDir), "dcap", or a ready backend. */
  backend?: QgsSettingsInput['backend'] | QgsBackend;
  logger?: Logger;
}

export interface QgsService {
  readonly socketPath: string;
  readonly backend: QgsBackend;
  readonly metrics: QgsMetrics;
  readonly opsUrl: string | undefined;
  /** the vsock port served, when vsock was asked for */
  readonly vsockPort: number | undefined;
  stop(): Promise<void>;
}

async function createBackend(ready: QgsBackend | undefined, o: QgsSettings): Promise<QgsBackend> {
  if (ready) return ready;
  // The schema made sure the sim backend has its platform.
  return o.backend === 'dcap' ? QgsDcapBackend.open(o.dcap) : SimQgsBackend.open(o.platformDir!);
}

export async function startQgs(input: QgsServiceOptions): Promise<QgsService> {
  const { logger, backend: given, ...data } = input;
  const ready = typeof given === 'object' ? given : undefined;
  const opts = parseQgsOptions({ ...data, ...(typeof given === 'string' ? { backend: given } : {}) });
  const log = logger ?? createLogger('qgs');
  const socketPath = opts.socketPath;
  const backend = await createBackend(ready, opts);
  const metrics = createQgsMetrics();
  metrics.info.set({ backend: backend.name, simulated: String(backend.simulated) }, 1);
  const limits = { maxMessageBytes: opts.maxMessageBytes, timeoutMs: opts.timeoutMs, maxConnections: opts.maxConnections };
  const life = new ComponentLifecycle(log, 'QGS');
  life.closeOnStop(() => backend.close());
  const { vsock, ops } = await life.starting(async () => {
    const server = await QgsServer.listen({ socketPath, socketMode: opts.socketMode, backend, metrics, logger: log, ...limits });
    life.closeOnStop(() => server.close());
    let vsock: VsockListener | undefined;
    if (opts.vsockPort !== undefined) {
      const listener = listenVsock(opts.vsockPort, server.handler, { maxConnections: opts.maxConnections });
      life.closeOnStop(() => listener.close());
      vsock = listener;
    }
    const ops = await life.serveOps(opts.metricsAddr, {
      registry: metrics.registry,
      ready: () => (server.isListening ? { ready: true } : { ready: false, reason: 'QGS socket not listening' }),
      status: () => ({ component: 'qgs', socket: socketPath, vsockPort: vsock?.port, listening: server.isListening, ...backend.describe() }),
    }, 'QGS_OPS_LISTEN');
    return { vsock, ops };
  });

  life.announce(backend, { socket: socketPath, vsockPort: vsock?.port, ops: ops?.url },
    "SIMULATED TD QUOTES: this QGS quotes with a simulated TD QE; the quotes prove nothing about real TDX hardware and verify only against the simulator's own root CA");
  return { socketPath, backend, metrics, opsUrl: ops?.url, vsockPort: vsock?.port, stop: life.stopper({ socket: socketPath }) };
}
