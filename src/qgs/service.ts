/**
 * Composition root of `kube-sgx qgs`: picks the backend, serves the QGS on a
 * unix socket (and vsock when asked and the kernel has it), and the ops
 * endpoint; says in the logs which backend runs.
 */
import { KubeSgxError } from '../errors.js';
import { createLogger, type Logger } from '../ops/log.js';
import { startOpsServer, type OpsServer } from '../ops/server.js';
import type { QgsBackend } from './backend.js';
import { QgsDcapBackend, type QgsDcapBackendOptions } from './dcap-backend.js';
import { createQgsMetrics, type QgsMetrics } from './metrics.js';
import { DEFAULT_QGS_SOCKET } from './protocol.js';
import { QgsServer, type QgsServerOptions } from './server.js';
import { SimQgsBackend } from './sim-backend.js';
import { listenVsock, type VsockListener } from './vsock.js';

export interface QgsServiceOptions extends Pick<QgsServerOptions, 'maxMessageBytes' | 'timeoutMs' | 'maxConnections'> {
  /** Default /var/run/tdx-qgs/qgs.socket. */
  socketPath?: string;
  socketMode?: number;
  /** Also serve AF_VSOCK on this port (Intel: 4050). Omitted: unix socket only. */
  vsockPort?: number;
  backend: 'sim' | 'dcap' | QgsBackend;
  /** sim: the simulated platform directory. */
  platformDir?: string;
  dcap?: QgsDcapBackendOptions;
  metricsAddr?: string;
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

async function createBackend(opts: QgsServiceOptions): Promise<QgsBackend> {
  if (typeof opts.backend === 'object') return opts.backend;
  if (opts.backend === 'dcap') return QgsDcapBackend.open(opts.dcap);
  if (opts.backend === 'sim') {
    if (!opts.platformDir) throw new KubeSgxError('QGS_NO_PLATFORM', 'the sim backend needs --platform DIR (create one with `kube-sgx sim init`)', { path: ['platform'] });
    return SimQgsBackend.open(opts.platformDir);
  }
  throw new KubeSgxError('QGS_BAD_BACKEND', `unknown backend ${JSON.stringify(opts.backend)} (expected sim or dcap)`, { path: ['backend'] });
}

export async function startQgs(opts: QgsServiceOptions): Promise<QgsService> {
  const log = opts.logger ?? createLogger('qgs');
  const socketPath = opts.socketPath ?? DEFAULT_QGS_SOCKET;
  const backend = await createBackend(opts);
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
