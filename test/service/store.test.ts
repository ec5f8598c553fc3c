import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KubeSgxError } from '../../src/errors.js';
import { SqliteStore } from '../../src/service/store/sqlite.js';
import { KubernetesStore } from '../../src/service/store/kubernetes.js';
import type { Store, StoredSigningKey } from '../../src/service/store/types.js';
import { Vault, parseKek, loadKek } from '../../src/service/vault.js';
import { TokenSigner } from '../../src/service/signer.js';
import { startFakeKube } from './fake-kube.js';

const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-store-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const key = (kid: string): StoredSigningKey => ({ kid, certificateDer: 'AAAA', sealedPrivateKey: 'BBBB', createdAt: 1, activeFrom: 1 });

async function exerciseStore(store: Store): Promise<void> {
  // signing key: the first candidate wins, later calls don't create another
  const k1 = await store.ensureSigningKey(async () => key('k1'));
  const k2 = await store.ensureSigningKey(async () => key('k2'));
  assert.deepEqual(k1.map((k) => k.kid), ['k1']);
  assert.deepEqual(k2.map((k) => k.kid), ['k1']);

  // policies are versioned; reset is a version with text null
  assert.equal(await store.currentPolicy('SgxEnclave'), undefined);
  assert.equal((await store.appendPolicy('SgxEnclave', 'version=1.0; a', 10)).version, 1);
  assert.equal((await store.appendPolicy('SgxEnclave', null, 11)).version, 2);
  assert.equal((await store.appendPolicy('OpenEnclave', 'x', 12)).version, 1);
  assert.deepEqual(
    (await store.listPolicyVersions('SgxEnclave')).map((v) => [v.version, v.text]),
    [[1, 'version=1.0; a'], [2, null]],
  );
  assert.equal((await store.currentPolicy('SgxEnclave'))?.text, null);

  // secrets: create, replace keeps createdAt, list, delete
  await store.putSecret({ name: 'a/b/c', releasePolicy: '{}', sealedValue: 's1', createdAt: 5, updatedAt: 5 });
  await store.putSecret({ name: 'a/b/c', releasePolicy: '{"x":1}', sealedValue: 's2', createdAt: 9, updatedAt: 9 });
  const s = await store.getSecret('a/b/c');
  assert.deepEqual([s?.sealedValue, s?.releasePolicy, s?.createdAt, s?.updatedAt], ['s2', '{"x":1}', 5, 9]);
  await store.putSecret({ name: 'z', releasePolicy: '{}', sealedValue: 's', createdAt: 1, updatedAt: 1 });
  assert.deepEqual(await store.listSecretNames(), ['a/b/c', 'z']);
  assert.equal(await store.deleteSecret('z'), true);
  assert.equal(await store.deleteSecret('z'), false);
  assert.equal(await store.getSecret('z'), undefined);

  // KBS sessions: created, read back, and given a token exactly once even when attested concurrently
  const now = Date.now();
  await store.putKbsSession({ id: 'a'.repeat(32), tee: 'sgx', nonce: 'bm9uY2U=', expiresAt: now + 60_000 });
  assert.deepEqual(await store.getKbsSession('a'.repeat(32)), { id: 'a'.repeat(32), tee: 'sgx', nonce: 'bm9uY2U=', expiresAt: now + 60_000 });
  const winners = await Promise.all(['t1', 't2', 't3', 't4', 't5'].map((t) => store.attestKbsSession('a'.repeat(32), t)));
  assert.equal(new Set(winners).size, 1, 'every caller sees the same (first) token');
  assert.equal((await store.getKbsSession('a'.repeat(32)))?.token, winners[0]);
  assert.equal(await store.attestKbsSession('a'.repeat(32), 'later'), winners[0]);
  assert.equal(await store.getKbsSession('b'.repeat(32)), undefined);
  assert.equal(await store.attestKbsSession('b'.repeat(32), 't'), undefined);
  await assert.rejects(store.putKbsSession({ id: 'a'.repeat(32), tee: 'tdx', nonce: 'x', expiresAt: now }));
}

describe('stores', () => {
  test('SQLite store: keys, versioned policies, secrets, KBS sessions; state survives reopen', async () => {
    const dir = join(tmp, 'sqlite');
    const store = new SqliteStore(dir);
    await exerciseStore(store);
    await store.close();
    const again = new SqliteStore(dir);
    assert.deepEqual((await again.listSigningKeys()).map((k) => k.kid), ['k1']);
    assert.equal((await again.getSecret('a/b/c'))?.sealedValue, 's2');
    assert.equal((await again.listPolicyVersions('SgxEnclave')).length, 2);
    await again.close();
  });

  test('Kubernetes store against an API server on 127.0.0.1', async () => {
    const kube = await startFakeKube();
    try {
      const store = new KubernetesStore({ kubeConfig: kube.kubeConfig, namespace: 'kube-sgx' });
      await exerciseStore(store);
      // state is Secrets with kube-sgx labels, and a second replica sees it
      const names = [...kube.objects.keys()];
      assert.ok(names.includes('kube-sgx/kube-sgx-signing-key'));
      assert.ok(names.some((n) => n.startsWith('kube-sgx/kube-sgx-policy-sgxenclave-')));
      const replica = new KubernetesStore({ kubeConfig: kube.kubeConfig, namespace: 'kube-sgx' });
      assert.equal((await replica.getSecret('a/b/c'))?.sealedValue, 's2');
      assert.deepEqual((await replica.ensureSigningKey(async () => key('other'))).map((k) => k.kid), ['k1']);
      // concurrent policy appends from two replicas get distinct versions
      const [a, b] = await Promise.all([store.appendPolicy('SgxEnclave', 'p', 1), replica.appendPolicy('SgxEnclave', 'q', 1)]);
      assert.notEqual(a.version, b.version);
    } finally {
      await kube.close();
    }
  });

  test('Kubernetes store: API failures are STORE_UNAVAILABLE, not crashes', async () => {
    const kube = await startFakeKube();
    const url = kube.url;
    await kube.close();
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'x', server: url }], users: [{ name: 'u', token: 'fake-token' }], contexts: [{ name: 'c', cluster: 'x', user: 'u' }], currentContext: 'c' });
    const store = new KubernetesStore({ kubeConfig: kc, namespace: 'n' });
    await assert.rejects(store.getSecret('x'), (e: unknown) => e instanceof KubeSgxError && e.code === 'STORE_UNAVAILABLE');
  });

  test('vault: seals with context binding; wrong KEK or moved ciphertext fails closed', () => {
    const v = new Vault(randomBytes(32));
    const sealed = v.seal(Buffer.from('hunter2'), 'secret:a');
    assert.ok(!Buffer.from(sealed, 'base64').includes(Buffer.from('hunter2')));
    assert.equal(Buffer.from(v.open(sealed, 'secret:a')).toString(), 'hunter2');
    assert.throws(() => v.open(sealed, 'secret:b'), /SEALED|cannot unseal/);
    assert.throws(() => new Vault(randomBytes(32)).open(sealed, 'secret:a'), (e: unknown) => e instanceof KubeSgxError && e.code === 'SEALED_VALUE_INVALID');
    assert.throws(() => new Vault(randomBytes(16)), (e: unknown) => e instanceof KubeSgxError && e.code === 'KEK_INVALID');
  });

  test('KEK formats and sources', () => {
    const raw = randomBytes(32);
    assert.deepEqual(Buffer.from(parseKek(raw.toString('hex'), 'x')), raw);
    assert.deepEqual(Buffer.from(parseKek(raw.toString('base64'), 'x')), raw);
    assert.deepEqual(Buffer.from(parseKek(new Uint8Array(raw), 'x')), raw);
    assert.throws(() => parseKek('short', 'x'), /KEK|expected 32/);
    assert.equal(loadKek({ env: { KUBE_SGX_KEK: raw.toString('hex') } }).origin, 'env:KUBE_SGX_KEK');
    const gen = join(tmp, 'kek-gen');
    const a = loadKek({ env: {}, generatedPath: gen });
    const b = loadKek({ env: {}, generatedPath: gen });
    assert.deepEqual(a.kek, b.kek);
  });

  test('signer: same kid after reopening the store; private key sealed at rest', async () => {
    const dir = join(tmp, 'signer');
    const kek = randomBytes(32);
    const s1 = new SqliteStore(dir);
    const signer1 = await TokenSigner.open(s1, new Vault(kek), 'https://issuer.test');
    const token = await signer1.sign({ hello: 'world', iss: 'https://issuer.test', exp: Math.floor(Date.now() / 1000) + 60 });
    const stored = await s1.listSigningKeys();
    assert.ok(!Buffer.from(stored[0]!.sealedPrivateKey, 'base64').toString('latin1').includes('PRIVATE KEY'));
    await s1.close();
    const s2 = new SqliteStore(dir);
    const signer2 = await TokenSigner.open(s2, new Vault(kek), 'https://issuer.test');
    assert.equal(signer2.active.kid, signer1.active.kid);
    assert.equal((await signer2.verify(token)).hello, 'world');
    await assert.rejects(TokenSigner.open(s2, new Vault(randomBytes(32)), 'https://issuer.test'), /wrong KEK/);
    await s2.close();
  });
});
