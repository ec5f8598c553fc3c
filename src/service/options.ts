/**
 * The attestation service's options: one schema, with every default and
 * bound, used by `kube-sgx attestation-service` and by
 * startAttestationService() / assembleAttestationService(). Rules between
 * options (one collateral source, --simulation with --platform, TLS as a
 * pair, --workers with shared state) are checked here and nowhere else.
 */
import { z } from 'zod';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { httpUrlOption, intOption, parseOptions } from '../ops/options.js';
import type { Store } from './store/types.js';
import type { AttestationVerifier } from './verifier.js';

export const ATTESTATION_SERVICE_DEFAULTS = {
  listen: '127.0.0.1:8443',
  store: 'sqlite',
  /** Requests per second per client and worker; burst twice that. */
  rateLimit: 100,
  workers: 1,
  shutdownGraceMs: 10_000,
  /** Policy and signing-key re-read intervals per store: replicas share a Kubernetes store, workers a SQLite file. */
  refreshMs: {
    kubernetes: { policies: 5_000, keys: 60_000 },
    sqlite: { policies: 1_000, keys: 10_000 },
  },
} as const;

const D = ATTESTATION_SERVICE_DEFAULTS;
const HOUR_MS = 3_600_000;
const MAX_WORKERS = 64;

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

/** PCCS, PCS, THIM, issuer. */
const httpUrl = httpUrlOption(z);

/** What the DCAP verifier trusts: its collateral source, and whether the simulator's root CA (of `platformDir`). */
export interface VerifierTrustOptions {
  collateralDir?: string | undefined;
  pccsUrl?: string | undefined;
  pcsUrl?: string | undefined;
  thimUrl?: string | undefined;
  qcnlConfigFile?: string | undefined;
  simulation?: boolean | undefined;
  platformDir?: string | undefined;
}

export interface OptionIssue {
  path: [keyof VerifierTrustOptions];
  message: string;
}

/**
 * The verifier's trust rules, here only: at most one collateral source; the
 * simulator's root CA is trusted only with --simulation and the --platform it
 * comes from, and --platform means nothing without --simulation. The options
 * schema reports these issues; createDcapVerifier refuses to build on any.
 */
export function verifierTrustIssues(o: VerifierTrustOptions, opts: { injectedVerifier?: boolean } = {}): OptionIssue[] {
  const issues: OptionIssue[] = [];
  const sources = (['collateralDir', 'pccsUrl', 'pcsUrl', 'thimUrl', 'qcnlConfigFile'] as const).filter((k) => o[k] !== undefined);
  if (sources.length > 1) {
    issues.push({ path: [sources[1]!], message: '--collateral-dir, --pccs, --pcs, --thim and --qcnl-config exclude each other: give one collateral source' });
  }
  if (opts.injectedVerifier) return issues;
  if (o.simulation && !o.platformDir) issues.push({ path: ['simulation'], message: '--simulation needs --platform DIR (the simulated platform whose root CA to trust)' });
  if (!o.simulation && o.platformDir) issues.push({ path: ['platformDir'], message: '--platform is only used with --simulation' });
  return issues;
}

export const attestationServiceOptionsSchema = z
  .object({
    /** HOST:PORT; port 0 picks a free port. */
    listen: z.string().min(1).default(D.listen),
    /** PEM text, or files that are watched and re-read when they change (cert-manager rotation). */
    tls: z
      .union([z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict(), z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict()], {
        error: '--tls-cert and --tls-key go together (a certificate and its key)',
      })
      .optional(),
    /** With TLS files: re-read them at least this often (ms), besides file-change events (default: src/ops/tls-reload.ts). */
    certPollMs: intOption(z, 10, HOUR_MS).optional(),
    /** SQLite database directory; omitted = in-memory (nothing survives a restart). */
    dataDir: z.string().min(1).optional(),
    /** 'sqlite', 'kubernetes', or a Store (tests, embedders). */
    store: z
      .custom<'sqlite' | 'kubernetes' | Store>((v) => v === 'sqlite' || v === 'kubernetes' || (isObject(v) && 'kind' in v), {
        error: (iss) => `--store must be sqlite or kubernetes, got ${JSON.stringify(iss.input)}`,
      })
      .default(D.store),
    kubernetes: z
      .object({ kubeConfig: z.custom<KubeConfig>(isObject).optional(), namespace: z.string().min(1).optional() })
      .strict()
      .optional(),
    /** Offline collateral directory (the verifier's DirectoryCollateralProvider). */
    collateralDir: z.string().min(1).optional(),
    /** PCCS base URL. */
    pccsUrl: httpUrl.optional(),
    /** Intel PCS v4 base URL; '' = Intel's own. */
    pcsUrl: z.union([z.literal(''), httpUrl]).optional(),
    /** Azure THIM base URL. */
    thimUrl: httpUrl.optional(),
    /** Intel's QCNL configuration (sgx_default_qcnl.conf) naming the PCCS: collateral from its collateral_service, else pccs_url. */
    qcnlConfigFile: z.string().min(1).optional(),
    /** Trust the simulator's root CA (from `platformDir`); tokens say x-kube-sgx-simulated: true. */
    simulation: z.boolean().optional(),
    platformDir: z.string().min(1).optional(),
    /** Replace the DCAP verifier (failure-injection tests); the composition root still owns simulation marking. */
    verifier: z.custom<AttestationVerifier>((v) => isObject(v) && typeof (v as { verify?: unknown }).verify === 'function').optional(),
    adminToken: z.string().optional(),
    adminTokenFile: z.string().min(1).optional(),
    /** PEM file of policy-management certificates: MAA's Isolated trust model (policy changes must be signed by one). */
    policySignersFile: z.string().min(1).optional(),
    kek: z.instanceof(Uint8Array).optional(),
    kekFile: z.string().min(1).optional(),
    /** External base URL clients use (token `iss`, `jku`); default derived from the listen address. */
    issuer: httpUrl.optional(),
    /** Requests per second per client (0 = off) and burst (default twice the rate). */
    rateLimit: z.object({ rate: intOption(z, 0, 1_000_000), burst: intOption(z, 1, 2_000_000).optional() }).strict().default({ rate: D.rateLimit }),
    /** Processes sharing the port and state (the CLI forks them; startAttestationService is one of them). */
    workers: intOption(z, 1, MAX_WORKERS).default(D.workers),
    logger: z.custom<Logger>(isObject).optional(),
    /** How long close() waits for in-flight requests before cutting connections. */
    shutdownGraceMs: intOption(z, 0, HOUR_MS).default(D.shutdownGraceMs),
    /** Re-read policies from the store at most this often (0 = every request); default per store in ATTESTATION_SERVICE_DEFAULTS.refreshMs. */
    policyRefreshMs: intOption(z, 0, HOUR_MS).optional(),
    /** Re-read signing keys (rotations by another replica or the CLI) this often; default per store. */
    keyRefreshMs: intOption(z, 1, HOUR_MS).optional(),
    /** The clock (tests of rotation and expiry); default Date.now. */
    now: z.custom<() => number>((v) => typeof v === 'function').optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    // An injected verifier decides trust itself: then --simulation only marks the tokens.
    for (const issue of verifierTrustIssues(o, { injectedVerifier: o.verifier !== undefined })) ctx.addIssue({ code: 'custom', ...issue });
    if (o.workers > 1 && o.store === 'sqlite' && !o.dataDir) {
      ctx.addIssue({ code: 'custom', path: ['workers'], message: '--workers > 1 needs --data-dir (or --store kubernetes): workers share state' });
    }
  });

export type AttestationServiceSettings = z.output<typeof attestationServiceOptionsSchema>;
export type AttestationServiceOptionsInput = z.input<typeof attestationServiceOptionsSchema>;

/** The CLI flag of each option, for error messages. */
export const ATTESTATION_SERVICE_FLAGS = {
  listen: '--listen',
  tls: '--tls-cert/--tls-key',
  dataDir: '--data-dir',
  store: '--store',
  kubernetes: '--namespace',
  collateralDir: '--collateral-dir',
  pccsUrl: '--pccs',
  pcsUrl: '--pcs',
  thimUrl: '--thim',
  qcnlConfigFile: '--qcnl-config',
  simulation: '--simulation',
  platformDir: '--platform',
  adminTokenFile: '--admin-token-file',
  policySignersFile: '--policy-signers',
  kekFile: '--kek-file',
  issuer: '--issuer',
  rateLimit: '--rate-limit',
  workers: '--workers',
} as const;

/** Validates and defaults; CONFIG_INVALID names the flag (or field) at fault. */
export function parseAttestationServiceOptions(input: unknown): AttestationServiceSettings {
  return parseOptions(attestationServiceOptionsSchema, input ?? {}, 'CONFIG_INVALID', ATTESTATION_SERVICE_FLAGS);
}

/** The options `rotate-key` reads: where the service keeps its state. */
export type RotateKeySettings = Pick<AttestationServiceSettings, 'store' | 'dataDir' | 'kubernetes' | 'kek' | 'kekFile'>;

/** The service's schema, plus: a SQLite store must be the service's --data-dir (a fresh in-memory store has no key to rotate). */
const rotateKeyOptionsSchema = attestationServiceOptionsSchema.superRefine((o, ctx) => {
  if (o.store === 'sqlite' && !o.dataDir) ctx.addIssue({ code: 'custom', path: ['dataDir'], message: 'rotate-key needs the service\'s --data-dir (or --store kubernetes)' });
});

/** `rotate-key`'s options, for the CLI and rotateServiceSigningKey(); CONFIG_INVALID names the flag at fault. */
export function parseRotateKeyOptions(input: unknown): RotateKeySettings {
  const { store, dataDir, kubernetes, kek, kekFile } = parseOptions(rotateKeyOptionsSchema, input ?? {}, 'CONFIG_INVALID', ATTESTATION_SERVICE_FLAGS);
  return { store, ...(dataDir !== undefined ? { dataDir } : {}), ...(kubernetes ? { kubernetes } : {}), ...(kek ? { kek } : {}), ...(kekFile !== undefined ? { kekFile } : {}) };
}
