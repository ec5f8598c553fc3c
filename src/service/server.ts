/**
 * Composition root: picks the store, KEK, verifier (trust anchors and
 * collateral source), signer and limits from the options, then serves the
 * app over HTTP or HTTPS with graceful shutdown. The only place where
 * implementations are chosen.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import { KubeSgxError } from '../errors.js';
import { createLogger, silentLogger } from '../ops/log.js';
import { listen } from '../ops/listen.js';
import { loadCertificateFiles, type CertificateFiles, type CertificatePair } from '../ops/tls-reload.js';
import { createServiceApp, type ServiceDeps } from './app.js';
import { adapterErrorResponse } from './http.js';
import { createDcapVerifier, type DcapVerifierOptions } from './dcap-verifier.js';
import { ServiceMetrics } from './metrics.js';
import { ATTESTATION_SERVICE_DEFAULTS, parseAttestationServiceOptions, parseRotateKeyOptions, type AttestationServiceOptionsInput } from './options.js';
import { declaredProperties } from './policy/index.js';
import { ATTESTATION_TYPES, PolicyService, parsePolicySigners, type PolicyTrust } from './policies.js';
import { RateLimiter } from './ratelimit.js';
import { SecretService } from './secrets.js';
import { TokenSigner, rotateSigningKey } from './signer.js';
import { SqliteStore } from './store/sqlite.js';
import type { Store } from './store/types.js';
import { Vault, loadKek } from './vault.js';

/** startAttestationService's options: the input of attestationServiceOptionsSchema (src/service/options.ts). */
export type AttestationServiceOptions = AttestationServiceOptionsInput;

export interface RunningAttestationService {
  url: string;
  issuer: string;
  kids: string[];
  store: Store;
  /** Re-reads --tls-cert/--tls-key now (they are also watched); true when a new pair was installed. */
  reloadCertificates(): Promise<boolean>;
  close(): Promise<void>;
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new KubeSgxError('CONFIG_INVALID', `cannot read ${what} ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export interface AssembledService {
  app: ReturnType<typeof createServiceApp>;
  deps: ServiceDeps;
  store: Store;
  signer: TokenSigner;
  /** Marks the service as shutting down (readyz 503). */
  setShuttingDown(): void;
  /** Closes the store. */
  dispose(): Promise<void>;
}

type StateOptions = Pick<AttestationServiceOptions, 'store' | 'dataDir' | 'kubernetes' | 'kek' | 'kekFile'>;

/** The store and the KEK that seals what it keeps, as the options choose them. */
async function openState(opts: StateOptions, logger: Logger): Promise<{ store: Store; vault: Vault; kekOrigin: string; storeKind: 'sqlite' | 'kubernetes' }> {
  const storeKind = typeof opts.store === 'object' ? opts.store.kind : (opts.store ?? 'sqlite');
  // @kubernetes/client-node is large (seconds to load on a busy node): load it only when used.
  const store: Store =
    typeof opts.store === 'object'
      ? opts.store
      : storeKind === 'kubernetes'
        ? new (await import('./store/kubernetes.js')).KubernetesStore(opts.kubernetes ?? {})
        : new SqliteStore(opts.dataDir);
  try {
    const kekInfo = opts.kek
      ? { kek: opts.kek, origin: 'option' }
      : loadKek({ ...(opts.kekFile ? { kekFile: opts.kekFile } : {}), ...(storeKind === 'sqlite' && opts.dataDir ? { generatedPath: join(opts.dataDir, 'kek') } : {}) });
    if (storeKind === 'kubernetes' && kekInfo.origin === 'ephemeral') {
      throw new KubeSgxError('CONFIG_INVALID', 'the kubernetes store needs a KEK shared by all replicas: --kek-file or KUBE_SGX_KEK');
    }
    if (kekInfo.origin.startsWith('generated:')) logger.warn({ kek: kekInfo.origin }, 'KEK generated beside the data: use --kek-file or KUBE_SGX_KEK to keep it elsewhere');
    return { store, vault: new Vault(kekInfo.kek), kekOrigin: kekInfo.origin, storeKind };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/**
 * `kube-sgx attestation-service rotate-key`: adds the next signing key to the
 * service's store (which must already hold the first one, sealed under the
 * same KEK). Serving replicas publish it within their key refresh interval
 * and sign with it from `activateAfterMs` on.
 */
export async function rotateServiceSigningKey(opts: StateOptions & { logger?: Logger; now?: number }, activateAfterMs: number, revokePrevious = false): Promise<{ kid: string; activeFrom: string; keys: string[] }> {
  const { logger = silentLogger, now, ...state } = opts;
  const { store, vault } = await openState(parseRotateKeyOptions(state), logger);
  try {
    const k = await rotateSigningKey(store, vault, { activateAfterMs, revokePrevious, ...(now !== undefined ? { now } : {}) });
    return { kid: k.kid, activeFrom: new Date(k.activeFrom).toISOString(), keys: (await store.listSigningKeys()).map((x) => x.kid) };
  } finally {
    await store.close();
  }
}

/**
 * Builds everything but the listening socket: store, KEK, verifier, signer
 * and the app, for `issuer`. startAttestationService serves it; tests drive
 * it in-process with `app.request()`.
 */
export async function assembleAttestationService(input: Omit<AttestationServiceOptions, 'listen' | 'tls'>, issuer: string): Promise<AssembledService> {
  const opts = parseAttestationServiceOptions(input);
  const logger = opts.logger ?? (process.env.NODE_TEST_CONTEXT ? silentLogger : createLogger('attestation-service'));
  const adminToken = opts.adminToken ?? (opts.adminTokenFile ? readSecretFile(opts.adminTokenFile, '--admin-token-file') : process.env.KUBE_SGX_ADMIN_TOKEN);
  const policyTrust: PolicyTrust = opts.policySignersFile
    ? { model: 'Isolated', signers: parsePolicySigners(readSecretFile(opts.policySignersFile, '--policy-signers'), opts.policySignersFile) }
    : { model: 'AAD' };
  if (adminToken !== undefined && adminToken.length < 16) throw new KubeSgxError('CONFIG_INVALID', 'the admin token must be at least 16 characters');

  // ---- verifier (before the store: a bad collateral source must not leave files behind) ----
  const dcapOpts: DcapVerifierOptions = { simulation: opts.simulation === true };
  if (opts.platformDir) dcapOpts.platformDir = opts.platformDir;
  if (opts.collateralDir) dcapOpts.collateralDir = opts.collateralDir;
  if (opts.pccsUrl) dcapOpts.pccsUrl = opts.pccsUrl;
  if (opts.pcsUrl !== undefined) dcapOpts.pcsUrl = opts.pcsUrl;
  if (opts.thimUrl) dcapOpts.thimUrl = opts.thimUrl;
  if (opts.qcnlConfigFile) dcapOpts.qcnlConfigFile = opts.qcnlConfigFile;
  const verifier = opts.verifier ?? (await createDcapVerifier(dcapOpts)).verifier;

  // ---- state ----
  const { store, vault, kekOrigin, storeKind } = await openState(opts, logger);
  let signer: TokenSigner;
  try {
    signer = await TokenSigner.open(store, vault, issuer, opts.now);
  } catch (e) {
    await store.close();
    throw e;
  }
  if (!adminToken) logger.warn('no admin token configured: policy and secret administration is disabled');

  const refreshMs = ATTESTATION_SERVICE_DEFAULTS.refreshMs[storeKind];
  const metrics = new ServiceMetrics(true);
  metrics.simulation.set(opts.simulation ? 1 : 0);
  const policies = new PolicyService(store, opts.policyRefreshMs ?? refreshMs.policies);
  const secrets = new SecretService(store, vault);
  const started = Date.now();
  let shuttingDown = false;
  const rate = opts.rateLimit.rate;

  // Keys rotated elsewhere (another replica, `rotate-key`) appear here within keyRefreshMs.
  const keyRefresh = setInterval(() => {
    signer.refresh().catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'cannot re-read signing keys; keeping the ones loaded'));
  }, opts.keyRefreshMs ?? refreshMs.keys);
  keyRefresh.unref();

  const deps: ServiceDeps = {
    ...(opts.now ? { now: opts.now } : {}),
    verifier,
    signer,
    policies,
    secrets,
    store,
    simulation: opts.simulation === true,
    adminToken,
    policyTrust,
    rateLimiter: new RateLimiter(rate, opts.rateLimit.burst ?? Math.max(1, rate * 2)),
    metrics,
    logger,
    ready: () => (shuttingDown ? { ready: false, reason: 'shutting down' } : { ready: true }),
    status: async () => ({
      service: 'kube-sgx attestation-service',
      simulation: opts.simulation === true,
      issuer,
      store: store.kind,
      policyTrustModel: policyTrust.model,
      kek: kekOrigin.split(':')[0],
      signingKeys: signer.describeKeys(),
      policies: Object.fromEntries(
        await Promise.all(
          ATTESTATION_TYPES.map(async (t) => {
            const p = await policies.active(t);
            return [t, { version: p.version, hash: p.hash, isDefault: p.isDefault, language: p.parsed.version, properties: declaredProperties(p.parsed) }] as const;
          }),
        ),
      ),
      collateral: verifier.describe ? await verifier.describe() : { source: 'injected verifier' },
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
    }),
  };
  return {
    app: createServiceApp(deps),
    deps,
    store,
    signer,
    setShuttingDown: () => {
      shuttingDown = true;
    },
    dispose: () => {
      clearInterval(keyRefresh);
      return store.close();
    },
  };
}

/**
 * Creates the persistent state a set of worker processes will share (the
 * signing key, a generated KEK file) once, before they start, so they
 * never race to create different keys.
 */
export async function prepareAttestationState(opts: Omit<AttestationServiceOptions, 'listen' | 'tls'>): Promise<void> {
  const svc = await assembleAttestationService({ ...opts, simulation: false, verifier: { verify: async () => { throw new KubeSgxError('INTERNAL', 'not serving'); } } }, opts.issuer ?? 'http://localhost');
  await svc.dispose();
}

export async function startAttestationService(input: AttestationServiceOptions): Promise<RunningAttestationService> {
  const opts = parseAttestationServiceOptions(input);
  const logger = opts.logger ?? (process.env.NODE_TEST_CONTEXT ? silentLogger : createLogger('attestation-service'));
  const tlsFiles = opts.tls && 'certFile' in opts.tls ? opts.tls : undefined;
  let tls: CertificatePair | CertificateFiles | undefined;
  if (tlsFiles) {
    // cert-manager rotates the serving pair under us: follow the files, no restart.
    tls = await loadCertificateFiles({
      certFile: tlsFiles.certFile,
      keyFile: tlsFiles.keyFile,
      errorCode: 'CONFIG_INVALID',
      ...(opts.certPollMs !== undefined ? { pollMs: opts.certPollMs } : {}),
      logger,
    });
  } else if (opts.tls && 'cert' in opts.tls) {
    tls = { cert: Buffer.from(opts.tls.cert), key: Buffer.from(opts.tls.key) };
  }

  // Listen first: the issuer (token iss, jku) depends on the bound port.
  const route: { handler?: (req: Request, env: unknown) => Response | Promise<Response> } = {};
  const listening = await listen({
    address: opts.listen,
    flag: '--listen',
    handler: getRequestListener((req, env) => (route.handler ? route.handler(req, env) : new Response('starting\n', { status: 503 })), {
      errorHandler: adapterErrorResponse,
      // The app discards unread bodies itself (http.ts discardUnreadBody), with no deadline but the server's
      // requestTimeout: the adapter's own cleanup closes the connection 500 ms after the answer, and a client
      // still sending a far-oversized body then reads a reset instead of its 413.
      autoCleanupIncoming: false,
    }),
    ...(tls ? { tls } : {}),
    keepAliveTimeoutMs: 5_000,
    // Stop accepting; let in-flight requests finish; drop keep-alive connections as they go idle.
    graceMs: opts.shutdownGraceMs,
  });
  const url = listening.url;
  const issuer = (opts.issuer ?? url).replace(/\/+$/, '');

  let svc: AssembledService;
  try {
    svc = await assembleAttestationService({ ...opts, logger }, issuer);
  } catch (e) {
    await listening.close();
    throw e;
  }
  route.handler = (req, env) => svc.app.fetch(req, env as never);
  if (tls && 'watch' in tls) tls.exportMetrics(svc.deps.metrics.registry, 'kube_sgx_attestation');
  const kids = svc.signer.published.map((k) => k.kid);
  logger.info({ url, issuer, simulation: svc.deps.simulation, store: svc.store.kind, kids }, 'attestation service listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      svc.setShuttingDown();
      await listening.close();
      await svc.dispose();
      logger.info('attestation service stopped');
    })());

  return { url, issuer, kids, store: svc.store, reloadCertificates: async () => (tls && 'watch' in tls ? tls.reload() : false), close };
}
