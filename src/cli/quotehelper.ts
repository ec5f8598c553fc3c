/**
 * `kube-sgx quote-helper` (the per-node aesmd-compatible quote service) and
 * the scripting clients `kube-sgx quote get` / `kube-sgx quote target-info`.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { KubeSgxError } from '../errors.js';
import { checkQcnlForQuoting, readQcnlConfig } from '../dcap/qcnl.js';
import { createLogger } from '../ops/log.js';
import { AesmClient } from '../quotehelper/client.js';
import { startQuoteHelper } from '../quotehelper/helper.js';
import { AESMD_SOCKET_PATH } from '../names.js';
import { QUOTE_HELPER_DEFAULTS, parseQuoteHelperOptions } from '../quotehelper/options.js';
import { UsageError, action, hostPortFlag, parseIntFlag, printJson, serveUntilSignal, usage } from './io.js';

interface HelperFlags {
  socket: string;
  backend: string;
  platform?: string;
  metricsAddr?: string;
  dcapLibrary: string;
  qcnlConfig?: string;
  devRoot: string;
  idleTimeoutMs: string;
  requestTimeoutMs: string;
  maxFrameBytes: string;
}

// Help shows the schema's defaults, so they are defined once (src/quotehelper/options.ts).
const D = QUOTE_HELPER_DEFAULTS;

export function registerQuoteHelperCommand(program: Command): void {
  program
    .command('quote-helper')
    .description('serve the aesmd quote-ex protocol on a unix socket (apps set SGX_AESM_ADDR=1 and mount /var/run/aesmd)')
    .option('--socket <path>', 'unix socket to serve', D.socketPath)
    .option('--backend <name>', 'dcap (Intel libsgx_dcap_ql, needs SGX) or sim (simulated platform)', D.backend)
    .option('--platform <dir>', 'sim backend: the simulated platform directory (kube-sgx sim init)')
    .option('--metrics-addr <host:port>', 'serve /metrics /healthz /readyz /status here')
    .option('--dcap-library <path>', 'dcap backend: library to load', D.dcap.libraryPath)
    .option('--qcnl-config <file>', 'dcap backend: Intel\'s QCNL configuration for the quote provider library (sgx_default_qcnl.conf); checked at start, passed to the library as QCNL_CONF_PATH')
    .option('--dev-root <dir>', 'dcap backend: root under which /dev/sgx_* is looked up', D.dcap.devRoot)
    .option('--idle-timeout-ms <n>', 'drop a client that has not sent its whole request within this long', String(D.idleTimeoutMs))
    .option('--request-timeout-ms <n>', 'upper bound per request; answered AESM_BUSY when exceeded', String(D.requestTimeoutMs))
    .option('--max-frame-bytes <n>', 'largest request accepted', String(D.maxFrameBytes))
    .action(
      action(async (flags: HelperFlags) => {
        hostPortFlag('--metrics-addr', flags.metricsAddr);
        const options = usage(() =>
          parseQuoteHelperOptions({
            socketPath: flags.socket,
            backend: flags.backend,
            platformDir: flags.platform,
            metricsAddr: flags.metricsAddr,
            dcap: { libraryPath: flags.dcapLibrary, devRoot: flags.devRoot },
            idleTimeoutMs: flags.idleTimeoutMs,
            requestTimeoutMs: flags.requestTimeoutMs,
            maxFrameBytes: flags.maxFrameBytes,
          }),
        );
        if (options.backend === 'sim' && !options.platformDir) throw new UsageError('--backend sim needs --platform DIR');
        if (flags.qcnlConfig !== undefined) {
          if (options.backend !== 'dcap') throw new UsageError('--qcnl-config is for --backend dcap (the quote provider library reads it)');
          // A missing or empty PCCS fails here, named, not later as a quote error from inside the library.
          checkQcnlForQuoting(readQcnlConfig(flags.qcnlConfig));
          // DCAP >= 1.22 reads the path from QCNL_CONF_PATH; older releases read /etc/sgx_default_qcnl.conf (mount it there too).
          process.env.QCNL_CONF_PATH = flags.qcnlConfig;
        }
        const log = createLogger('quote-helper');
        await serveUntilSignal(log, () => startQuoteHelper({ ...options, logger: log }));
      }),
    );
}

function readBinary(path: string, flag: string, size?: number): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new KubeSgxError('FILE_UNREADABLE', `${flag}: cannot read ${path}: ${(e as Error).message}`, { path: [flag] });
  }
  if (size !== undefined && buf.length !== size) {
    throw new KubeSgxError('QUOTE_HELPER_BAD_INPUT', `${flag}: ${path} is ${buf.length} bytes, expected ${size}`, { path: [flag] });
  }
  return buf;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function registerQuoteGetCommand(quote: Command): void {
  quote
    .command('get')
    .description('get a quote for an SGX REPORT (432 bytes, targeted at the QE) from an aesmd-compatible socket')
    .option('--socket <path>', 'aesmd socket', AESMD_SOCKET_PATH)
    .requiredOption('--report <file>', 'the app enclave REPORT (binary, 432 bytes)')
    .requiredOption('--out <file>', 'where to write the quote (binary, padding trimmed)')
    .option('--timeout-ms <n>', 'per-call deadline', '15000')
    .action(
      action(async (flags: { socket: string; report: string; out: string; timeoutMs: string }) => {
        const report = readBinary(flags.report, '--report', 432);
        const client = new AesmClient({ socketPath: flags.socket, timeoutMs: parseIntFlag('--timeout-ms', flags.timeoutMs, 1) });
        const quote = await client.getQuote(report);
        writeFileSync(flags.out, quote);
        printJson({ out: flags.out, bytes: quote.length, version: quote.readUInt16LE(0), sha256: sha256(quote) });
      }),
    );

  quote
    .command('target-info')
    .description("write the QE's TARGETINFO (512 bytes) from an aesmd-compatible socket, for `kube-sgx sim report`")
    .option('--socket <path>', 'aesmd socket', AESMD_SOCKET_PATH)
    .requiredOption('--out <file>', 'where to write the target info (binary)')
    .option('--timeout-ms <n>', 'per-call deadline', '15000')
    .action(
      action(async (flags: { socket: string; out: string; timeoutMs: string }) => {
        const client = new AesmClient({ socketPath: flags.socket, timeoutMs: parseIntFlag('--timeout-ms', flags.timeoutMs, 1) });
        const init = await client.initQuoteEx(undefined, { pubKeyId: true });
        writeFileSync(flags.out, init.targetInfo);
        printJson({
          out: flags.out,
          bytes: init.targetInfo.length,
          qeMrEnclave: init.targetInfo.subarray(0, 32).toString('hex'),
          ...(init.pubKeyId ? { pubKeyId: init.pubKeyId.toString('hex') } : {}),
        });
      }),
    );
}
