/**
 * Signing-key rotation: the next key is published before it signs, the old
 * one stays published for the longest token lifetime after, then retires;
 * replicas and restarts see the same keys; the admin API and the offline
 * `rotate-key` path add keys to a real SQLite file and a Kubernetes API stand-in.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { KubeSgxError } from '../../src/errors.js';
import { SimPlatform } from '../../src/sim/index.js';
import { assembleAttestationService, rotateServiceSigningKey } from '../../src/service/server.js';
import { KEY_RETIREMENT_MS, TokenSigner, rotateSigningKey } from '../../src/service/signer.js';
import { SqliteStore } from '../../src/service/store/sqlite.js';
import { KubernetesStore } from '../../src/service/store/kubernetes.js';
import { Vault } from '../../src/service/vault.js';
import { cliError, runCli } from '../cli/run.js';
import { startFakeKube } from './fake-kube.js';
import { ADMIN_TOKEN, tempDir } from './helpers.js';

const ISSUER = 'https://issuer.test';
const HOUR = 3_600_000;

function clock(start: number) {
  const c = { t: start, now: () => c.t };
  return c;
}

async function kidOf(signer: TokenSigner, t: number): Promise<string> {
  const token = await signer.sign({ iss: ISSUER, iat: Math.floor(t / 1000), exp: Math.floor(t / 1000) + 60 });
  return decodeProtectedHeader(token).kid!;
}

describe('signing-key rotation', () => {
  const tmp = tempDir('kube-sgx-rotation-');
  after(() => tmp.cleanup());

  /**
   * Two replicas (signers on two SqliteStores) of one database file, on a settable clock.
   * `restart()` closes both and returns the key states a process opening the file afresh reads.
   */
  async function twoReplicas(name: string) {
    const c = clock(Date.parse('2026-11-29T00:00:00Z'));
    const dir = join(tmp.dir, name);
    const kek = randomBytes(32);
    const storeA = new SqliteStore(dir);
    const storeB = new SqliteStore(dir);
    // One after the other: the first creates the initial key, the second reads it.
    const a = await TokenSigner.open(storeA, new Vault(kek), ISSUER, c.now);
    const b = await TokenSigner.open(storeB, new Vault(kek), ISSUER, c.now);
    const restart = async () => {
      await storeA.close();
      await storeB.close();
      const again = new SqliteStore(dir);
      try {
        return (await TokenSigner.open(again, new Vault(kek), ISSUER, c.now)).describeKeys();
      } finally {
        await again.close();
      }
    };
    return { c, a, b, restart };
  }

  test('published first, signs from activeFrom, old key retires 8 h after its successor took over', async () => {
    const c = clock(Date.parse('2026-11-29T00:00:00Z'));
    const store = new SqliteStore(join(tmp.dir, 'a'));
    const vault = new Vault(randomBytes(32));
    const signer = await TokenSigner.open(store, vault, ISSUER, c.now);
    const k1 = signer.active.kid;
    const oldToken = await signer.sign({ iss: ISSUER, exp: Math.floor(c.t / 1000) + 9 * 3600 });

    const k2 = await signer.rotate(HOUR);
    assert.deepEqual(signer.jwks().keys.map((k) => k.kid), [k1, k2.kid], 'the next key is in /certs before it signs');
    assert.equal(await kidOf(signer, c.t), k1);
    assert.deepEqual(signer.describeKeys().map((k) => k.state), ['active', 'next']);

    c.t += HOUR;
    assert.equal(await kidOf(signer, c.t), k2.kid, 'signs with the new key from its activeFrom');
    assert.deepEqual(signer.describeKeys().map((k) => k.state), ['previous', 'active']);
    assert.equal(signer.describeKeys()[0]!.retiresAt, new Date(k2.activeFrom + KEY_RETIREMENT_MS).toISOString());
    assert.equal((await signer.verify(oldToken)).iss, ISSUER, 'tokens of the previous key still validate');

    c.t = k2.activeFrom + KEY_RETIREMENT_MS;
    assert.deepEqual(signer.jwks().keys.map((k) => k.kid), [k2.kid], 'retired keys leave /certs');
    await assert.rejects(signer.verify(oldToken), (e: KubeSgxError) => e.code === 'TOKEN_INVALID' && /retired/.test(e.message));
    await store.close();
  });

  test('another replica on the same store sees a rotation after refresh(); a restart keeps every key and its state', async () => {
    const { c, a, b, restart } = await twoReplicas('b');
    assert.equal(b.active.kid, a.active.kid);
    c.t += 60_000;
    const next = await a.rotate(0);
    assert.equal(b.published.length, 1, 'not yet re-read');
    await b.refresh();
    assert.deepEqual(b.published.map((k) => k.kid), a.published.map((k) => k.kid));
    assert.equal(b.active.kid, next.kid);
    assert.deepEqual(await restart(), a.describeKeys());
  });

  test('revokePrevious: earlier keys (waiting ones too) leave /certs at once, their tokens are refused, the new key signs now; replicas follow', async () => {
    const { c, a, b, restart } = await twoReplicas('revoke');
    const oldToken = await a.sign({ iss: ISSUER, exp: Math.floor(c.t / 1000) + 3600 });
    const waiting = await a.rotate(HOUR);
    c.t += 1000;
    await assert.rejects(a.rotate(HOUR, true), (e: KubeSgxError) => e.code === 'CONFIG_INVALID', 'a delay with revocation is refused');
    const fresh = await a.rotate(0, true);
    assert.deepEqual(a.jwks().keys.map((k) => k.kid), [fresh.kid]);
    assert.equal(await kidOf(a, c.t), fresh.kid);
    await assert.rejects(a.verify(oldToken), (e: KubeSgxError) => e.code === 'TOKEN_INVALID');
    const states = Object.fromEntries(a.describeKeys().map((k) => [k.kid, [k.state, k.revoked ?? false, k.retiresAt]]));
    assert.deepEqual(states[fresh.kid], ['active', false, undefined], 'a revoked waiting key never retires the new one');
    assert.deepEqual(states[waiting.kid]!.slice(0, 2), ['retired', true]);
    assert.equal(Object.values(states).filter((x) => x[0] === 'retired').length, 2);
    // The other replica still trusts the old key until it re-reads the store.
    assert.equal((await b.verify(oldToken)).iss, ISSUER);
    await b.refresh();
    await assert.rejects(b.verify(oldToken), (e: KubeSgxError) => e.code === 'TOKEN_INVALID');
    assert.equal(b.active.kid, fresh.kid);
    assert.deepEqual(await restart(), a.describeKeys(), 'revocations survive a restart');
  });

  test('refused: a KEK that cannot open the existing keys, a negative delay; rotations queue in order', async () => {
    const store = new SqliteStore(join(tmp.dir, 'c'));
    const vault = new Vault(randomBytes(32));
    await TokenSigner.open(store, vault, ISSUER);
    await assert.rejects(rotateSigningKey(store, new Vault(randomBytes(32)), { activateAfterMs: 0 }), /wrong KEK/);
    await assert.rejects(rotateSigningKey(store, vault, { activateAfterMs: -1 }), (e: KubeSgxError) => e.code === 'CONFIG_INVALID');
    assert.equal((await store.listSigningKeys()).length, 1, 'nothing was added');
    const first = await rotateSigningKey(store, vault, { now: 1_000_000, activateAfterMs: 10 * HOUR });
    const second = await rotateSigningKey(store, vault, { now: 1_000_000, activateAfterMs: 0 });
    assert.ok(second.activeFrom > first.activeFrom, 'a later rotation never activates before a waiting one');
    await store.close();
  });

  test('rotate-key without the service\'s --data-dir (SQLite) is refused by one rule: CONFIG_INVALID from the library, a usage error (exit 2) from the CLI', async () => {
    const refusal = { code: 'CONFIG_INVALID', path: ['dataDir'], message: /^--data-dir: rotate-key needs the service's --data-dir \(or --store kubernetes\)$/ };
    await assert.rejects(rotateServiceSigningKey({}, 0), refusal);
    await assert.rejects(rotateServiceSigningKey({ store: 'sqlite', kekFile: join(tmp.dir, 'nope') }, 0), refusal);
    const cli = await runCli(['attestation-service', 'rotate-key']);
    assert.equal(cli.status, 2);
    assert.deepEqual(cliError(cli.stdout), { code: 'USAGE', message: "--data-dir: rotate-key needs the service's --data-dir (or --store kubernetes)" });
  });

  test('offline rotate-key path: needs an initialised store and the same KEK file', async () => {
    const dir = join(tmp.dir, 'd');
    await assert.rejects(rotateServiceSigningKey({ dataDir: dir }, 0), (e: KubeSgxError) => e.code === 'CONFIG_INVALID' && /start the service once/.test(e.message));
    // First start of the service generates the key and, beside the data, the KEK that rotate-key then reads.
    const store = new SqliteStore(dir);
    const { loadKek } = await import('../../src/service/vault.js');
    const kek = loadKek({ env: {}, generatedPath: join(dir, 'kek') }).kek;
    const signer = await TokenSigner.open(store, new Vault(kek), ISSUER);
    const r = await rotateServiceSigningKey({ dataDir: dir }, 0);
    assert.deepEqual(r.keys, [signer.active.kid, r.kid]);
    await signer.refresh();
    assert.equal(signer.active.kid, r.kid);
    await store.close();
  });
});

describe('signing-key rotation: admin API', () => {
  const tmp = tempDir('kube-sgx-rotation-api-');
  let platformDir: string;
  before(async () => {
    platformDir = join(tmp.dir, 'platform');
    await SimPlatform.open(platformDir, { seed: 'rotation' });
  });
  after(() => tmp.cleanup());

  test('POST /admin/signing-keys/rotate needs the admin token, validates its body, and publishes the key', async () => {
    const svc = await assembleAttestationService({ simulation: true, platformDir, adminToken: ADMIN_TOKEN }, ISSUER);
    try {
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      assert.equal((await svc.app.request('/admin/signing-keys/rotate', { method: 'POST' })).status, 401);
      for (const body of ['{"activateAfterSeconds": -5}', '{"activateAfterSeconds": "soon"}', '[1]', '{"activateAfterSeconds": 1e12}']) {
        const r = await svc.app.request('/admin/signing-keys/rotate', { method: 'POST', headers: auth, body });
        assert.equal(r.status, 400, body);
      }
      assert.equal((await svc.app.request('/admin/signing-keys/rotate', { method: 'POST', headers: auth, body: '{' })).status, 400);
      assert.equal((await (await svc.app.request('/certs')).json() as { keys: unknown[] }).keys.length, 1, 'refused requests added nothing');

      for (const body of ['{"revokePrevious": "yes"}', '{"revokePrevious": true, "activateAfterSeconds": 60}']) {
        assert.equal((await svc.app.request('/admin/signing-keys/rotate', { method: 'POST', headers: auth, body })).status, 400, body);
      }
      const r = await svc.app.request('/admin/signing-keys/rotate', { method: 'POST', headers: auth, body: '{"activateAfterSeconds": 600}' });
      assert.equal(r.status, 201);
      const made = (await r.json()) as { kid: string; keys: Array<{ kid: string; state: string }> };
      assert.deepEqual(made.keys.map((k) => k.state), ['active', 'next']);
      const certs = (await (await svc.app.request('/certs')).json()) as { keys: Array<{ kid: string }> };
      assert.ok(certs.keys.some((k) => k.kid === made.kid));
      const list = (await (await svc.app.request('/admin/signing-keys', { headers: auth })).json()) as { keys: Array<{ kid: string }> };
      assert.deepEqual(list.keys.map((k) => k.kid), made.keys.map((k) => k.kid));
      const status = (await (await svc.app.request('/status')).json()) as { signingKeys: Array<{ state: string }> };
      assert.deepEqual(status.signingKeys.map((k) => k.state), ['active', 'next']);
      const revoke = await svc.app.request('/admin/signing-keys/rotate', { method: 'POST', headers: auth, body: '{"revokePrevious": true}' });
      assert.equal(revoke.status, 201);
      const revoked = (await revoke.json()) as { kid: string; keys: Array<{ kid: string; state: string }> };
      assert.deepEqual(revoked.keys.map((k) => (k.kid === revoked.kid ? 'new' : k.state)).sort(), ['new', 'retired', 'retired']);
      assert.equal(revoked.keys.find((k) => k.kid === revoked.kid)?.state, 'active');
      assert.deepEqual(((await (await svc.app.request('/certs')).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid), [revoked.kid]);
    } finally {
      await svc.dispose();
    }
  });
});

describe('signing-key rotation: kubernetes store', () => {
  test('rotated keys are Secrets of their own, revocations update them; Secrets from before rotation read as active since created', async () => {
    const kube = await startFakeKube();
    try {
      const store = new KubernetesStore({ kubeConfig: kube.kubeConfig, namespace: 'kube-sgx' });
      const vault = new Vault(randomBytes(32));
      const signer = await TokenSigner.open(store, vault, ISSUER);
      const next = await signer.rotate(HOUR);
      const names = [...kube.objects.values()].filter((o) => o.metadata.labels?.['kube-sgx.dev/kind'] === 'signing-key').map((o) => o.metadata.name).sort();
      assert.equal(names.length, 2);
      assert.ok(names.includes('kube-sgx-signing-key'));
      const replica = await TokenSigner.open(new KubernetesStore({ kubeConfig: kube.kubeConfig, namespace: 'kube-sgx' }), vault, ISSUER);
      assert.deepEqual(replica.describeKeys().map((k) => [k.kid, k.state]), [[signer.active.kid, 'active'], [next.kid, 'next']]);
      // Revocation is written into the existing Secrets and read back by every replica.
      const fresh = await signer.rotate(0, true);
      await replica.refresh();
      assert.deepEqual(replica.describeKeys().map((k) => (k.kid === fresh.kid ? k.state : `old:${k.state}`)).sort(), ['active', 'old:retired', 'old:retired']);
      assert.equal(replica.active.kid, fresh.kid);
      // A Secret written before rotation existed has no activeFrom.
      const first = [...kube.objects.values()].find((o) => o.metadata.name === 'kube-sgx-signing-key')!;
      const data = first.data as Record<string, string>;
      const createdAt = Number(Buffer.from(data.createdAt!, 'base64').toString());
      delete data.activeFrom;
      delete data.revokedAt;
      const legacy = await store.listSigningKeys();
      assert.equal(legacy[0]!.activeFrom, createdAt);
      assert.equal(legacy[0]!.revokedAt, undefined);
    } finally {
      await kube.close();
    }
  });
});
