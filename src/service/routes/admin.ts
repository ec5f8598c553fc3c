/** Signing-key administration (admin only): list keys, rotate (optionally revoking the previous ones). */
import { Hono, type MiddlewareHandler } from 'hono';
import { KubeSgxError } from '../../errors.js';
import type { ServiceDeps } from '../app.js';
import { clientOf, readOptionalJson, type Env } from '../http.js';
import { DEFAULT_KEY_ACTIVATION_DELAY_S, MAX_KEY_ACTIVATION_DELAY_S } from '../signer.js';

interface RotateRequest {
  delayS: number;
  revokePrevious: boolean;
}

/** `{"activateAfterSeconds"?: n, "revokePrevious"?: boolean}` or no body. */
function parseRotateRequest(body: unknown): RotateRequest {
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
  return { delayS, revokePrevious };
}

export function adminRoutes(deps: ServiceDeps, admin: MiddlewareHandler<Env>): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/admin/signing-keys', admin, (c) => c.json({ keys: deps.signer.describeKeys() }));
  app.post('/admin/signing-keys/rotate', admin, async (c) => {
    const { delayS, revokePrevious } = parseRotateRequest(await readOptionalJson(c));
    const k = await deps.signer.rotate(delayS * 1000, revokePrevious);
    deps.logger[revokePrevious ? 'warn' : 'info']({ kid: k.kid, activeFrom: new Date(k.activeFrom).toISOString(), revokedPrevious: revokePrevious, client: clientOf(c) }, 'signing key rotated');
    return c.json({ kid: k.kid, activeFrom: new Date(k.activeFrom).toISOString(), keys: deps.signer.describeKeys() }, 201);
  });
  return app;
}
