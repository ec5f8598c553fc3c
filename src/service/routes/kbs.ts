/** Secret release after Trustee's KBS protocol (`/kbs/v0/*`) and secret administration (`/admin/secrets/*`, admin only). */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { KubeSgxError } from '../../errors.js';
import type { ServiceDeps } from '../app.js';
import { buildTokenClaims, verifySgxQuote } from '../attest.js';
import { decodeBase64Any } from '../encoding.js';
import { bearerToken, clientOf, pathRest, readJson, readOptionalJson, type Env } from '../http.js';
import {
  CHALLENGE_TTL_MS, KBS_TOKEN_LIFETIME_S, encryptToTeeKey, kbsReportData, newNonce, parseKbsAttestBody, parseTeePublicKey, type TeePublicKey,
} from '../kbs.js';
import { evaluateReleasePolicy } from '../skr.js';

export function kbsRoutes(deps: ServiceDeps, admin: MiddlewareHandler<Env>, now: () => number): Hono<Env> {
  const app = new Hono<Env>();

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
    const name = pathRest(c, '/kbs/v0/resource/');
    const token = bearerToken(c);
    if (token === undefined) throw new KubeSgxError('TOKEN_INVALID', 'resource requests need "Authorization: Bearer <token from /kbs/v0/attest>"');
    const claims = await deps.signer.verify(token);
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

  const secretName = (c: Context<Env>) => pathRest(c, '/admin/secrets/');
  app.get('/admin/secrets', admin, async (c) => c.json({ secrets: await deps.secrets.list() }));
  app.put('/admin/secrets/*', admin, async (c) => {
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
  app.get('/admin/secrets/*', admin, async (c) => c.json(await deps.secrets.metadata(secretName(c))));
  app.delete('/admin/secrets/*', admin, async (c) => {
    await deps.secrets.remove(secretName(c));
    return c.body(null, 204);
  });

  return app;
}
