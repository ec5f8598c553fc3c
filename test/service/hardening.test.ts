/**
 * Issue 15 regressions for the attestation service, over real HTTP on
 * 127.0.0.1 with a real SQLite store: malformed percent-escapes, JSON nested
 * thousands deep, clients that abort mid-body, policy JWS alg/key-type
 * mismatches, prototype claims in release policies, and file modes.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createSign, webcrypto } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import pino from 'pino';
import { SimPlatform } from '../../src/sim/index.js';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { generateSigningCertificate } from '../../src/service/certs.js';
import { evaluateReleasePolicy, parseReleasePolicy } from '../../src/service/skr.js';
import { SqliteStore } from '../../src/service/store/sqlite.js';
import { httpCall } from '../../src/service/client.js';
import { ADMIN_TOKEN, b64u, tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-hardening-');
const platformDir = join(tmp.dir, 'platform');
const dataDir = join(tmp.dir, 'data');
const logLines: Array<{ level: number; msg: string; status?: number; path?: string }> = [];
let platform: SimPlatform;
let svc: RunningAttestationService;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ENCLAVE = { mrEnclave: Buffer.alloc(32, 0xa1), mrSigner: Buffer.alloc(32, 0x5e), isvProdId: 1, isvSvn: 1 };

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const r = await httpCall(method, `${svc.url}${path}`, body, { headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.body) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, text: r.body };
}

function deeplyNested(levels: number): string {
  return '['.repeat(levels) + ']'.repeat(levels);
}

before(async () => {
  platform = await SimPlatform.open(platformDir, { seed: 'hardening-tests' });
  // A data directory that already exists and is world-readable: files in it must still be 0600.
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o755);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      done();
    },
  });
  svc = await startAttestationService({
    listen: '127.0.0.1:0',
    simulation: true,
    platformDir,
    dataDir,
    adminToken: ADMIN_TOKEN,
    rateLimit: { rate: 0 },
    logger: pino({ level: 'debug' }, sink),
  });
});
after(async () => {
  await svc.close();
  tmp.cleanup();
});

describe('issue 15: malformed input is a 4xx, never a 500', () => {
  test('malformed percent-escapes in resource and secret paths → INVALID_REQUEST (400; 404 InvalidRequestPath on /kbs/v0)', async () => {
    for (const bad of ['%ZZ', '%E0%A4%A', 'a%', '%C0%AF', 'x/%ff/y']) {
      // Trustee reports a bad resource path as InvalidRequestPath, 404.
      const kbs = await call('GET', `/kbs/v0/resource/${bad}`, undefined, { authorization: 'Bearer x.y.z' });
      assert.equal(kbs.status, 404, `${bad}: ${kbs.text}`);
      assert.equal(kbs.json.code, 'INVALID_REQUEST');
      assert.equal(kbs.json.type, 'https://github.com/confidential-containers/kbs/errors/InvalidRequestPath');
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const r = await call(method, `/admin/secrets/${bad}`, method === 'PUT' ? '{"valueText":"v","releasePolicy":{}}' : undefined, admin);
        assert.equal(r.status, 400, `${method} ${bad}: ${r.text}`);
        assert.equal(r.json.code, 'INVALID_REQUEST');
      }
    }
    assert.equal(logLines.filter((l) => l.level >= 50).length, 0, 'nothing logged at error level');
  });

  test('a tee-pubkey nested 100,000 deep → refused before anything is hashed or stored', async () => {
    const auth = await httpCall('POST', `${svc.url}/kbs/v0/auth`, JSON.stringify({ version: '0.4.0', tee: 'sgx', 'extra-params': {} }));
    const cookie = String(auth.headers['set-cookie']).split(';')[0]!;
    const id = cookie.split('=')[1]!;
    const nonce = (JSON.parse(auth.body) as { nonce: string }).nonce;
    const body = `{"runtime-data":{"nonce":${JSON.stringify(nonce)},"tee-pubkey":{"kty":"EC","crv":"P-256","x":"a","y":"b","ext":${deeplyNested(100_000)}}},"tee-evidence":{"primary_evidence":{"quote":"AAAA"},"additional_evidence":""}}`;
    const r = await call('POST', '/kbs/v0/attest', body, { cookie });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'JSON_TOO_DEEP');
    // The session is as it was: not attested.
    assert.deepEqual(await svc.store.getKbsSession(id), { id, tee: 'sgx', nonce, expiresAt: (await svc.store.getKbsSession(id))!.expiresAt });
  });

  test('JSON runtime data nested 10,000 deep (bound into the quote) → 400, not a stack overflow while signing', async () => {
    const runtime = Buffer.from(`{"a":${deeplyNested(10_000)}}`);
    const rd = new Uint8Array(64);
    rd.set(createHash('sha256').update(runtime).digest());
    const quote = platform.getQuote(platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: rd, ...ENCLAVE, debug: false })).quote;
    const r = await call('POST', '/attest/SgxEnclave?api-version=2022-08-01', JSON.stringify({ quote: b64u(quote), runtimeData: { data: b64u(runtime), dataType: 'JSON' } }));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.code, 'JSON_TOO_DEEP');
    assert.deepEqual(r.json.path, ['runtimeData', 'data']);
    // 60 levels is fine (the limit is 64).
    const ok = Buffer.from(`{"a":${deeplyNested(60)}}`);
    const rd2 = new Uint8Array(64);
    rd2.set(createHash('sha256').update(ok).digest());
    const quote2 = platform.getQuote(platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: rd2, ...ENCLAVE, debug: false })).quote;
    const r2 = await call('POST', '/attest/SgxEnclave?api-version=2022-08-01', JSON.stringify({ quote: b64u(quote2), runtimeData: { data: b64u(ok), dataType: 'JSON' }, draftPolicyForAttestation: 'version=1.0; authorizationrules { => permit(); };' }));
    assert.equal(r2.status, 200, r2.text);
  });

  test('a request body nested deeper than 64 levels → 400 JSON_TOO_DEEP on every JSON endpoint', async () => {
    for (const [method, path, headers] of [
      ['POST', '/attest/SgxEnclave?api-version=2022-08-01', {}],
      ['PUT', '/admin/secrets/deep', admin],
      ['POST', '/admin/signing-keys/rotate', admin],
    ] as const) {
      const r = await call(method, path, `{"x":${deeplyNested(200_000)}}`, headers);
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.equal(r.json.code, 'JSON_TOO_DEEP');
    }
  });

  test('a client that aborts mid-body is counted as 499 and logged at debug, not as a 500 at error level', async () => {
    const { port } = new URL(svc.url);
    const errorsBefore = logLines.filter((l) => l.level >= 50).length;
    const sock = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write('POST /attest/SgxEnclave?api-version=2022-08-01 HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"quote":');
    // Once the server is reading the body (the request is in flight beside this /metrics call), vanish.
    while (!/_in_flight_requests 2\b/.test((await call('GET', '/metrics')).text)) await new Promise((r) => setTimeout(r, 10));
    sock.destroy();
    let metrics = '';
    // Event-based; the bound only turns a hang into a failure.
    for (let i = 0; i < 2000 && !/status="499"/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 25));
      metrics = (await call('GET', '/metrics')).text;
    }
    assert.match(metrics, /_requests_total\{[^}]*route="\/attest\/:type"[^}]*status="499"[^}]*\} 1/);
    assert.doesNotMatch(metrics, /status="500"/);
    assert.equal(logLines.filter((l) => l.level >= 50).length, errorsBefore, 'no error-level log');
    const entry = logLines.find((l) => l.msg === 'request' && l.status === 499);
    assert.equal(entry?.level, 20, 'the request is logged at debug');
  });
});

/** A compact JWS over a policy, with `header`, signed by `sign`. */
function policyJwsWith(header: Record<string, unknown>, sign: (input: string) => Buffer): string {
  const h = b64u(JSON.stringify(header));
  const p = b64u(JSON.stringify({ AttestationPolicy: b64u('version=1.0; authorizationrules { => permit(); };') }));
  return `${h}.${p}.${b64u(sign(`${h}.${p}`))}`;
}

describe('issue 15: policy JWS alg must match the certificate key type', () => {
  test('ES256 header over an RSA certificate and signature → 400 POLICY_INVALID_JWS (RS256 with the same key is accepted)', async () => {
    const rsa = await generateSigningCertificate('policy signer');
    const x5c = [Buffer.from(rsa.certificateDer).toString('base64')];
    const rsaSign = (input: string) => createSign('sha256').update(input).sign(rsa.privateKeyPem);
    const forged = await call('PUT', '/policies/SgxEnclave?api-version=2020-10-01', policyJwsWith({ alg: 'ES256', x5c }, rsaSign), admin);
    assert.equal(forged.status, 400, forged.text);
    assert.equal(forged.json.code, 'POLICY_INVALID_JWS');
    assert.match(forged.json.detail as string, /ES256 needs a P-256 EC certificate key; x5c\[0\] holds a key of type rsa/);
    const honest = await call('PUT', '/policies/SgxEnclave?api-version=2020-10-01', policyJwsWith({ alg: 'RS256', x5c }, rsaSign), admin);
    assert.equal(honest.status, 200, honest.text);
  });

  test('an Ed25519 certificate under RS256 or ES256 → 400, not 500', async () => {
    const keys = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=ed25519 signer', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys, signingAlgorithm: { name: 'Ed25519' } });
    const x5c = [Buffer.from(cert.rawData).toString('base64')];
    for (const alg of ['RS256', 'ES256']) {
      const r = await call('PUT', '/policies/SgxEnclave?api-version=2020-10-01', policyJwsWith({ alg, x5c }, () => Buffer.alloc(64, 1)), admin);
      assert.equal(r.status, 400, `${alg}: ${r.text}`);
      assert.equal(r.json.code, 'POLICY_INVALID_JWS');
      assert.match(r.json.detail as string, /holds a key of type ed25519/);
    }
  });
});

describe('issue 15: release policies read own claims only', () => {
  test('{"claim":"toString","exists":true} and inherited names do not match; real own claims still do', () => {
    const iss = 'https://attest.test';
    const claims = { iss, 'x-ms-sgx-svn': 3, nested: { a: 1 } };
    const policy = (cond: Record<string, unknown>) => parseReleasePolicy({ version: '1.0.0', anyOf: [{ authority: iss, allOf: [cond] }] });
    for (const claim of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'nested.toString', 'nested.constructor.name']) {
      assert.equal(evaluateReleasePolicy(policy({ claim, exists: true }), claims), false, claim);
      assert.equal(evaluateReleasePolicy(policy({ claim, exists: false }), claims), true, claim);
    }
    assert.equal(evaluateReleasePolicy(policy({ claim: 'nested.a', equals: 1 }), claims), true);
    assert.equal(evaluateReleasePolicy(policy({ claim: 'x-ms-sgx-svn', exists: true }), claims), true);
    // A claim that really is called __proto__ (JSON.parse makes it an own property) is seen.
    const own = JSON.parse(`{"iss":${JSON.stringify(iss)},"__proto__":"x"}`) as Record<string, unknown>;
    assert.equal(evaluateReleasePolicy(policy({ claim: '__proto__', equals: 'x' }), own), true);
  });
});

describe('issue 15: files the service writes are 0600', () => {
  test('attestation.db, -wal, -shm and the generated KEK in a 0755 directory', () => {
    for (const f of ['attestation.db', 'attestation.db-wal', 'attestation.db-shm', 'kek']) {
      const mode = statSync(join(dataDir, f)).mode & 0o777;
      assert.equal(mode.toString(8), '600', f);
    }
  });

  test('a database left 0644 by an earlier version (with its -wal/-shm) is made 0600 on open', async () => {
    const dir = join(tmp.dir, 'legacy');
    const first = new SqliteStore(dir);
    await first.putKbsSession({ id: 'c'.repeat(32), tee: 'sgx', nonce: 'n', expiresAt: Date.now() + 60_000 });
    for (const f of ['attestation.db', 'attestation.db-wal', 'attestation.db-shm']) chmodSync(join(dir, f), 0o644);
    const again = new SqliteStore(dir);
    try {
      for (const f of ['attestation.db', 'attestation.db-wal', 'attestation.db-shm']) assert.equal((statSync(join(dir, f)).mode & 0o777).toString(8), '600', f);
    } finally {
      await again.close();
      await first.close();
    }
  });
});
