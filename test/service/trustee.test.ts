/**
 * Trustee KBS protocol 0.4.0 against the attestation service over real HTTP
 * on 127.0.0.1 with a real SQLite store and simulated SGX quotes through the
 * real DCAP verifier. The client (trustee-client.ts) is written from
 * Trustee's protocol document and guest-components' client code.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { decodeJwt, flattenedDecrypt, type FlattenedJWE } from 'jose';
import { SimPlatform } from '../../src/sim/index.js';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { ADMIN_TOKEN, tempDir } from './helpers.js';
import { TrusteeKbsClient, http, jcs, type HttpReply, type TeeKeyKind } from './trustee-client.js';

const tmp = tempDir('kube-sgx-trustee-');
let platform: SimPlatform;
let svc: RunningAttestationService;
let clockOffsetMs = 0;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ERR = 'https://github.com/confidential-containers/kbs/errors/';

const ENCLAVE = { mrEnclave: Buffer.alloc(32, 0xc1), mrSigner: Buffer.alloc(32, 0x5e), isvProdId: 3, isvSvn: 2 };
const OTHER_ENCLAVE = { ...ENCLAVE, mrEnclave: Buffer.alloc(32, 0xd2) };

const INIT_DATA = `version = "0.1.0"
algorithm = "sha384"

[data]
"aa.toml" = '''
[token_configs.kbs]
url = "http://127.0.0.1"
'''
`;

function sgxEvidence(enclave = ENCLAVE, configId?: Buffer) {
  return async (reportData: Buffer) => {
    const report = platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData, ...enclave, ...(configId ? { configId } : {}) });
    return { quote: Buffer.from(platform.getQuote(report).quote).toString('base64') };
  };
}

const TD = { mrTd: Buffer.alloc(48, 0x7d) };

function tdEvidence(opts: { mrConfigId?: Buffer; debug?: boolean; mrTd?: Buffer } = {}) {
  return async (reportData: Buffer) => {
    const report = platform.tdReport({ reportData, mrTd: opts.mrTd ?? TD.mrTd, ...(opts.mrConfigId ? { mrConfigId: opts.mrConfigId } : {}), ...(opts.debug ? { debug: true } : {}) });
    return { quote: Buffer.from(platform.getTdQuote(report)).toString('base64') };
  };
}

const tdClient = (opts: { mrConfigId?: Buffer; debug?: boolean; mrTd?: Buffer; initData?: string } = {}) =>
  new TrusteeKbsClient({ url: svc.url, tee: 'tdx', evidence: tdEvidence(opts), ...(opts.initData !== undefined ? { initData: opts.initData } : {}) });

const client = (opts: { key?: TeeKeyKind; enclave?: typeof ENCLAVE; initData?: string; configId?: Buffer } = {}) =>
  new TrusteeKbsClient({ url: svc.url, tee: 'sgx', evidence: sgxEvidence(opts.enclave, opts.configId), ...(opts.key ? { key: opts.key } : {}), ...(opts.initData !== undefined ? { initData: opts.initData } : {}) });

function expectKbsError(r: HttpReply, status: number, variant: string, code: string): void {
  assert.equal(r.status, status, r.body);
  assert.equal(r.json.type, ERR + variant, r.body);
  assert.equal(r.json.code, code, r.body);
  assert.equal(typeof r.json.detail, 'string');
}

async function auth(body: unknown = { version: '0.4.0', tee: 'sgx', 'extra-params': {} }) {
  const r = await http('POST', `${svc.url}/kbs/v0/auth`, JSON.stringify(body));
  const cookie = /^kbs-session-id=([0-9a-f]+)/.exec(String(r.headers['set-cookie'] ?? ''))?.[1];
  return { r, cookie, nonce: r.json.nonce as string };
}

/** An Attestation message for `nonce` with a fresh key, evidence bound (or not) as asked. */
async function attestation(nonce: string, opts: { pubkey?: Record<string, unknown>; reportData?: Buffer; enclave?: typeof ENCLAVE } = {}) {
  const c = client();
  const pubkey = opts.pubkey ?? c.key.pubkey;
  const digest = createHash('sha384').update(jcs({ 'additional-evidence': '', nonce, 'tee-pubkey': pubkey })).digest();
  const rd = Buffer.alloc(64);
  digest.copy(rd);
  return { 'init-data': null, 'runtime-data': { nonce, 'tee-pubkey': pubkey }, 'tee-evidence': { primary_evidence: await sgxEvidence(opts.enclave)(opts.reportData ?? rd), additional_evidence: '' } };
}

const releasePolicy = (mrEnclave: Buffer) => ({
  version: '1.0.0',
  anyOf: [{ authority: svc.issuer, allOf: [{ claim: 'x-ms-sgx-mrenclave', equals: mrEnclave.toString('hex') }, { claim: 'x-ms-sgx-is-debuggable', equals: false }] }],
});

before(async () => {
  platform = await SimPlatform.open(join(tmp.dir, 'platform'), { seed: 'trustee-kbs-tests' });
  svc = await startAttestationService({
    listen: '127.0.0.1:0',
    simulation: true,
    platformDir: join(tmp.dir, 'platform'),
    dataDir: join(tmp.dir, 'data'),
    adminToken: ADMIN_TOKEN,
    rateLimit: { rate: 0 },
    now: () => Date.now() + clockOffsetMs,
  });
  const tdPolicy = { version: '1.0.0', anyOf: [{ authority: svc.issuer, allOf: [{ claim: 'tdx_mrtd', equals: TD.mrTd.toString('hex') }, { claim: 'tdx_td_attributes_debug', equals: false }] }] };
  assert.equal((await http('PUT', `${svc.url}/admin/secrets/repo/td/key`, JSON.stringify({ valueText: 'value for the TD', releasePolicy: tdPolicy }), admin)).status, 201);
  for (const [name, enclave] of [['repo/key/a', ENCLAVE], ['repo/key/other', OTHER_ENCLAVE]] as const) {
    const r = await http('PUT', `${svc.url}/admin/secrets/${name}`, JSON.stringify({ valueText: `value of ${name}`, releasePolicy: releasePolicy(enclave.mrEnclave) }), admin);
    assert.equal(r.status, 201, r.body);
  }
});
after(async () => {
  await svc.close();
  tmp.cleanup();
});

describe('Trustee KBS protocol 0.4.0 (RCAR)', () => {
  test('auth: Challenge {nonce: base64 of 32 bytes, extra-params: ""} and Set-Cookie kbs-session-id=<32 hex>; Expires=now+5 min', async () => {
    const { r } = await auth();
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(Object.keys(r.json).sort(), ['extra-params', 'nonce']);
    assert.equal(r.json['extra-params'], '');
    assert.equal(Buffer.from(r.json.nonce as string, 'base64').length, 32);
    const m = /^kbs-session-id=([0-9a-f]{32}); Expires=(.+)$/.exec(String(r.headers['set-cookie']));
    assert.ok(m, String(r.headers['set-cookie']));
    const expiresIn = Date.parse(m[2]!) - Date.now();
    assert.ok(expiresIn > 4 * 60_000 && expiresIn <= 5 * 60_000 + 1000, `cookie expires in ${expiresIn} ms`);
  });

  for (const key of ['P-256', 'P-521', 'RSA'] as const) {
    test(`${key} tee-pubkey: handshake, then the resource by cookie as a flattened JWE only that key opens`, async () => {
      const c = client({ key });
      await c.rcarHandshake();
      const value = await c.getResource('repo/key/a');
      assert.equal(value.toString(), 'value of repo/key/a');
      assert.equal(c.handshakes, 1);
      const claims = decodeJwt(c.token!);
      assert.deepEqual(claims['tee-pubkey'], c.key.pubkey);
      assert.equal(claims['x-ms-sgx-mrenclave'], ENCLAVE.mrEnclave.toString('hex'));
      assert.ok((claims.exp as number) - (claims.iat as number) <= 300);
      // The JWE: Trustee's Response members, no aad; the protected header as kbs-types writes it.
      const raw = await http('GET', `${svc.url}/kbs/v0/resource/repo/key/a`, undefined, { cookie: `kbs-session-id=${c.cookie!.value}` });
      assert.deepEqual(Object.keys(raw.json).sort(), ['ciphertext', 'encrypted_key', 'iv', 'protected', 'tag']);
      const header = Buffer.from(raw.json.protected as string, 'base64url').toString();
      if (key === 'RSA') assert.equal(header, '{"alg":"RSA-OAEP-256","enc":"A256GCM"}');
      else assert.match(header, new RegExp(`^\\{"alg":"ECDH-ES\\+A256KW","enc":"A256GCM","epk":\\{"crv":"${key}","kty":"EC","x":"[\\w-]+","y":"[\\w-]+"\\}\\}$`));
      // Another key of the same kind cannot open it.
      assert.throws(() => client({ key }).key.decrypt(raw.json));
    });
  }

  test('Bearer token instead of the cookie; a second attest on an attested session returns the same token', async () => {
    const c = client();
    await c.rcarHandshake();
    const res = await http('GET', `${svc.url}/kbs/v0/resource/repo/key/a`, undefined, { authorization: `Bearer ${c.token!}` });
    assert.equal(res.status, 200, res.body);
    assert.equal(c.key.decrypt(res.json).toString(), 'value of repo/key/a');
    const again = await http('POST', `${svc.url}/kbs/v0/attest`, JSON.stringify(await attestation('anything')), { cookie: `kbs-session-id=${c.cookie!.value}` });
    assert.equal(again.status, 200, again.body);
    assert.equal(again.json.token, c.token);
  });

  test('the JWE is standard RFC 7516: jose (an independent implementation) opens it for P-256, P-521 and RSA-OAEP-256 keys', async () => {
    for (const [type, opts] of [['ec', { namedCurve: 'P-256' }], ['ec', { namedCurve: 'P-521' }], ['rsa', { modulusLength: 2048 }]] as const) {
      const { publicKey, privateKey } = generateKeyPairSync(type as 'ec', opts as { namedCurve: string });
      const jwk = publicKey.export({ format: 'jwk' });
      const pubkey = jwk.kty === 'RSA' ? { kty: 'RSA', alg: 'RSA-OAEP-256', n: jwk.n, e: jwk.e } : { kty: 'EC', crv: jwk.crv, alg: 'ECDH-ES+A256KW', x: jwk.x, y: jwk.y };
      const s = await auth();
      const at = await http('POST', `${svc.url}/kbs/v0/attest`, JSON.stringify(await attestation(s.nonce, { pubkey })), { cookie: `kbs-session-id=${s.cookie!}` });
      assert.equal(at.status, 200, at.body);
      const res = await http('GET', `${svc.url}/kbs/v0/resource/repo/key/a`, undefined, { authorization: `Bearer ${at.json.token as string}` });
      assert.equal(res.status, 200, res.body);
      const { plaintext } = await flattenedDecrypt(res.json as unknown as FlattenedJWE, privateKey);
      assert.equal(Buffer.from(plaintext).toString(), 'value of repo/key/a', String(jwk.crv ?? jwk.kty));
    }
  });

  test('init-data (TOML) binds to CONFIGID: SHA-384 of the body zero-padded to 64 bytes; a different body is refused', async () => {
    const configId = Buffer.alloc(64);
    createHash('sha384').update(INIT_DATA).digest().copy(configId);
    const c = client({ initData: INIT_DATA, configId });
    await c.rcarHandshake();
    assert.deepEqual(decodeJwt(c.token!)['x-kube-sgx-init-data'], { algorithm: 'sha384', digest: createHash('sha384').update(INIT_DATA).digest('hex') });
    assert.equal((await c.getResource('repo/key/a')).toString(), 'value of repo/key/a');
    const wrong = client({ initData: INIT_DATA.replace('127.0.0.1', '10.0.0.1'), configId });
    await assert.rejects(wrong.rcarHandshake(), (e: { reply?: HttpReply }) => {
      expectKbsError(e.reply!, 401, 'AttestationError', 'INIT_DATA_MISMATCH');
      return true;
    });
    const badAlg = client({ initData: INIT_DATA.replace('sha384', 'md5'), configId });
    await assert.rejects(badAlg.rcarHandshake(), (e: { reply?: HttpReply }) => {
      expectKbsError(e.reply!, 401, 'AttestationError', 'INIT_DATA_INVALID');
      return true;
    });
  });

  test('policy denial is 401 PolicyDeny (as Trustee); the client re-runs the handshake and still gets nothing', async () => {
    const c = client();
    await c.rcarHandshake();
    await assert.rejects(c.getResource('repo/key/other'), (e: { reply?: HttpReply }) => {
      expectKbsError(e.reply!, 401, 'PolicyDeny', 'SECRET_RELEASE_DENIED');
      return true;
    });
    assert.equal(c.handshakes, 4, 'the first handshake, then one after each of the three refused attempts, as kbs_protocol does');
  });

  test('an expired cookie: 401, the client re-runs the handshake and gets the resource', async () => {
    const c = client();
    await c.rcarHandshake();
    clockOffsetMs = 6 * 60_000;
    try {
      const stale = await http('GET', `${svc.url}/kbs/v0/resource/repo/key/a`, undefined, { cookie: `kbs-session-id=${c.cookie!.value}` });
      expectKbsError(stale, 401, 'TokenNotFound', 'KBS_SESSION_EXPIRED');
      assert.equal((await c.getResource('repo/key/a')).toString(), 'value of repo/key/a');
      assert.equal(c.handshakes, 2);
    } finally {
      clockOffsetMs = 0;
    }
  });
});

describe('Trustee KBS protocol: bad input is its own error, never a 5xx, and changes nothing stored', () => {
  test('auth: wrong protocol version, unsupported or missing tee, not JSON', async () => {
    for (const version of ['0.3.0', '0.4.1', '0.4.0-rc1', '1.0.0', 'x']) {
      expectKbsError((await auth({ version, tee: 'sgx', 'extra-params': {} })).r, 401, 'AttestationError', 'KBS_PROTOCOL_VERSION_MISMATCH');
    }
    assert.equal((await auth({ version: '0.4.0+build.7', tee: 'sgx', 'extra-params': {} })).r.status, 200, 'build metadata is ignored, as semver =0.4.0 does');
    const snp = await auth({ version: '0.4.0', tee: 'snp', 'extra-params': {} });
    expectKbsError(snp.r, 401, 'AttestationError', 'KBS_TEE_UNSUPPORTED');
    assert.equal(snp.cookie, undefined, 'no session for a refused request');
    expectKbsError((await auth({ version: '0.4.0' })).r, 401, 'AttestationError', 'KBS_REQUEST_INVALID');
    expectKbsError(await http('POST', `${svc.url}/kbs/v0/auth`, '{"version":'), 401, 'AttestationError', 'INVALID_JSON');
  });

  test('attest: missing, unknown or expired cookie; a nonce from another session; a report-data hash that does not match', async () => {
    const a = await auth();
    const b = await auth();
    const body = JSON.stringify(await attestation(a.nonce));
    expectKbsError(await http('POST', `${svc.url}/kbs/v0/attest`, body), 401, 'AttestationError', 'KBS_COOKIE_MISSING');
    expectKbsError(await http('POST', `${svc.url}/kbs/v0/attest`, body, { cookie: `kbs-session-id=${'0'.repeat(32)}` }), 401, 'AttestationError', 'KBS_SESSION_UNKNOWN');
    // a's nonce presented on b's session
    expectKbsError(await http('POST', `${svc.url}/kbs/v0/attest`, body, { cookie: `kbs-session-id=${b.cookie!}` }), 401, 'AttestationError', 'KBS_NONCE_MISMATCH');
    // evidence whose REPORTDATA binds another nonce
    const unbound = JSON.stringify(await attestation(a.nonce, { reportData: Buffer.alloc(64, 7) }));
    expectKbsError(await http('POST', `${svc.url}/kbs/v0/attest`, unbound, { cookie: `kbs-session-id=${a.cookie!}` }), 401, 'AttestationError', 'REPORT_DATA_MISMATCH');
    clockOffsetMs = 6 * 60_000;
    try {
      expectKbsError(await http('POST', `${svc.url}/kbs/v0/attest`, body, { cookie: `kbs-session-id=${a.cookie!}` }), 401, 'AttestationError', 'KBS_SESSION_EXPIRED');
    } finally {
      clockOffsetMs = 0;
    }
    // Nothing stored changed: both sessions are still unattested, and a's session still attests with its nonce.
    for (const s of [a, b]) assert.equal((await svc.store.getKbsSession(s.cookie!))?.token, undefined);
    const ok = await http('POST', `${svc.url}/kbs/v0/attest`, body, { cookie: `kbs-session-id=${a.cookie!}` });
    assert.equal(ok.status, 200, ok.body);
  });

  test('attest: unsupported JWK types and bad keys', async () => {
    const good = client().key.pubkey;
    const cases: Array<[string, Record<string, unknown>]> = [
      ['OKP key', { kty: 'OKP', crv: 'X25519', x: good.x }],
      ['symmetric key', { kty: 'oct', k: 'AAAA' }],
      ['secp256k1', { ...good, crv: 'secp256k1' }],
      ['wrong alg', { ...good, alg: 'ECDH-ES' }],
      ['RSA1_5', { kty: 'RSA', alg: 'RSA1_5', n: Buffer.alloc(256, 0xc5).toString('base64url'), e: 'AQAB' }],
      ['short RSA', { kty: 'RSA', alg: 'RSA-OAEP-256', n: Buffer.alloc(128, 0xc5).toString('base64url'), e: 'AQAB' }],
      ['point off the curve', { ...good, y: Buffer.alloc(32, 1).toString('base64url') }],
      ['private key', { ...good, d: 'AAAA' }],
    ];
    for (const [what, pubkey] of cases) {
      const s = await auth();
      const r = await http('POST', `${svc.url}/kbs/v0/attest`, JSON.stringify(await attestation(s.nonce, { pubkey })), { cookie: `kbs-session-id=${s.cookie!}` });
      assert.equal(r.json.code, 'KBS_TEE_KEY_UNSUPPORTED', `${what}: ${r.body}`);
      expectKbsError(r, 401, 'AttestationError', 'KBS_TEE_KEY_UNSUPPORTED');
      assert.equal((await svc.store.getKbsSession(s.cookie!))?.token, undefined, what);
    }
  });

  test('resource: paths with "..", empty or missing parts → 404 InvalidRequestPath; unknown plugin → 404 PluginNotFound; unknown resource → 401 PluginInternalError', async () => {
    const c = client();
    await c.rcarHandshake();
    const cookie = { cookie: `kbs-session-id=${c.cookie!.value}` };
    for (const p of ['repo/../a', 'repo/key/..', 'repo//a', 'repo/key/', 'repo/key', 'repo/key/a/b', '.hidden/key/a', 'repo/%2e%2e/a', 'repo/key/%2E%2E', 'repo/key%2F..%2Fa/b']) {
      expectKbsError(await http('GET', `${svc.url}/kbs/v0/resource/${p}`, undefined, cookie), 404, 'InvalidRequestPath', 'KBS_RESOURCE_PATH_INVALID');
    }
    // ".." segments are resolved by URL parsing before routing: this one leaves /kbs/v0/resource altogether.
    expectKbsError(await http('GET', `${svc.url}/kbs/v0/resource/../key/a`, undefined, cookie), 404, 'PluginNotFound', 'NOT_FOUND');
    expectKbsError(await http('GET', `${svc.url}/kbs/v0/nebula-ca/x`, undefined, cookie), 404, 'PluginNotFound', 'NOT_FOUND');
    expectKbsError(await http('GET', `${svc.url}/kbs/v0/resource/repo/key/none`, undefined, cookie), 401, 'PluginInternalError', 'SECRET_NOT_FOUND');
    const list = await http('GET', `${svc.url}/admin/secrets`, undefined, admin);
    assert.deepEqual(list.json.secrets, ['repo/key/a', 'repo/key/other', 'repo/td/key']);
  });

  test('resource: no credentials, a session not attested yet, a token from elsewhere', async () => {
    expectKbsError(await http('GET', `${svc.url}/kbs/v0/resource/repo/key/a`), 401, 'TokenNotFound', 'TOKEN_NOT_FOUND');
    const s = await auth();
    expectKbsError(await http('GET', `${svc.url}/kbs/v0/resource/repo/key/a`, undefined, { cookie: `kbs-session-id=${s.cookie!}` }), 401, 'TokenNotFound', 'KBS_SESSION_NOT_ATTESTED');
    const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: svc.issuer, 'tee-pubkey': client().key.pubkey })).toString('base64url')}.`;
    expectKbsError(await http('GET', `${svc.url}/kbs/v0/resource/repo/key/a`, undefined, { authorization: `Bearer ${forged}` }), 401, 'TokenVerifierError', 'TOKEN_INVALID');
  });
});

describe('Trustee KBS protocol with tee "tdx" (simulated TD quotes, v4)', () => {
  test('handshake with a TD quote; MAA TDX claims in the token; the TD\'s resource by cookie; init-data bound to MRCONFIGID', async () => {
    const mrConfigId = createHash('sha384').update(INIT_DATA).digest();
    const c = tdClient({ mrConfigId, initData: INIT_DATA });
    await c.rcarHandshake();
    const claims = decodeJwt(c.token!);
    assert.equal(claims['x-ms-attestation-type'], 'tdxvm');
    assert.equal(claims.tdx_mrtd, TD.mrTd.toString('hex'));
    assert.equal(claims.tdx_mrconfigid, mrConfigId.toString('hex'));
    assert.equal(claims.tdx_td_attributes_debug, false);
    assert.equal(typeof claims.attester_tcb_status, 'string');
    assert.deepEqual(claims['tee-pubkey'], c.key.pubkey);
    assert.equal((await c.getResource('repo/td/key')).toString(), 'value for the TD');
    // An SGX enclave's resource is not the TD's.
    await assert.rejects(c.getResource('repo/key/a'), (e: { reply?: HttpReply }) => {
      expectKbsError(e.reply!, 401, 'PolicyDeny', 'SECRET_RELEASE_DENIED');
      return true;
    });
    // Another TD (other MRTD) does not get the TD's resource.
    const other = tdClient({ mrTd: Buffer.alloc(48, 0x11) });
    await other.rcarHandshake();
    await assert.rejects(other.getResource('repo/td/key'), (e: { reply?: HttpReply }) => e.reply?.json.code === 'SECRET_RELEASE_DENIED');
  });

  test('bad TD evidence: init-data not in MRCONFIGID, a debug TD, an SGX quote for tee tdx and a TD quote for tee sgx, flipped bytes', async () => {
    const refused = async (c: TrusteeKbsClient, code: string) =>
      assert.rejects(c.rcarHandshake(), (e: { reply?: HttpReply }) => {
        expectKbsError(e.reply!, 401, 'AttestationError', code);
        return true;
      });
    await refused(tdClient({ initData: INIT_DATA }), 'INIT_DATA_MISMATCH');
    await refused(tdClient({ debug: true }), 'ATTESTATION_DENIED');
    await refused(new TrusteeKbsClient({ url: svc.url, tee: 'tdx', evidence: sgxEvidence() }), 'UNSUPPORTED_QUOTE_TYPE');
    await refused(new TrusteeKbsClient({ url: svc.url, tee: 'sgx', evidence: tdEvidence() }), 'UNSUPPORTED_QUOTE_TYPE');
    const flipped = new TrusteeKbsClient({
      url: svc.url,
      tee: 'tdx',
      evidence: async (rd) => {
        const q = Buffer.from((await tdEvidence()(rd)).quote, 'base64');
        q[200] = q[200]! ^ 0xff;
        return { quote: q.toString('base64') };
      },
    });
    await assert.rejects(flipped.rcarHandshake(), (e: { reply?: HttpReply }) => {
      assert.equal(e.reply!.status, 401, e.reply!.body);
      assert.equal(e.reply!.json.type, ERR + 'AttestationError');
      return true;
    });
  });
});
