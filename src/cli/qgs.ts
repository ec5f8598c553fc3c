/**
 * `kube-sgx qgs`: Intel's Quote Generation Service for trust domains on a
 * TDX host (QEMU's quote-generation-socket, libtdx_attest over vsock).
 */
import type { Command } from 'commander';
import { createLogger } from '../ops/log.js';
import { DEFAULT_QGS_SOCKET, DEFAULT_QGS_VSOCK_PORT, QGS_TIMEOUT_MS } from '../qgs/protocol.js';
import { DEFAULT_QPL_LIBRARY, DEFAULT_TDX_LOGIC_LIBRARY } from '../qgs/dcap-backend.js';
import { startQgs } from '../qgs/service.js';
import { UsageError, action, hostPortFlag, parseIntFlag, untilSignal } from './io.js';

interface QgsFlags {
  socket: string;
  backend: string;
  platform?: string;
  vsock?: string | true;
  metricsAddr?: string;
  tdxLibrary: string;
  qplLibrary: string;
  devRoot: string;
  timeoutMs: string;
  maxMessageBytes: string;
  socketMode: string;
}

export function registerQgsCommand(program: Command): void {
  program
    .command('qgs')
    .description("serve Intel's TDX Quote Generation Service protocol (QEMU quote-generation-socket, libtdx_attest) on a unix socket and optionally vsock")
    .option('--socket <path>', 'unix socket to serve', DEFAULT_QGS_SOCKET)
    .option('--backend <name>', "dcap (Intel's TD QE via libsgx_tdx_logic, needs a TDX host with SGX) or sim (simulated platform)", 'dcap')
    .option('--platform <dir>', 'sim backend: the simulated platform directory (kube-sgx sim init)')
    .option('--vsock [port]', `also serve AF_VSOCK on this port (default ${DEFAULT_QGS_VSOCK_PORT}, any CID)`)
    .option('--metrics-addr <host:port>', 'serve /metrics /healthz /readyz /status here')
    .option('--tdx-library <path>', 'dcap backend: the TD quoting library', DEFAULT_TDX_LOGIC_LIBRARY)
    .option('--qpl-library <path>', 'dcap backend: the quote provider library for GET_COLLATERAL', DEFAULT_QPL_LIBRARY)
    .option('--dev-root <dir>', 'dcap backend: root under which /dev/sgx_* is looked up', '/')
    .option('--timeout-ms <n>', 'whole-transaction deadline per connection (Intel: 30 s)', String(QGS_TIMEOUT_MS))
    .option('--max-message-bytes <n>', 'largest request accepted', '16384')
    .option('--socket-mode <octal>', 'unix socket file mode', '660')
    .action(
      action(async (f: QgsFlags) => {
        if (f.backend !== 'sim' && f.backend !== 'dcap') throw new UsageError(`--backend: expected sim or dcap, got ${JSON.stringify(f.backend)}`);
        if (f.backend === 'sim' && !f.platform) throw new UsageError('--backend sim needs --platform DIR');
        hostPortFlag('--metrics-addr', f.metricsAddr);
        if (!/^[0-7]{3,4}$/.test(f.socketMode)) throw new UsageError(`--socket-mode: expected octal like 660, got ${JSON.stringify(f.socketMode)}`);
        const vsockPort = f.vsock === undefined ? undefined : f.vsock === true ? DEFAULT_QGS_VSOCK_PORT : parseIntFlag('--vsock', f.vsock, 1, 0xffffffff);
        const log = createLogger('qgs');
        const qgs = await startQgs({
          backend: f.backend,
          socketPath: f.socket,
          socketMode: parseInt(f.socketMode, 8),
          platformDir: f.platform,
          vsockPort,
          metricsAddr: f.metricsAddr,
          dcap: { libraryPath: f.tdxLibrary, qplPath: f.qplLibrary, devRoot: f.devRoot },
          timeoutMs: parseIntFlag('--timeout-ms', f.timeoutMs, 1),
          maxMessageBytes: parseIntFlag('--max-message-bytes', f.maxMessageBytes, 1100, 16 * 1024 * 1024),
          logger: log,
        });
        const sig = await untilSignal();
        log.info({ signal: sig }, 'shutting down');
        await qgs.stop();
      }),
    );
}
