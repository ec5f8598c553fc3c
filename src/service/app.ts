/**
 * The HTTP surface (hono). Handlers are thin: validate, call the pipeline,
 * render. Every failure is a KubeSgxError rendered once, in `onError`, as
 * RFC 7807 problem+json (with MAA's `error: {code, message}` alongside).
 * Built from explicit dependencies so tests drive it with `app.request()`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { KubeSgxError, toKubeSgxError } from '../errors.js';
import {
  buildTokenClaims, checkApiVersion, parseAttestRequest, unsignedToken, verifySgxQuote,
} from './attest.js';
import { decodeBase64Any } from './encoding.js';
import {
  CHALLENGE_TTL_MS, KBS_TOKEN_LIFETIME_S, encryptToTeeKey, kbsReportData, newNonce, parseKbsAttestBody, parseTeePublicKey, type TeePublicKey,
} from './kbs.js';
import type { ServiceMetrics } from './metrics.js';
import { asAttestationType, readPolicyUpload, storedPolicyJws, policyTokenHash, type PolicyService, type PolicyTrust } from './policies.js';
import { parsePolicy, policyHash } from './policy/index.js';
import { toProblem } from './problems.js';
import type { RateLimiter } from './ratelimit.js';
import type { SecretService } from './secrets.js';
import { DEFAULT_KEY_ACTIVATION_DELAY_S, MAX_KEY_ACTIVATION_DELAY_S, type TokenSigner } from './signer.js';
import { evaluateReleasePolicy } from './skr.js';
import type { Store } from './store/types.js';
import type { AttestationVerifier } from './verifier.js';

export const MAX_BODY_BYTES = 1024 * 1024;
const POLICY_TOKEN_LIFETIME_S = 3600;

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

type Env = { Bindings: { incoming?: { socket?: { remoteAddress?: string } } & Partial<AsyncIterable<Buffer>> } };

function clientOf(c: Context<Env>): string {
  return c.env?.incoming?.socket?.remoteAddress ?? 'local';
}

/**
 * The body as text, capped at MAX_BODY_BYTES whether or not it came with a
 * Content-Length. Under @hono/node-server it is read straight from Node's
 * request stream: touching `c.req.raw.body` (as hono's bodyLimit does) makes
 * the adapter build a full Web Request with an AbortSignal per request, whose
 * weak references outlive young-generation GCs; at 500 attestations/s that
 * promoted 13 KB per request to the old generation and made scavenges slow.
 */
async function readText(c: Context<Env>): Promise<string> {
  const incoming = c.env?.incoming as (AsyncIterable<Buffer> & { readableEnded?: boolean }) | undefined;
  if (!incoming || typeof incoming[Symbol.asyncIterator] !== 'function' || incoming.readableEnded) {
    // In-process (app.request): the body is already in memory.
    const text = await c.req.text();
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw tooLarge();
    return text;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(): KubeSgxError {
  return new KubeSgxError('PAYLOAD_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
}

async function readJson(c: Context<Env>): Promise<unknown> {
  const body = await readOptionalJson(c);
  if (body === undefined) throw new KubeSgxError('INVALID_JSON', 'the request body is empty (expected JSON)');
  return body;
}

/** The JSON body, or undefined when the body is empty (endpoints whose body is optional). */
async function readOptionalJson(c: Context<Env>): Promise<unknown> {
  const text = await readText(c);
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new KubeSgxError('INVALID_JSON', `the request body is not JSON: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * RFC 7807 problem+json, unless the client accepts only plain JSON (the
 * Azure SDK sends `Accept: application/json` and parses only that type):
 * then the same document as application/json, so MAA clients see our code.
 */
function problemMediaType(accept: string | undefined): string {
  if (!accept || /application\/problem\+json|\*\/\*/.test(accept)) return 'application/problem+json';
  return /application\/json/.test(accept) ? 'application/json' : 'application/problem+json';
}

function problemResponse(c: Context<Env>, err: KubeSgxError, extraHeaders: Record<string, string> = {}): Response {
  const doc = toProblem(err);
  return c.body(JSON.stringify(doc), doc.status as 400, { 'content-type': problemMediaType(c.req.header('accept')), ...extraHeaders });
}

export function createServiceApp(deps: ServiceDeps): Hono<Env> {
  const app = new Hono<Env>();
  const now = deps.now ?? Date.now;
  const adminDigest = deps.adminToken ? createHash('sha256').update(deps.adminToken).digest() : undefined;
  let adminAttemptLogged = 0;

  const requireAdmin = (c: Context<Env>) => {
    const h = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!adminDigest) throw new KubeSgxError('UNAUTHORIZED', 'the admin API is disabled: start the service with --admin-token-file');
    if (!m) throw new KubeSgxError('UNAUTHORIZED', 'admin endpoints need "Authorization: Bearer <admin token>"');
    const given = createHash('sha256').update(m[1]!).digest();
    if (!timingSafeEqual(given, adminDigest)) {
      // Log the attempt (never the token), at most once a second.
      if (now() - adminAttemptLogged > 1000) {
        adminAttemptLogged = now();
        deps.logger.warn({ client: clientOf(c), path: c.req.path }, 'admin request with a wrong bearer token');
      }
      throw new KubeSgxError('UNAUTHORIZED', 'the admin bearer token is not valid');
    }
  };

  app.onError((e, c) => {
    const err = toKubeSgxError(e);
    if (err.code === 'INTERNAL') deps.logger.error({ err: { message: err.message, stack: (e as Error).stack }, path: c.req.path }, 'internal error');
    const headers: Record<string, string> = {};
    if (err.code === 'RATE_LIMITED' && typeof err.details?.retryAfter === 'number') headers['retry-after'] = String(err.details.retryAfter);
    if (err.code === 'UNAUTHORIZED' || err.code === 'TOKEN_INVALID') headers['www-authenticate'] = 'Bearer';
    return problemResponse(c, err, headers);
  });
  app.notFound((c) => problemResponse(c, new KubeSgxError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)));

  // Access log + metrics; never logs bodies, headers or query strings.
  app.use('*', async (c, next) => {
    const started = performance.now();
    deps.metrics.inFlight.inc();
    try {
      await next();
    } finally {
      deps.metrics.inFlight.dec();
      const status = c.res.status;
      const route = c.req.routePath || 'unmatched';
      deps.metrics.requests.inc({ route, status: String(status) });
      const entry = { method: c.req.method, path: c.req.path, status, ms: Math.round((performance.now() - started) * 100) / 100, client: clientOf(c) };
      if (status >= 500) deps.logger.error(entry, 'request');
      else if (status >= 400) deps.logger.info(entry, 'request');
      else deps.logger.debug(entry, 'request');
    }
  });

  // Ops endpoints are exempt from the rate limit (probes must not be starved).
  app.get('/healthz', (c) => c.text('ok\n'));
  app.get('/readyz', (c) => {
    const r = deps.ready();
    return c.text(r.ready ? 'ready\n' : `not ready${r.reason ? `: ${r.reason}` : ''}\n`, r.ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }));
  app.get('/status', async (c) => c.json(await deps.status()));

  app.use('*', async (c, next) => {
    const wait = deps.rateLimiter.take(clientOf(c), now());
    if (wait > 0) {
      deps.metrics.rateLimited.inc();
      throw new KubeSgxError('RATE_LIMITED', `too many requests from this client; retry in ${wait}s`, { details: { retryAfter: wait } });
    }
    await next();
  });
  // A declared oversize body is refused before it is read; chunked bodies are capped while read (readText).
  app.use('*', async (c, next) => {
    const declared = c.req.header('content-length');
    if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
    await next();
  });

  // ---- discovery ----
  const certs = (c: Context<Env>) => c.json(deps.signer.jwks());
  app.get('/certs', certs);
  app.get('/certs/', certs);
  app.get('/.well-known/openid-configuration', (c) =>
    c.json({
      issuer: deps.signer.issuer,
      jwks_uri: deps.signer.jwksUri,
      response_types_supported: ['token', 'none'],
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['x-ms-sgx-is-debuggable', 'x-ms-sgx-mrsigner', 'x-ms-sgx-mrenclave', 'x-ms-sgx-product-id', 'x-ms-sgx-svn', 'x-ms-attestation-type', 'x-kube-sgx-tcb-status', 'x-kube-sgx-advisory-ids', 'x-kube-sgx-simulated'],
    }),
  );

  // ---- attestation (MAA) ----
  app.post('/attest/:type', async (c) => {
    checkApiVersion(c.req.query('api-version'));
    const type = asAttestationType(c.req.param('type'));
    const started = performance.now();
    let tcb = 'none';
    try {
      const req = parseAttestRequest(await readJson(c), type === 'OpenEnclave' ? 'report' : 'quote');
      const verified = await verifySgxQuote(deps.verifier, req.quote, deps.simulation);
      tcb = verified.status;
      const policy = req.draftPolicy !== undefined ? draftPolicy(req.draftPolicy) : await deps.policies.active(type);
      const claims = buildTokenClaims(req, verified, { issuer: deps.signer.issuer, now: now(), simulated: deps.simulation, policy });
      const token = req.draftPolicy !== undefined ? unsignedToken(claims) : await deps.signer.sign(claims);
      deps.metrics.attestations.inc({ outcome: 'issued', tcb_status: tcb });
      deps.metrics.attestSeconds.observe((performance.now() - started) / 1000);
      return c.json({ token });
    } catch (e) {
      deps.metrics.attestations.inc({ outcome: toKubeSgxError(e).code, tcb_status: tcb });
      throw e;
    }
  });

  // ---- policy management (MAA shapes, admin only) ----
  const policyResultToken = async (claims: Record<string, unknown>) => {
    const iat = Math.floor(now() / 1000);
    return deps.signer.sign({ ...claims, iss: deps.signer.issuer, iat, nbf: iat, exp: iat + POLICY_TOKEN_LIFETIME_S });
  };
  app.get('/policies/:type', async (c) => {
    checkApiVersion(c.req.query('api-version'));
    requireAdmin(c);
    const p = await deps.policies.active(asAttestationType(c.req.param('type')));
    return c.json({ token: await policyResultToken({ 'x-ms-policy': storedPolicyJws(p.text), 'x-kube-sgx-policy-version': p.version, 'x-kube-sgx-policy-hash': p.hash }) });
  });
  // MAA's policy-management certificates (read-only here: they come from --policy-signers).
  app.get('/certificates', async (c) => {
    checkApiVersion(c.req.query('api-version'));
    requireAdmin(c);
    const signers = deps.policyTrust?.model === 'Isolated' ? deps.policyTrust.signers : [];
    return c.json({ token: await policyResultToken({ 'x-ms-policy-certificates': { keys: signers.map((s) => ({ kty: s.publicKey.asymmetricKeyType === 'ec' ? 'EC' : 'RSA', x5c: [s.raw.toString('base64')] })) } }) });
  });
  app.get('/policies/:type/versions', async (c) => {
    requireAdmin(c);
    return c.json({ versions: await deps.policies.versions(asAttestationType(c.req.param('type'))) });
  });
  app.put('/policies/:type', async (c) => {
    checkApiVersion(c.req.query('api-version'));
    requireAdmin(c);
    const type = asAttestationType(c.req.param('type'));
    const upload = readPolicyUpload(await readText(c), true, deps.policyTrust);
    const p = await deps.policies.set(type, upload.text!);
    deps.logger.info({ attestationType: type, version: p.version, hash: p.hash, client: clientOf(c) }, 'policy updated');
    return c.json({
      token: await policyResultToken({
        'x-ms-policy-result': 'Updated',
        'x-ms-policy-token-hash': policyTokenHash(upload.jws),
        ...(upload.signer ? { 'x-ms-policy-signer': upload.signer } : {}),
        'x-ms-policy': storedPolicyJws(p.text),
        'x-kube-sgx-policy-version': p.version,
        'x-kube-sgx-policy-hash': p.hash,
      }),
    });
  });
  app.post('/policies/:spec', async (c) => {
    const [typeName, op] = c.req.param('spec').split(':');
    if (op !== 'reset') throw new KubeSgxError('NOT_FOUND', `no route for POST ${c.req.path}`);
    checkApiVersion(c.req.query('api-version'));
    requireAdmin(c);
    const type = asAttestationType(typeName ?? '');
    const upload = readPolicyUpload(await readText(c), false, deps.policyTrust);
    const p = await deps.policies.reset(type);
    deps.logger.info({ attestationType: type, version: p.version, client: clientOf(c) }, 'policy reset to default');
    return c.json({
      token: await policyResultToken({
        'x-ms-policy-result': 'Removed',
        'x-ms-policy-token-hash': policyTokenHash(upload.jws),
        'x-kube-sgx-policy-version': p.version,
        'x-kube-sgx-policy-hash': p.hash,
      }),
    });
  });

  // ---- secret release (KBS) ----
  app.post('/kbs/v0/auth', async (c) => {
    const tee = ((await readOptionalJson(c)) as { tee?: unknown } | null | undefined)?.tee;
    if (tee !== undefined && tee !== 'sgx') throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `tee ${JSON.stringify(tee)} is not supported (sgx)`, { path: ['tee'] });
    const nonce = newNonce();
    const expiresAt = now() + CHALLENGE_TTL_MS;
    await deps.store.putChallenge(nonce, expiresAt);
    return c.json({ nonce, 'extra-params': '', expiresAt: new Date(expiresAt).toISOString() });
  });

  app.post('/kbs/v0/attest', async (c) => {
    const body = parseKbsAttestBody(await readJson(c));
    const quote = decodeBase64Any(body.quote, 'tee-evidence.quote');
    const teePubkey = await parseTeePublicKey(body.teePubkey);
    // Consume first: a nonce is good for one attempt, whatever its outcome.
    const outcome = await deps.store.consumeChallenge(body.nonce, now());
    if (outcome === 'unknown') throw new KubeSgxError('NONCE_UNKNOWN', 'runtime-data.nonce was not issued by this service', { path: ['runtime-data', 'nonce'] });
    if (outcome === 'used') throw new KubeSgxError('NONCE_REPLAYED', 'runtime-data.nonce was already used', { path: ['runtime-data', 'nonce'] });
    if (outcome === 'expired') throw new KubeSgxError('NONCE_EXPIRED', 'runtime-data.nonce has expired: request a new challenge', { path: ['runtime-data', 'nonce'] });
    const verified = await verifySgxQuote(deps.verifier, quote, deps.simulation);
    // Hash the key exactly as sent (members the client added stay in the binding).
    const expected = Buffer.from(kbsReportData(body.nonce, body.teePubkey as TeePublicKey, body.additionalEvidence));
    if (!expected.equals(Buffer.from(verified.enclave.reportData, 'hex'))) {
      throw new KubeSgxError('REPORT_DATA_MISMATCH', 'the quote\'s report data is not SHA-384(JCS({additional-evidence, nonce, tee-pubkey})) zero-padded to 64 bytes', { path: ['tee-evidence', 'quote'] });
    }
    const policy = await deps.policies.active('SgxEnclave');
    const claims = buildTokenClaims({ quote }, verified, { issuer: deps.signer.issuer, now: now(), simulated: deps.simulation, policy, lifetimeS: KBS_TOKEN_LIFETIME_S });
    const token = await deps.signer.sign({ ...claims, nonce: body.nonce, 'x-kube-sgx-tee-pubkey': teePubkey });
    deps.metrics.attestations.inc({ outcome: 'issued-kbs', tcb_status: verified.status });
    return c.json({ token });
  });

  app.get('/kbs/v0/resource/*', async (c) => {
    const name = decodeURIComponent(c.req.path.slice('/kbs/v0/resource/'.length));
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (!m) throw new KubeSgxError('TOKEN_INVALID', 'resource requests need "Authorization: Bearer <token from /kbs/v0/attest>"');
    const claims = await deps.signer.verify(m[1]!);
    const teePubkey = claims['x-kube-sgx-tee-pubkey'];
    if (teePubkey === undefined) throw new KubeSgxError('TOKEN_INVALID', 'the token carries no enclave key (x-kube-sgx-tee-pubkey): obtain one from /kbs/v0/attest');
    const key = await parseTeePublicKey(teePubkey);
    const { value, policy } = await deps.secrets.forRelease(name);
    if (!evaluateReleasePolicy(policy, claims)) {
      deps.metrics.releases.inc({ outcome: 'denied' });
      deps.logger.info({ secret: name, mrenclave: claims['x-ms-sgx-mrenclave'], client: clientOf(c) }, 'secret release denied');
      throw new KubeSgxError('SECRET_RELEASE_DENIED', `the release policy of ${JSON.stringify(name)} does not admit this enclave`, { path: ['name'] });
    }
    const jwe = await encryptToTeeKey(value, key);
    deps.metrics.releases.inc({ outcome: 'released' });
    deps.logger.info({ secret: name, mrenclave: claims['x-ms-sgx-mrenclave'], client: clientOf(c) }, 'secret released');
    return c.body(JSON.stringify(jwe), 200, { 'content-type': 'application/jose+json' });
  });

  // ---- signing keys (admin) ----
  app.get('/admin/signing-keys', (c) => {
    requireAdmin(c);
    return c.json({ keys: deps.signer.describeKeys() });
  });
  app.post('/admin/signing-keys/rotate', async (c) => {
    requireAdmin(c);
    const body = await readOptionalJson(c);
    let delayS = DEFAULT_KEY_ACTIVATION_DELAY_S;
    let revokePrevious = false;
    if (body !== undefined) {
      const v = (body as { activateAfterSeconds?: unknown } | null)?.activateAfterSeconds;
      const r = (body as { revokePrevious?: unknown } | null)?.revokePrevious;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KubeSgxError('INVALID_REQUEST', 'body must be {"activateAfterSeconds"?: n, "revokePrevious"?: boolean} or empty');
      if (r !== undefined && typeof r !== 'boolean') throw new KubeSgxError('INVALID_REQUEST', 'revokePrevious must be true or false', { path: ['revokePrevious'] });
      revokePrevious = r === true;
      // Revoking withdraws the old keys at once, so the new one signs at once unless a delay is asked for (refused then).
      if (revokePrevious) delayS = 0;
      if (v !== undefined) {
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_KEY_ACTIVATION_DELAY_S) {
          throw new KubeSgxError('INVALID_REQUEST', `activateAfterSeconds must be a whole number from 0 to ${MAX_KEY_ACTIVATION_DELAY_S}`, { path: ['activateAfterSeconds'] });
        }
        delayS = v;
      }
    }
    if (revokePrevious && delayS !== 0) throw new KubeSgxError('INVALID_REQUEST', 'revokePrevious withdraws the old keys at once, so the new key must sign at once: omit activateAfterSeconds or give 0', { path: ['activateAfterSeconds'] });
    const k = await deps.signer.rotate(delayS * 1000, revokePrevious);
    deps.logger[revokePrevious ? 'warn' : 'info']({ kid: k.kid, activeFrom: new Date(k.activeFrom).toISOString(), revokedPrevious: revokePrevious, client: clientOf(c) }, 'signing key rotated');
    return c.json({ kid: k.kid, activeFrom: new Date(k.activeFrom).toISOString(), keys: deps.signer.describeKeys() }, 201);
  });

  // ---- secret administration ----
  const secretName = (c: Context<Env>) => decodeURIComponent(c.req.path.slice('/admin/secrets/'.length));
  app.get('/admin/secrets', async (c) => {
    requireAdmin(c);
    return c.json({ secrets: await deps.secrets.list() });
  });
  app.put('/admin/secrets/*', async (c) => {
    requireAdmin(c);
    const name = secretName(c);
    const body = (await readJson(c)) as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KubeSgxError('INVALID_REQUEST', 'body must be {value | valueText, releasePolicy}');
    let value: Uint8Array;
    if (typeof body.valueText === 'string' && body.value === undefined) value = new Uint8Array(Buffer.from(body.valueText, 'utf8'));
    else value = decodeBase64Any(body.value, 'value');
    if (body.releasePolicy === undefined) throw new KubeSgxError('RELEASE_POLICY_INVALID', 'releasePolicy is required', { path: ['releasePolicy'] });
    const { created, meta } = await deps.secrets.register(name, value, body.releasePolicy);
    deps.logger.info({ secret: name, created, client: clientOf(c) }, 'secret registered');
    return c.json(meta, created ? 201 : 200);
  });
  app.get('/admin/secrets/*', async (c) => {
    requireAdmin(c);
    return c.json(await deps.secrets.metadata(secretName(c)));
  });
  app.delete('/admin/secrets/*', async (c) => {
    requireAdmin(c);
    await deps.secrets.remove(secretName(c));
    return c.body(null, 204);
  });

  return app;
}

function draftPolicy(text: string) {
  const parsed = parsePolicy(text);
  return { text, parsed, hash: policyHash(text), version: -1, isDefault: false };
}
