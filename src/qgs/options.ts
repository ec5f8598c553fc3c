/**
 * The QGS's options: one schema, with every default and bound, used by
 * `kube-sgx qgs` and startQgs(); QgsServer and the dcap backend take their
 * defaults from QGS_DEFAULTS.
 */
import { z } from 'zod';
import { intOption, parseOptions } from '../ops/options.js';
import { DEFAULT_QGS_SOCKET, DEFAULT_QGS_VSOCK_PORT, QGS_TIMEOUT_MS } from './protocol.js';

export const DEFAULT_TDX_LOGIC_LIBRARY = 'libsgx_tdx_logic.so.1';
export const DEFAULT_QPL_LIBRARY = 'libdcap_quoteprov.so.1';

export const QGS_DEFAULTS = {
  socketPath: DEFAULT_QGS_SOCKET,
  backend: 'dcap',
  /** The port `--vsock` without a value serves (Intel's). */
  vsockPort: DEFAULT_QGS_VSOCK_PORT,
  dcap: { libraryPath: DEFAULT_TDX_LOGIC_LIBRARY, qplPath: DEFAULT_QPL_LIBRARY, devRoot: '/' },
  /** Whole transaction per connection, from accept (Intel: 30 s). */
  timeoutMs: QGS_TIMEOUT_MS,
  /** After the length prefix; a GET_QUOTE_REQ with a TDREPORT is 1,048 bytes. */
  maxMessageBytes: 16 * 1024,
  /** Per listener. */
  maxConnections: 1024,
  socketMode: 0o660,
} as const;

const D = QGS_DEFAULTS;

/** A file mode as a number or as the octal text of a CLI flag ("660"). */
const socketMode = z.preprocess(
  (v) => (typeof v === 'string' && /^[0-7]{3,4}$/.test(v) ? parseInt(v, 8) : v),
  z.number({ error: (iss) => `expected octal like 660, got ${JSON.stringify(iss.input)}` }).int('expected an integer').min(0).max(0o7777),
);

export const qgsOptionsSchema = z
  .object({
    socketPath: z.string().min(1).default(D.socketPath),
    socketMode: socketMode.default(D.socketMode),
    backend: z.enum(['sim', 'dcap'], { error: (iss) => `expected sim or dcap, got ${JSON.stringify(iss.input)}` }).default(D.backend),
    /** sim: the simulated platform directory (`kube-sgx sim init`). */
    platformDir: z.string().min(1).optional(),
    /** Also serve AF_VSOCK on this port. Omitted: unix socket only. */
    vsockPort: intOption(z, 1, 0xffffffff).optional(),
    /** HOST:PORT for /metrics /healthz /readyz /status; omitted = no ops endpoint. */
    metricsAddr: z.string().min(1).optional(),
    /** dcap: the TD quoting library, the quote provider library (GET_COLLATERAL) and the root under which /dev/sgx_* is looked up. */
    dcap: z
      .object({
        libraryPath: z.string().min(1).default(D.dcap.libraryPath),
        qplPath: z.string().min(1).default(D.dcap.qplPath),
        devRoot: z.string().min(1).default(D.dcap.devRoot),
        /** Only for a stand-in library that needs no device nodes (tests). */
        skipDeviceCheck: z.boolean().optional(),
      })
      .strict()
      .default(D.dcap),
    timeoutMs: intOption(z, 1, 3_600_000).default(D.timeoutMs),
    maxMessageBytes: intOption(z, 1100, 16 * 1024 * 1024).default(D.maxMessageBytes),
    maxConnections: intOption(z, 1, 1_000_000).default(D.maxConnections),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.backend === 'sim' && !o.platformDir) ctx.addIssue({ code: 'custom', path: ['platformDir'], message: 'the sim backend needs --platform DIR (create one with `kube-sgx sim init`)' });
  });

export type QgsSettings = z.output<typeof qgsOptionsSchema>;
export type QgsSettingsInput = z.input<typeof qgsOptionsSchema>;

/** The CLI flag of each option, for error messages. */
export const QGS_FLAGS = {
  socketPath: '--socket',
  socketMode: '--socket-mode',
  backend: '--backend',
  platformDir: '--platform',
  vsockPort: '--vsock',
  metricsAddr: '--metrics-addr',
  dcap: '--tdx-library/--qpl-library/--dev-root',
  timeoutMs: '--timeout-ms',
  maxMessageBytes: '--max-message-bytes',
} as const;

/** Validates and defaults; QGS_OPTIONS_INVALID names the flag (or field) at fault. */
export function parseQgsOptions(input: unknown): QgsSettings {
  return parseOptions(qgsOptionsSchema, input ?? {}, 'QGS_OPTIONS_INVALID', QGS_FLAGS);
}
