/** Secret release over Trustee's KBS protocol 0.4.0 (`/kbs/v0/*`, see kbs.ts) and secret administration (`/admin/secrets/*`, admin only). */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { KubeSgxError } from '../../errors.js';
import type { ServiceDeps } from '../app.js';
import { decodeBase64 } from '../../encoding.js';
import { bearerToken, clientOf, pathRest, readJson, type Env } from '../http.js';
import {
  KBS_SESSION_TTL_MS, encryptToTeeKey, initDataDigest, kbsReportData, newNonce, newSessionId, parseKbsAttestation, parseKbsRequest, parseResourcePath,
  parseTeePublicKey, regularize, sessionCookie, sessionIdFromCookie, type KbsTee,
} from '../kbs.js';
import { verifyKbsEvidence } from '../kbs-evidence.js';
import { evaluateReleasePolicy } from '../skr.js';

/** Who a release was for, for the log: the enclave's MRENCLAVE or the TD's MRTD. */
function teeIdentity(claims: Record<string, unknown>): Record<string, unknown> {
  return claims['x-ms-attestation-type'] === 'tdxvm' ? { tee: 'tdx', mrtd: claims.tdx_mrtd } : { tee: 'sgx', mrenclave: claims['x-ms-sgx-mrenclave'] };
}

export function kbsRoutes(deps: ServiceDeps, admin: MiddlewareHandler<Env>, now: () => number): Hono<Env> {
  const app = new Hono<Env>();

  // RCAR Request → Challenge, and a session cookie naming the handshake.
  app.post('/kbs/v0/auth', async (c) => {
    const { tee } = parseKbsRequest(await readJson(c));
    const session = { id: newSessionId(), tee, nonce: newNonce(), expiresAt: now() + KBS_SESSION_TTL_MS };
    await deps.store.putKbsSession(session);
    return c.json({ nonce: session.nonce, 'extra-params': '' }, 200, { 'set-cookie': sessionCookie(session.id, session.expiresAt) });
  });

  // RCAR Attestation → token. A failed attempt changes nothing stored (the session stays as it was).
  app.post('/kbs/v0/attest', async (c) => {
    const id = sessionIdFromCookie(c.req.header('cookie'));
    if (id === undefined) throw new KubeSgxError('KBS_COOKIE_MISSING', 'cookie not found: send the kbs-session-id cookie from /kbs/v0/auth');
    const body = await readJson(c);
    const session = await liveSession(id);
    // Trustee: a session attested already answers with its token again.
    if (session.token !== undefined) return c.json({ token: session.token }, 200, { 'set-cookie': sessionCookie(session.id, session.expiresAt) });
    const att = parseKbsAttestation(body);
    if (att.nonce !== session.nonce) {
      throw new KubeSgxError('KBS_NONCE_MISMATCH', 'the nonce in the handshake session is different from runtime-data.nonce (a nonce from another session?)', { path: ['runtime-data', 'nonce'] });
    }
    if (att.additionalEvidence !== '' && att.additionalEvidence !== '{}') {
      throw new KubeSgxError('KBS_ADDITIONAL_EVIDENCE_UNSUPPORTED', 'tee-evidence.additional_evidence (device evidence) cannot be verified by kube-sgx: send ""', { path: ['tee-evidence', 'additional_evidence'] });
    }
    const quote = decodeBase64(att.quote, 'tee-evidence.primary_evidence.quote');
    const evidence = await verifyKbsEvidence(deps, session.tee as KbsTee, quote, now());
    // Hash the key exactly as sent (members the client added stay in the binding).
    if (!Buffer.from(kbsReportData(att.nonce, att.teePubkeyRaw, att.additionalEvidence)).equals(evidence.reportData)) {
      throw new KubeSgxError('REPORT_DATA_MISMATCH', 'REPORT_DATA is not SHA-384(JCS({"additional-evidence", "nonce", "tee-pubkey"})) zero-padded to 64 bytes', { path: ['tee-evidence', 'primary_evidence', 'quote'] });
    }
    const claims: Record<string, unknown> = { ...evidence.claims, nonce: att.nonce, 'tee-pubkey': att.teePubkey, 'x-kube-sgx-tee-pubkey': att.teePubkey };
    if (att.initData) {
      const { algorithm, digest } = initDataDigest(att.initData);
      if (!regularize(digest, evidence.configId.length).equals(evidence.configId)) {
        throw new KubeSgxError('INIT_DATA_MISMATCH', `the init-data digest (${algorithm}) is not the quote's ${session.tee === 'tdx' ? 'MRCONFIGID' : 'CONFIGID'}`, { path: ['init-data'] });
      }
      claims['x-kube-sgx-init-data'] = { algorithm, digest: digest.toString('hex') };
    }
    const signed = await deps.signer.sign(claims);
    // Of two concurrent attestations of one session the first recorded wins; both callers get its token.
    const token = await deps.store.attestKbsSession(session.id, signed);
    if (token === undefined) throw new KubeSgxError('KBS_SESSION_UNKNOWN', 'the KBS session ended during attestation: start again at /kbs/v0/auth');
    deps.metrics.attestations.inc({ outcome: 'issued-kbs', tcb_status: evidence.tcbStatus });
    return c.json({ token }, 200, { 'set-cookie': sessionCookie(session.id, session.expiresAt) });
  });

  /** The session named by a cookie, refused when unknown or expired. */
  async function liveSession(id: string) {
    const session = await deps.store.getKbsSession(id);
    if (!session) throw new KubeSgxError('KBS_SESSION_UNKNOWN', 'session not found: start again at /kbs/v0/auth');
    if (session.expiresAt < now()) throw new KubeSgxError('KBS_SESSION_EXPIRED', 'session expired: start again at /kbs/v0/auth');
    return session;
  }

  /** The attestation token: the cookie's session (once attested), else the Bearer token. */
  async function resourceToken(c: Context<Env>): Promise<string> {
    const id = sessionIdFromCookie(c.req.header('cookie'));
    const bearer = bearerToken(c);
    if (id !== undefined) {
      try {
        const session = await liveSession(id);
        if (session.token !== undefined) return session.token;
        if (bearer === undefined) throw new KubeSgxError('KBS_SESSION_NOT_ATTESTED', 'the session is not attested yet: POST /kbs/v0/attest first');
      } catch (e) {
        if (bearer === undefined) throw e;
      }
    }
    if (bearer === undefined) throw new KubeSgxError('TOKEN_NOT_FOUND', 'Attestation Token not found: send the kbs-session-id cookie of an attested session or "Authorization: Bearer <token from /kbs/v0/attest>"');
    return bearer;
  }

  app.get('/kbs/v0/resource/*', async (c) => {
    const name = parseResourcePath(pathRest(c, '/kbs/v0/resource/'));
    const claims = await deps.signer.verify(await resourceToken(c));
    const teePubkey = Object.hasOwn(claims, 'tee-pubkey') ? claims['tee-pubkey'] : claims['x-kube-sgx-tee-pubkey'];
    if (teePubkey === undefined) throw new KubeSgxError('TOKEN_INVALID', 'the token carries no tee-pubkey: obtain one from /kbs/v0/attest');
    const key = parseTeePublicKey(teePubkey);
    const { value, policy } = await deps.secrets.forRelease(name);
    if (!evaluateReleasePolicy(policy, claims)) {
      deps.metrics.releases.inc({ outcome: 'denied' });
      deps.logger.info({ secret: name, ...teeIdentity(claims), client: clientOf(c) }, 'secret release denied');
      throw new KubeSgxError('SECRET_RELEASE_DENIED', `Access denied by policy: the release policy of ${JSON.stringify(name)} does not admit this TEE`, { path: ['resource'] });
    }
    const jwe = encryptToTeeKey(value, key);
    deps.metrics.releases.inc({ outcome: 'released' });
    deps.logger.info({ secret: name, ...teeIdentity(claims), client: clientOf(c) }, 'secret released');
    return c.json(jwe);
  });

  const secretName = (c: Context<Env>) => pathRest(c, '/admin/secrets/');
  app.get('/admin/secrets', admin, async (c) => c.json({ secrets: await deps.secrets.list() }));
  app.put('/admin/secrets/*', admin, async (c) => {
    const name = secretName(c);
    const body = (await readJson(c)) as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KubeSgxError('INVALID_REQUEST', 'body must be {value | valueText, releasePolicy}');
    let value: Uint8Array;
    if (typeof body.valueText === 'string' && body.value === undefined) value = new Uint8Array(Buffer.from(body.valueText, 'utf8'));
    else value = decodeBase64(body.value, 'value');
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
