/** MAA attestation (`POST /attest/:type`) and token-verification discovery (`/certs`, OpenID configuration). */
import { Hono, type Context } from 'hono';
import { toKubeSgxError } from '../../errors.js';
import type { ServiceDeps } from '../app.js';
import { KubeSgxError } from '../../errors.js';
import { TDX_API_VERSIONS, buildTokenClaims, parseAttestRequest, unsignedToken, verifySgxQuote } from '../attest.js';
import { readJson, requireApiVersion, type Env } from '../http.js';
import { asAttestationType, type ActivePolicy } from '../policies.js';
import { parsePolicy, policyHash } from '../policy/index.js';
import { TDX_CLAIMS, buildTdTokenClaims, verifyTdQuote } from '../tdx.js';

export function attestRoutes(deps: ServiceDeps, now: () => number): Hono<Env> {
  const app = new Hono<Env>();

  const certs = (c: Context<Env>) => c.json(deps.signer.jwks());
  app.get('/certs', certs);
  app.get('/certs/', certs);
  app.get('/.well-known/openid-configuration', (c) =>
    c.json({
      issuer: deps.signer.issuer,
      jwks_uri: deps.signer.jwksUri,
      response_types_supported: ['token', 'none'],
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['x-ms-sgx-is-debuggable', 'x-ms-sgx-mrsigner', 'x-ms-sgx-mrenclave', 'x-ms-sgx-product-id', 'x-ms-sgx-svn', 'x-ms-attestation-type', 'x-kube-sgx-tcb-status', 'x-kube-sgx-advisory-ids', 'x-kube-sgx-simulated', ...TDX_CLAIMS],
    }),
  );

  app.post('/attest/:type', requireApiVersion, async (c) => {
    const type = asAttestationType(c.req.param('type'));
    const started = performance.now();
    let tcb = 'none';
    try {
      if (type === 'TdxVm') checkTdxApiVersion(c.req.query('api-version'));
      const req = parseAttestRequest(await readJson(c), type === 'OpenEnclave' ? 'report' : 'quote');
      const policyFor = async () => (req.draftPolicy !== undefined ? draftPolicy(req.draftPolicy) : deps.policies.active(type));
      const ctx = (policy: ActivePolicy) => ({ issuer: deps.signer.issuer, now: now(), simulated: deps.simulation, policy });
      let claims: Record<string, unknown>;
      if (type === 'TdxVm') {
        const verified = await verifyTdQuote(deps.verifier, req.quote, deps.simulation);
        tcb = verified.status;
        claims = buildTdTokenClaims(req, verified, ctx(await policyFor()));
      } else {
        const verified = await verifySgxQuote(deps.verifier, req.quote, deps.simulation);
        tcb = verified.status;
        claims = buildTokenClaims(req, verified, ctx(await policyFor()));
      }
      const token = req.draftPolicy !== undefined ? unsignedToken(claims) : await deps.signer.sign(claims);
      deps.metrics.attestations.inc({ outcome: 'issued', tcb_status: tcb });
      deps.metrics.attestSeconds.observe((performance.now() - started) / 1000);
      return c.json({ token });
    } catch (e) {
      deps.metrics.attestations.inc({ outcome: toKubeSgxError(e).code, tcb_status: tcb });
      throw e;
    }
  });

  return app;
}

/** MAA serves /attest/TdxVm only from 2023-04-01-preview on. */
function checkTdxApiVersion(v: string | undefined): void {
  if (!(TDX_API_VERSIONS as readonly (string | undefined)[]).includes(v)) {
    throw new KubeSgxError('UNSUPPORTED_API_VERSION', `/attest/TdxVm is served with api-version ${TDX_API_VERSIONS.join(' or ')}, not ${JSON.stringify(v)}`, { path: ['api-version'] });
  }
}

function draftPolicy(text: string): ActivePolicy {
  const parsed = parsePolicy(text);
  return { text, parsed, hash: policyHash(text), version: -1, isDefault: false };
}
