/**
 * `kube-sgx qgs`: Intel's Quote Generation Service for trust domains on a
 * TDX host (QEMU's quote-generation-socket, libtdx_attest over vsock).
 */
import type { Command } from 'commander';
import { createLogger } from '../ops/log.js';
import { QGS_DEFAULTS, parseQgsOptions } from '../qgs/options.js';
import { startQgs } from '../qgs/service.js';
import { action, hostPortFlag, serveUntilSignal, usage } from './io.js';

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

// Help shows the schema's defaults, so they are defined once (src/qgs/options.ts).
const D = QGS_DEFAULTS;

export function registerQgsCommand(program: Command): void {
  program
    .command('qgs')
    .description("serve Intel's TDX Quote Generation Service protocol (QEMU quote-generation-socket, libtdx_attest) on a unix socket and optionally vsock")
    .option('--socket <path>', 'unix socket to serve', D.socketPath)
    .option('--backend <name>', "dcap (Intel's TD QE via libsgx_tdx_logic, needs a TDX host with SGX) or sim (simulated platform)", D.backend)
    .option('--platform <dir>', 'sim backend: the simulated platform directory (kube-sgx sim init)')
    .option('--vsock [port]', `also serve AF_VSOCK on this port (default ${D.vsockPort}, any CID)`)
    .option('--metrics-addr <host:port>', 'serve /metrics /healthz /readyz /status here')
    .option('--tdx-library <path>', 'dcap backend: the TD quoting library', D.dcap.libraryPath)
    .option('--qpl-library <path>', 'dcap backend: the quote provider library for GET_COLLATERAL', D.dcap.qplPath)
    .option('--dev-root <dir>', 'dcap backend: root under which /dev/sgx_* is looked up', D.dcap.devRoot)
    .option('--timeout-ms <n>', 'whole-transaction deadline per connection (Intel: 30 s)', String(D.timeoutMs))
    .option('--max-message-bytes <n>', 'largest request accepted', String(D.maxMessageBytes))
    .option('--socket-mode <octal>', 'unix socket file mode', D.socketMode.toString(8))
    .action(
      action(async (f: QgsFlags) => {
        hostPortFlag('--metrics-addr', f.metricsAddr);
        const options = usage(() =>
          parseQgsOptions({
            backend: f.backend,
            socketPath: f.socket,
            socketMode: f.socketMode,
            platformDir: f.platform,
            vsockPort: f.vsock === true ? D.vsockPort : f.vsock,
            metricsAddr: f.metricsAddr,
            dcap: { libraryPath: f.tdxLibrary, qplPath: f.qplLibrary, devRoot: f.devRoot },
            timeoutMs: f.timeoutMs,
            maxMessageBytes: f.maxMessageBytes,
          }),
        );
        const log = createLogger('qgs');
        await serveUntilSignal(log, () => startQgs({ ...options, logger: log }));
      }),
    );
}
