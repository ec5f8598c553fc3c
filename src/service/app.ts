/**
 * The HTTP surface (hono): common middleware (access log + metrics, ops
 * endpoints, rate limit, body-size cap) in front of four sub-apps joined with
 * `route()` — attest (routes/attest.ts), policies (routes/policies.ts),
 * KBS/secrets (routes/kbs.ts) and admin (routes/admin.ts). Admin routes take
 * the bearer-token check as middleware. Every failure is a KubeSgxError
 * rendered once, by http.ts `renderError`. Built from explicit dependencies
 * so tests drive it with `app.request()`.
 */
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { KubeSgxError } from '../errors.js';
import { HEALTH_PATHS, healthReply, type HealthSource } from '../ops/health.js';
import { MAX_BODY_BYTES, adminAuth, clientOf, discardUnreadBody, renderError, renderServiceError, tooLarge, type Env } from './http.js';
import type { ServiceMetrics } from './metrics.js';
import type { PolicyService, PolicyTrust } from './policies.js';
import type { RateLimiter } from './ratelimit.js';
import { adminRoutes } from './routes/admin.js';
import { attestRoutes } from './routes/attest.js';
import { kbsRoutes } from './routes/kbs.js';
import { policyRoutes } from './routes/policies.js';
import type { SecretService } from './secrets.js';
import type { TokenSigner } from './signer.js';
import type { Store } from './store/types.js';
import type { AttestationVerifier } from './verifier.js';

export { MAX_BODY_BYTES } from './http.js';

export interface ServiceDeps {
  verifier: AttestationVerifier;
  signer: TokenSigner;
  policies: PolicyService;
  secrets: SecretService;
  store: Store;
  /** True when the verifier trusts the simulator's root: every token says so. */
  simulation: boolean;
  /** Admin bearer token; undefined = admin API refuses everything (never open). */
  adminToken: string | undefined;
  /** Who may change policies besides the admin (MAA's AAD or Isolated model); default AAD. */
  policyTrust?: PolicyTrust;
  rateLimiter: RateLimiter;
  metrics: ServiceMetrics;
  logger: Logger;
  ready: () => { ready: boolean; reason?: string };
  status: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  now?: () => number;
}

export function createServiceApp(deps: ServiceDeps): Hono<Env> {
  const app = new Hono<Env>();
  const now = deps.now ?? Date.now;
  const admin = adminAuth(deps.adminToken, deps.logger, now);

  app.onError(renderError(deps.logger));
  app.notFound((c) => renderServiceError(c, new KubeSgxError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)));

  // Access log + metrics; never logs bodies, headers or query strings.
  app.use('*', async (c, next) => {
    const started = performance.now();
    deps.metrics.inFlight.inc();
    try {
      await next();
    } finally {
      discardUnreadBody(c);
      deps.metrics.inFlight.dec();
      const status = c.res.status;
      const route = c.req.routePath || 'unmatched';
      deps.metrics.requests.inc({ route, status: String(status) });
      const entry = { method: c.req.method, path: c.req.path, status, ms: Math.round((performance.now() - started) * 100) / 100, client: clientOf(c) };
      // 499: the client went away mid-request; nothing for an operator to act on.
      if (status === 499) deps.logger.debug(entry, 'request');
      else if (status >= 500) deps.logger.error(entry, 'request');
      else if (status >= 400) deps.logger.info(entry, 'request');
      else deps.logger.debug(entry, 'request');
    }
  });

  // Ops endpoints are exempt from the rate limit (probes must not be starved).
  const health: HealthSource = { registry: deps.metrics.registry, ready: deps.ready, status: deps.status };
  for (const path of HEALTH_PATHS) {
    app.get(path, async (c) => {
      const r = (await healthReply(path, health))!;
      return c.body(r.body, r.status as 200, { 'content-type': r.contentType });
    });
  }

  app.use('*', async (c, next) => {
    const wait = deps.rateLimiter.take(clientOf(c), now());
    if (wait > 0) {
      deps.metrics.rateLimited.inc();
      throw new KubeSgxError('RATE_LIMITED', `too many requests from this client; retry in ${wait}s`, { details: { retryAfter: wait } });
    }
    await next();
  });
  // A declared oversize body is refused before it is read; chunked bodies are capped while read (http.ts readText).
  app.use('*', async (c, next) => {
    const declared = c.req.header('content-length');
    if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
    await next();
  });

  app.route('/', attestRoutes(deps, now));
  app.route('/', policyRoutes(deps, admin, now));
  app.route('/', kbsRoutes(deps, admin, now));
  app.route('/', adminRoutes(deps, admin));
  return app;
}
