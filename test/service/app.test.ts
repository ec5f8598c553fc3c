/**
 * The HTTP surface in-process (`app.request()`), with the real DCAP verifier
 * on real Intel quotes and collateral (a fixed time inside their window).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader, decodeJwt } from 'jose';
import { X509Certificate } from 'node:crypto';
import { assembleAttestationService, type AssembledService } from '../../src/service/server.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { MAX_BODY_BYTES } from '../../src/service/http.js';
import { policyHash, DEFAULT_SGX_POLICY } from '../../src/service/policy/index.js';
import { ADMIN_TOKEN, INTEL_SAMPLE_TIME, INTEL_SGX_QUOTE, INTEL_TDX_QUOTE, PERMIT_CONFIG_NEEDED, b64u, intelCollateralDir, policyJws, tempDir } from './helpers.js';

const ISSUER = 'https://attest.test';
const tmp = tempDir('kube-sgx-app-');
let svc: AssembledService;
let staleSvc: AssembledService;

interface Problem {
  type: string;
  status: number;
  code: string;
  detail: string;
  details?: Record<string, unknown>;
  error: { code: string; message: string };
}

async function call(s: AssembledService, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await s.app.request(path, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json: json as Record<string, unknown> };
}

async function expectProblem(p: Promise<{ status: number; headers: Headers; json: Record<string, unknown> }>, status: number, code: string): Promise<Problem> {
  const r = await p;
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  const doc = r.json as unknown as Problem;
  assert.equal(doc.code, code);
  assert.equal(doc.type, `https://kube-sgx.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`);
  assert.equal(doc.status, status);
  assert.deepEqual(doc.error, { code, message: doc.detail });
  return doc;
}

const attest = (s: AssembledService, body: unknown, version = '2022-08-01') => call(s, 'POST', `/attest/SgxEnclave?api-version=${version}`, body);
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

before(async () => {
  const collateralDir = intelCollateralDir(tmp.dir);
  const { verifier } = await createDcapVerifier({ simulation: false, collateralDir, now: () => INTEL_SAMPLE_TIME });
  svc = await assembleAttestationService({ verifier, adminToken: ADMIN_TOKEN, rateLimit: { rate: 0 } }, ISSUER);
  // Same verifier setup at the real current time: the sample collateral is long stale.
  const stale = await createDcapVerifier({ simulation: false, collateralDir });
  staleSvc = await assembleAttestationService({ verifier: stale.verifier, rateLimit: { rate: 0 } }, ISSUER);
});
after(async () => {
  await svc.dispose();
  await staleSvc.dispose();
  tmp.cleanup();
});

describe('attestation service HTTP API (real Intel quote, real verifier)', () => {
  test('GET /certs: JWKS whose x5c certificate holds the signing key', async () => {
    for (const path of ['/certs', '/certs/']) {
      const r = await call(svc, 'GET', path);
      assert.equal(r.status, 200);
      const keys = (r.json as { keys: Array<{ kid: string; kty: string; x5c: string[]; n: string }> }).keys;
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.kty, 'RSA');
      const cert = new X509Certificate(Buffer.from(keys[0]!.x5c[0]!, 'base64'));
      assert.equal((cert.publicKey.export({ format: 'jwk' }) as { n: string }).n, keys[0]!.n);
      assert.equal(cert.verify(cert.publicKey), true, 'self-signed');
    }
  });

  test('GET /.well-known/openid-configuration: issuer = token iss, absolute jwks_uri', async () => {
    const r = await call(svc, 'GET', '/.well-known/openid-configuration');
    assert.equal(r.json.issuer, ISSUER);
    assert.equal(r.json.jwks_uri, `${ISSUER}/certs`);
    assert.deepEqual(r.json.id_token_signing_alg_values_supported, ['RS256']);
  });

  test('default policy refuses ConfigurationAndSWHardeningNeeded (the real sample\'s status)', async () => {
    const p = await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE) }), 400, 'ATTESTATION_DENIED');
    assert.equal(p.details?.tcbStatus, 'ConfigurationAndSWHardeningNeeded');
    assert.equal(p.details?.policyHash, policyHash(DEFAULT_SGX_POLICY));
  });

  test('draftPolicyForAttestation: evaluated instead of the stored policy; the token is unsigned', async () => {
    const r = await attest(svc, { quote: b64u(INTEL_SGX_QUOTE), draftPolicyForAttestation: 'version=1.0; authorizationrules { => permit(); };', nonce: 'n-1' });
    assert.equal(r.status, 200, r.text);
    const token = r.json.token as string;
    assert.equal(decodeProtectedHeader(token).alg, 'none');
    assert.ok(token.endsWith('.'));
    const c = decodeJwt(token);
    assert.equal(c['x-kube-sgx-tcb-status'], 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual(c['x-kube-sgx-advisory-ids'], ['INTEL-SA-00289', 'INTEL-SA-00615']);
    assert.equal(c['x-kube-sgx-simulated'], false);
    assert.equal(c.nonce, 'n-1');
    // Draft policies with errors are refused like uploads.
    await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE), draftPolicyForAttestation: 'version=1.0;\nauthorizationrules { => nope(); };' }), 400, 'POLICY_SYNTAX');
  });

  test('uploaded policy (MAA JWS) applies; token is RS256 with kid/jku/x5c and MAA claims; versions are tracked', async () => {
    const put = await call(svc, 'PUT', '/policies/SgxEnclave?api-version=2020-10-01', policyJws(PERMIT_CONFIG_NEEDED), { ...admin, 'content-type': 'text/plain' });
    assert.equal(put.status, 200, put.text);
    const result = decodeJwt(put.json.token as string);
    assert.equal(result['x-ms-policy-result'], 'Updated');
    assert.equal(result['x-kube-sgx-policy-version'], 1);

    const r = await attest(svc, { quote: b64u(INTEL_SGX_QUOTE) }, '2020-10-01');
    assert.equal(r.status, 200, r.text);
    const token = r.json.token as string;
    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.typ, 'JWT');
    assert.equal(header.jku, `${ISSUER}/certs`);
    const jwks = (await call(svc, 'GET', '/certs')).json as unknown as Parameters<typeof createLocalJWKSet>[0];
    assert.equal(header.kid, jwks.keys[0]!.kid);
    assert.deepEqual(header.x5c, (jwks.keys[0] as { x5c: string[] }).x5c);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, algorithms: ['RS256'] });
    assert.equal(payload['x-ms-sgx-mrenclave'], Buffer.from(INTEL_SGX_QUOTE.subarray(112, 144)).toString('hex'));
    assert.equal(payload['x-ms-sgx-mrsigner'], Buffer.from(INTEL_SGX_QUOTE.subarray(176, 208)).toString('hex'));
    assert.equal(payload['x-ms-sgx-is-debuggable'], false);
    assert.equal(typeof payload['x-ms-sgx-product-id'], 'number');
    assert.equal(typeof payload['x-ms-sgx-svn'], 'number');
    assert.equal(payload['x-ms-sgx-report-data'], Buffer.from(INTEL_SGX_QUOTE.subarray(368, 432)).toString('hex'));
    assert.match(Buffer.from(payload['x-ms-sgx-report-data'] as string, 'hex').toString('latin1'), /^Hello, world!/);
    assert.equal(payload['x-ms-attestation-type'], 'sgx');
    assert.equal(payload['x-ms-ver'], '1.0');
    assert.equal(payload['x-ms-policy-hash'], policyHash(PERMIT_CONFIG_NEEDED));
    assert.equal(payload['x-kube-sgx-policy-version'], 1);
    assert.equal(payload.signer, payload['x-ms-sgx-mrsigner'], 'issued by the policy');
    assert.equal(payload.nbf, payload.iat);
    assert.equal((payload.exp as number) - (payload.iat as number), 28_800);
    assert.match(payload.jti as string, /^[0-9a-f]{64}$/);

    // GET returns the policy in force; versions list both; reset goes back to the default.
    const got = await call(svc, 'GET', '/policies/SgxEnclave?api-version=2020-10-01', undefined, admin);
    const stored = decodeJwt(got.json.token as string)['x-ms-policy'] as string;
    assert.equal(Buffer.from(decodeJwt(stored).AttestationPolicy as string, 'base64url').toString(), PERMIT_CONFIG_NEEDED);
    const reset = await call(svc, 'POST', '/policies/SgxEnclave:reset?api-version=2020-10-01', policyJws(undefined), { ...admin, 'content-type': 'text/plain' });
    assert.equal(decodeJwt(reset.json.token as string)['x-ms-policy-result'], 'Removed');
    const versions = await call(svc, 'GET', '/policies/SgxEnclave/versions', undefined, admin);
    assert.deepEqual((versions.json.versions as Array<{ version: number; isDefault: boolean }>).map((v) => [v.version, v.isDefault]), [[1, false], [2, true]]);
    await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE) }), 400, 'ATTESTATION_DENIED');
  });

  test('policy upload errors point at the line; other shapes are refused', async () => {
    const bad = 'version=1.0;\nauthorizationrules {\n  [type=="x", value=="y"] => permit();\n  [type="z"] => deny();\n};';
    const p = await expectProblem(call(svc, 'PUT', '/policies/SgxEnclave?api-version=2020-10-01', policyJws(bad), { ...admin, 'content-type': 'text/plain' }), 400, 'POLICY_SYNTAX');
    assert.deepEqual(p.details, { line: 4, column: 8 });
    await expectProblem(call(svc, 'PUT', '/policies/SgxEnclave?api-version=2020-10-01', policyJws('version=1.3;\nauthorizationrules{=>permit();};'), admin), 400, 'POLICY_UNSUPPORTED');
    await expectProblem(call(svc, 'PUT', '/policies/SgxEnclave?api-version=2020-10-01', 'not-a-jws', admin), 400, 'POLICY_INVALID_JWS');
    await expectProblem(call(svc, 'PUT', '/policies/SgxEnclave?api-version=2020-10-01', `${b64u('{"alg":"HS256"}')}.${b64u('{}')}.sig`, admin), 400, 'POLICY_INVALID_JWS');
    await expectProblem(call(svc, 'PUT', '/policies/Tpm?api-version=2020-10-01', policyJws(PERMIT_CONFIG_NEEDED), admin), 404, 'NOT_FOUND');
  });

  test('admin endpoints are never open', async () => {
    for (const [method, path] of [
      ['GET', '/policies/SgxEnclave?api-version=2020-10-01'],
      ['PUT', '/policies/SgxEnclave?api-version=2020-10-01'],
      ['POST', '/policies/SgxEnclave:reset?api-version=2020-10-01'],
      ['GET', '/admin/secrets'],
      ['PUT', '/admin/secrets/x'],
      ['DELETE', '/admin/secrets/x'],
    ] as const) {
      const none = await expectProblem(call(svc, method, path, method === 'GET' || method === 'DELETE' ? undefined : '{}'), 401, 'UNAUTHORIZED');
      assert.match(none.detail, /Bearer/);
      await expectProblem(call(svc, method, path, method === 'GET' || method === 'DELETE' ? undefined : '{}', { authorization: 'Bearer wrong-token-wrong-token' }), 401, 'UNAUTHORIZED');
    }
    // A service started without an admin token refuses admin calls whatever is sent.
    await expectProblem(call(staleSvc, 'GET', '/admin/secrets', undefined, admin), 401, 'UNAUTHORIZED');
  });

  test('secret administration: register (sealed), read metadata (never the value), list, delete', async () => {
    const releasePolicy = { version: '1.0.0', anyOf: [{ authority: ISSUER, allOf: [{ claim: 'x-ms-sgx-svn', greaterOrEquals: 0 }] }] };
    const put = await call(svc, 'PUT', '/admin/secrets/app/db/password', { valueText: 's3cret', releasePolicy }, admin);
    assert.equal(put.status, 201, put.text);
    assert.equal((await call(svc, 'PUT', '/admin/secrets/app/db/password', { value: b64u('s3cret2'), releasePolicy }, admin)).status, 200);
    const meta = await call(svc, 'GET', '/admin/secrets/app/db/password', undefined, admin);
    assert.deepEqual(meta.json.releasePolicy, releasePolicy);
    assert.ok(!meta.text.includes('s3cret'));
    const stored = await svc.store.getSecret('app/db/password');
    assert.ok(stored && !Buffer.from(stored.sealedValue, 'base64').includes(Buffer.from('s3cret2')));
    assert.deepEqual((await call(svc, 'GET', '/admin/secrets', undefined, admin)).json.secrets, ['app/db/password']);
    await expectProblem(call(svc, 'PUT', '/admin/secrets/app/x', { valueText: 'v', releasePolicy: { version: '1.0.0', anyOf: [{ authority: ISSUER, allOf: [{ claim: 'a', like: 1 }] }] } }, admin), 400, 'RELEASE_POLICY_INVALID');
    await expectProblem(call(svc, 'PUT', '/admin/secrets/bad%20name', { valueText: 'v', releasePolicy }, admin), 400, 'INVALID_REQUEST');
    await expectProblem(call(svc, 'PUT', '/admin/secrets/ok', { value: '***', releasePolicy }, admin), 400, 'INVALID_BASE64');
    assert.equal((await call(svc, 'DELETE', '/admin/secrets/app/db/password', undefined, admin)).status, 204);
    await expectProblem(call(svc, 'GET', '/admin/secrets/app/db/password', undefined, admin), 404, 'SECRET_NOT_FOUND');
  });

  describe('bad input: a 4xx with a specific type, never a 500', () => {
    test('malformed base64', async () => {
      for (const quote of ['***', 'abcde', 12, null, 'aGVsbG8=x']) {
        const p = await expectProblem(attest(svc, { quote }), 400, 'INVALID_BASE64');
        assert.deepEqual((p as unknown as { path: string[] }).path, ['quote']);
      }
      await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE), runtimeData: { data: '%%%', dataType: 'Binary' } }), 400, 'INVALID_BASE64');
    });

    test('wrong quote types: TDX quote, unknown TEE, EPID key type, too short', async () => {
      await expectProblem(attest(svc, { quote: b64u(INTEL_TDX_QUOTE) }), 400, 'UNSUPPORTED_QUOTE_TYPE');
      const weird = new Uint8Array(INTEL_SGX_QUOTE);
      weird[4] = 7;
      await expectProblem(attest(svc, { quote: b64u(weird) }), 400, 'UNSUPPORTED_QUOTE_TYPE');
      const epid = new Uint8Array(INTEL_SGX_QUOTE);
      epid[2] = 0;
      await expectProblem(attest(svc, { quote: b64u(epid) }), 400, 'UNSUPPORTED_QUOTE_TYPE');
      await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE.subarray(0, 20)) }), 400, 'INVALID_QUOTE');
    });

    test('tampered and truncated quotes', async () => {
      const t = new Uint8Array(INTEL_SGX_QUOTE);
      t[112]! ^= 1; // MRENCLAVE
      const p = await attest(svc, { quote: b64u(t) });
      assert.equal(p.status, 400, p.text);
      assert.equal(p.json.code, 'QUOTE_SIGNATURE_INVALID');
      const cut = await attest(svc, { quote: b64u(INTEL_SGX_QUOTE.subarray(0, 1000)) });
      assert.ok(cut.status >= 400 && cut.status < 500, cut.text);
      assert.match(cut.headers.get('content-type') ?? '', /problem\+json/);
    });

    test('stale collateral', async () => {
      const p = await expectProblem(attest(staleSvc, { quote: b64u(INTEL_SGX_QUOTE) }), 400, 'COLLATERAL_EXPIRED');
      assert.match(String(p.details?.verifierCode), /EXPIRED/);
    });

    test('runtime data that does not match the report data', async () => {
      const p = await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE), runtimeData: { data: b64u('Hello, world!'), dataType: 'Binary' } }), 400, 'RUNTIME_DATA_MISMATCH');
      assert.match(p.detail, /SHA-256/);
      await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE), runtimeData: { data: b64u('{}'), dataType: 'Xml' } }), 400, 'INVALID_REQUEST');
      await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE), initTimeData: { data: b64u('x'), dataType: 'Binary' } }), 400, 'INIT_DATA_MISMATCH');
    });

    test('oversized bodies, bad JSON, wrong api-version, unknown routes', async () => {
      const big = JSON.stringify({ quote: 'A'.repeat(MAX_BODY_BYTES + 10) });
      await expectProblem(attest(svc, big), 413, 'PAYLOAD_TOO_LARGE');
      await expectProblem(attest(svc, '{"quote": '), 400, 'INVALID_JSON');
      await expectProblem(attest(svc, ''), 400, 'INVALID_JSON');
      await expectProblem(attest(svc, '[1,2]'), 400, 'INVALID_REQUEST');
      await expectProblem(call(svc, 'POST', '/attest/SgxEnclave', { quote: b64u(INTEL_SGX_QUOTE) }), 400, 'UNSUPPORTED_API_VERSION');
      await expectProblem(attest(svc, { quote: b64u(INTEL_SGX_QUOTE) }, '2019-01-01'), 400, 'UNSUPPORTED_API_VERSION');
      await expectProblem(call(svc, 'POST', '/attest/Tpm?api-version=2022-08-01', { data: 'x' }), 404, 'NOT_FOUND');
      await expectProblem(call(svc, 'GET', '/nope'), 404, 'NOT_FOUND');
    });

    test('random bodies never produce a 5xx', async () => {
      let seed = 42;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      const pieces = ['{', '}', '"quote"', ':', ',', '"', 'null', '[', ']', '"runtimeData"', '{"data":"AA","dataType":"JSON"}', b64u(INTEL_SGX_QUOTE.subarray(0, 64)), '1e999', '"\\u0000"'];
      for (let i = 0; i < 150; i++) {
        let body = '';
        const n = 1 + Math.floor(rnd() * 12);
        for (let k = 0; k < n; k++) body += pieces[Math.floor(rnd() * pieces.length)];
        const r = await attest(svc, body);
        assert.ok(r.status >= 400 && r.status < 500, `${body} → ${r.status} ${r.text}`);
      }
      // Random corruptions of a real quote: always 4xx.
      for (let i = 0; i < 60; i++) {
        const q = new Uint8Array(INTEL_SGX_QUOTE);
        const at = Math.floor(rnd() * q.length);
        q[at]! ^= 1 + Math.floor(rnd() * 255);
        const r = await attest(svc, { quote: b64u(q) });
        assert.ok(r.status >= 400 && r.status < 500, `byte ${at}: ${r.status} ${r.text}`);
      }
    });
  });

  test('an unreachable PCCS is a 503 (retryable), not a 4xx or a crash', async () => {
    const { createServer } = await import('node:net');
    // A port that is certainly closed: bind, note it, close.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const { verifier } = await createDcapVerifier({ simulation: false, pccsUrl: `http://127.0.0.1:${port}` });
    const down = await assembleAttestationService({ verifier, rateLimit: { rate: 0 } }, ISSUER);
    try {
      const p = await expectProblem(attest(down, { quote: b64u(INTEL_SGX_QUOTE) }), 503, 'COLLATERAL_UNAVAILABLE');
      assert.match(String(p.detail), /127\.0\.0\.1|ECONNREFUSED|fetch|connect/i);
    } finally {
      await down.dispose();
    }
  });

  test('per-client rate limit: 429 with Retry-After and a problem type', async () => {
    const limited = await assembleAttestationService({ verifier: { verify: async () => assert.fail('not reached') }, rateLimit: { rate: 1, burst: 2 } }, ISSUER);
    try {
      assert.equal((await call(limited, 'GET', '/certs')).status, 200);
      assert.equal((await call(limited, 'GET', '/certs')).status, 200);
      const r = await call(limited, 'GET', '/certs');
      assert.equal(r.status, 429);
      assert.equal(r.json.code, 'RATE_LIMITED');
      assert.equal(r.headers.get('retry-after'), '1');
      assert.equal((await call(limited, 'GET', '/healthz')).status, 200, 'probes are not limited');
    } finally {
      await limited.dispose();
    }
  });

  test('logs (debug level) never carry secret values, tokens or the admin token', async () => {
    const { pino } = await import('pino');
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const logged = await assembleAttestationService({ verifier: (await createDcapVerifier({ simulation: false, collateralDir: intelCollateralDir(tmp.dir), now: () => INTEL_SAMPLE_TIME })).verifier, adminToken: ADMIN_TOKEN, rateLimit: { rate: 0 }, logger }, ISSUER);
    try {
      const releasePolicy = { version: '1.0.0', anyOf: [{ authority: ISSUER, allOf: [{ claim: 'x-ms-sgx-svn', greaterOrEquals: 0 }] }] };
      await call(logged, 'PUT', '/admin/secrets/logcheck', { valueText: 'VERY-SECRET-VALUE', releasePolicy }, admin);
      await call(logged, 'GET', '/admin/secrets', undefined, { authorization: 'Bearer WRONG-TOKEN-0123456789' });
      const t = await attest(logged, { quote: b64u(INTEL_SGX_QUOTE), draftPolicyForAttestation: 'version=1.0; authorizationrules { => permit(); };' });
      const text = lines.join('');
      assert.ok(lines.length >= 3, 'requests were logged');
      for (const needle of ['VERY-SECRET-VALUE', ADMIN_TOKEN, 'WRONG-TOKEN-0123456789', (t.json.token as string).split('.')[1]!, b64u(INTEL_SGX_QUOTE).slice(0, 40)]) {
        assert.ok(!text.includes(needle), `log contains ${needle.slice(0, 20)}…`);
      }
    } finally {
      await logged.dispose();
    }
  });

  test('ops endpoints: /healthz, /readyz, /metrics, /status', async () => {
    assert.equal((await call(svc, 'GET', '/healthz')).status, 200);
    assert.equal((await call(svc, 'GET', '/readyz')).status, 200);
    const m = await call(svc, 'GET', '/metrics');
    assert.match(m.text, /kube_sgx_attestations_total\{outcome="issued",tcb_status="ConfigurationAndSWHardeningNeeded"\}/);
    assert.match(m.text, /kube_sgx_attestations_total\{outcome="ATTESTATION_DENIED"/);
    const s = await call(svc, 'GET', '/status');
    assert.equal(s.json.simulation, false);
    const keys = s.json.signingKeys as Array<{ kid: string }>;
    assert.equal(keys[0]!.kid, decodeProtectedHeader((await attest(svc, { quote: b64u(INTEL_SGX_QUOTE), draftPolicyForAttestation: 'version=1.0; authorizationrules { => permit(); };' })).json.token as string).kid ?? keys[0]!.kid);
    const col = s.json.collateral as Record<string, unknown>;
    assert.match(String(col.source), /directory/);
    assert.equal(typeof col.collateralExpiresAt, 'string');
    const stale = await call(staleSvc, 'GET', '/status');
    assert.equal((stale.json.collateral as Record<string, unknown>).collateralExpiresAt, null);
    svc.setShuttingDown();
    assert.equal((await call(svc, 'GET', '/readyz')).status, 503);
  });
});
