/** MAA policy management (admin only): read, list versions, set, reset, policy-management certificates. */
import { Hono, type MiddlewareHandler } from 'hono';
import { KubeSgxError } from '../../errors.js';
import type { ServiceDeps } from '../app.js';
import { clientOf, readText, requireApiVersion, type Env } from '../http.js';
import { asAttestationType, policyTokenHash, readPolicyUpload, storedPolicyJws } from '../policies.js';

const POLICY_TOKEN_LIFETIME_S = 3600;

export function policyRoutes(deps: ServiceDeps, admin: MiddlewareHandler<Env>, now: () => number): Hono<Env> {
  const app = new Hono<Env>();
  const resultToken = async (claims: Record<string, unknown>) => {
    const iat = Math.floor(now() / 1000);
    return deps.signer.sign({ ...claims, iss: deps.signer.issuer, iat, nbf: iat, exp: iat + POLICY_TOKEN_LIFETIME_S });
  };

  app.get('/policies/:type', requireApiVersion, admin, async (c) => {
    const p = await deps.policies.active(asAttestationType(c.req.param('type')));
    return c.json({ token: await resultToken({ 'x-ms-policy': storedPolicyJws(p.text), 'x-kube-sgx-policy-version': p.version, 'x-kube-sgx-policy-hash': p.hash }) });
  });
  // MAA's policy-management certificates (read-only here: they come from --policy-signers).
  app.get('/certificates', requireApiVersion, admin, async (c) => {
    const signers = deps.policyTrust?.model === 'Isolated' ? deps.policyTrust.signers : [];
    return c.json({ token: await resultToken({ 'x-ms-policy-certificates': { keys: signers.map((s) => ({ kty: s.publicKey.asymmetricKeyType === 'ec' ? 'EC' : 'RSA', x5c: [s.raw.toString('base64')] })) } }) });
  });
  app.get('/policies/:type/versions', admin, async (c) => {
    return c.json({ versions: await deps.policies.versions(asAttestationType(c.req.param('type'))) });
  });
  app.put('/policies/:type', requireApiVersion, admin, async (c) => {
    const type = asAttestationType(c.req.param('type'));
    const upload = readPolicyUpload(await readText(c), true, deps.policyTrust);
    const p = await deps.policies.set(type, upload.text!);
    deps.logger.info({ attestationType: type, version: p.version, hash: p.hash, client: clientOf(c) }, 'policy updated');
    return c.json({
      token: await resultToken({
        'x-ms-policy-result': 'Updated',
        'x-ms-policy-token-hash': policyTokenHash(upload.jws),
        ...(upload.signer ? { 'x-ms-policy-signer': upload.signer } : {}),
        'x-ms-policy': storedPolicyJws(p.text),
        'x-kube-sgx-policy-version': p.version,
        'x-kube-sgx-policy-hash': p.hash,
      }),
    });
  });
  // MAA's `POST /policies/{type}:reset`; any other `:op` is an unknown route (checked before auth, as before the split).
  const resetOnly: MiddlewareHandler<Env> = async (c, next) => {
    if (c.req.param('spec')?.split(':')[1] !== 'reset') throw new KubeSgxError('NOT_FOUND', `no route for POST ${c.req.path}`);
    await next();
  };
  app.post('/policies/:spec', resetOnly, requireApiVersion, admin, async (c) => {
    const type = asAttestationType(c.req.param('spec').split(':')[0] ?? '');
    const upload = readPolicyUpload(await readText(c), false, deps.policyTrust);
    const p = await deps.policies.reset(type);
    deps.logger.info({ attestationType: type, version: p.version, client: clientOf(c) }, 'policy reset to default');
    return c.json({
      token: await resultToken({
        'x-ms-policy-result': 'Removed',
        'x-ms-policy-token-hash': policyTokenHash(upload.jws),
        'x-kube-sgx-policy-version': p.version,
        'x-kube-sgx-policy-hash': p.hash,
      }),
    });
  });

  return app;
}
