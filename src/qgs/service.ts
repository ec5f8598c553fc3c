/**
 * Composition root of `kube-sgx qgs`: picks the backend, serves the QGS on a
 * unix socket (and vsock when asked and the kernel has it), and the ops
 * endpoint; says in the logs which backend runs.
 */
import { KubeSgxError } from '../errors.js';
import { createLogger, type Logger } from '../ops/log.js';
import { startOpsServer, type OpsServer } from '../ops/server.js';
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
  const closers: (() => Promise<void>)[] = [() => backend.close()];
  const stopAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  let server: QgsServer;
  let vsock: VsockListener | undefined;
  let ops: OpsServer | undefined;
  try {
    server = await QgsServer.listen({ socketPath, socketMode: opts.socketMode, backend, metrics, logger: log, ...limits });
    closers.push(() => server.close());
    if (opts.vsockPort !== undefined) {
      vsock = listenVsock(opts.vsockPort, server.handler, { maxConnections: opts.maxConnections });
      closers.push(() => vsock!.close());
    }
    if (opts.metricsAddr !== undefined) {
      try {
        ops = await startOpsServer({
          listen: opts.metricsAddr,
          registry: metrics.registry,
          ready: () => (server.isListening ? { ready: true } : { ready: false, reason: 'QGS socket not listening' }),
          status: () => ({ component: 'qgs', socket: socketPath, vsockPort: vsock?.port, listening: server.isListening, ...backend.describe() }),
        });
      } catch (e) {
        throw new KubeSgxError('QGS_OPS_LISTEN', `cannot serve --metrics-addr ${opts.metricsAddr}: ${(e as Error).message}`, { cause: e, path: ['metricsAddr'] });
      }
      closers.push(() => ops!.close());
    }
  } catch (e) {
    await stopAll();
    throw e;
  }

  log.info({ socket: socketPath, vsockPort: vsock?.port, ops: ops?.url, ...backend.describe() }, `QGS serving with the ${backend.name} backend`);
  if (backend.simulated) {
    log.warn({ backend: backend.name }, "SIMULATED TD QUOTES: this QGS quotes with a simulated TD QE; the quotes prove nothing about real TDX hardware and verify only against the simulator's own root CA");
  }
  let stopped = false;
  return {
    socketPath,
    backend,
    metrics,
    opsUrl: ops?.url,
    vsockPort: vsock?.port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopAll();
      log.info({ socket: socketPath }, 'QGS stopped');
    },
  };
}
