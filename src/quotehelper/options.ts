/**
 * The quote helper's options: one schema, with every default and bound, used
 * by `kube-sgx quote-helper` and startQuoteHelper(); AesmServer takes its
 * defaults from QUOTE_HELPER_DEFAULTS.
 */
import { z } from 'zod';
import { AESMD_SOCKET_PATH } from '../names.js';
import { intOption, parseOptions } from '../ops/options.js';

export const DEFAULT_DCAP_LIBRARY = 'libsgx_dcap_ql.so.1';

export const QUOTE_HELPER_DEFAULTS = {
  socketPath: AESMD_SOCKET_PATH,
  backend: 'dcap',
  dcap: { libraryPath: DEFAULT_DCAP_LIBRARY, devRoot: '/' },
  idleTimeoutMs: 5000,
  silentTimeoutMs: 1000,
  requestTimeoutMs: 15000,
  maxFrameBytes: 64 * 1024,
  maxConnections: 1024,
  maxConnectionsPerPeer: 64,
  socketMode: 0o666,
  maxReplyPadBytes: 1024 * 1024,
} as const;

const D = QUOTE_HELPER_DEFAULTS;
const HOUR_MS = 3_600_000;

export const quoteHelperOptionsSchema = z
  .object({
    socketPath: z.string().min(1).default(D.socketPath),
    backend: z.enum(['sim', 'dcap'], { error: 'expected sim or dcap' }).default(D.backend),
    /** sim: the simulated platform directory (`kube-sgx sim init`). */
    platformDir: z.string().min(1).optional(),
    /** HOST:PORT for /metrics /healthz /readyz /status; omitted = no ops endpoint. */
    metricsAddr: z.string().min(1).optional(),
    /** dcap: the library given to dlopen and the root under which /dev/sgx_* is looked up. */
    dcap: z
      .object({
        libraryPath: z.string().min(1).default(D.dcap.libraryPath),
        devRoot: z.string().min(1).default(D.dcap.devRoot),
        /** Only for a stand-in library that needs no device nodes (tests). */
        skipDeviceCheck: z.boolean().optional(),
      })
      .strict()
      .default(D.dcap),
    idleTimeoutMs: intOption(z, 1, HOUR_MS).default(D.idleTimeoutMs),
    silentTimeoutMs: intOption(z, 1, HOUR_MS).default(D.silentTimeoutMs),
    requestTimeoutMs: intOption(z, 1, HOUR_MS).default(D.requestTimeoutMs),
    maxFrameBytes: intOption(z, 16, 16 * 1024 * 1024).default(D.maxFrameBytes),
    maxConnections: intOption(z, 1, 1_000_000).default(D.maxConnections),
    maxConnectionsPerPeer: intOption(z, 1, 1_000_000).default(D.maxConnectionsPerPeer),
    /** Default: maxConnections. */
    maxBusyConnections: intOption(z, 0, 1_000_000).optional(),
    socketMode: intOption(z, 0, 0o777).default(D.socketMode),
    maxReplyPadBytes: intOption(z, 0, 64 * 1024 * 1024).default(D.maxReplyPadBytes),
  })
  .strict();

export type QuoteHelperSettings = z.output<typeof quoteHelperOptionsSchema>;
export type QuoteHelperSettingsInput = z.input<typeof quoteHelperOptionsSchema>;

/** The CLI flag of each option, for error messages. */
export const QUOTE_HELPER_FLAGS = {
  socketPath: '--socket',
  backend: '--backend',
  platformDir: '--platform',
  metricsAddr: '--metrics-addr',
  dcap: '--dcap-library/--dev-root',
  idleTimeoutMs: '--idle-timeout-ms',
  requestTimeoutMs: '--request-timeout-ms',
  maxFrameBytes: '--max-frame-bytes',
} as const;

/** Validates and defaults; QUOTE_HELPER_OPTIONS_INVALID names the flag (or field) at fault. */
export function parseQuoteHelperOptions(input: unknown): QuoteHelperSettings {
  return parseOptions(quoteHelperOptionsSchema, input ?? {}, 'QUOTE_HELPER_OPTIONS_INVALID', QUOTE_HELPER_FLAGS);
}
