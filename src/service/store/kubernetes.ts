/**
 * Kubernetes store: state in Secrets of one namespace, so N stateless
 * replicas share keys, policies, secrets and single-use nonces. Races are
 * settled by the API server: create returns 409 to the loser, and replace
 * with a resourceVersion returns 409 when someone else wrote first — that is
 * how exactly one replica records the token of a KBS session. Objects carry the labels
 * app.kubernetes.io/managed-by=kube-sgx and kube-sgx.dev/kind=<kind>.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { KubeSgxError } from '../../errors.js';
import { readKubeConfig } from '../../ops/kubeconfig.js';
import type { Store, StoredKbsSession, StoredPolicyVersion, StoredSecret, StoredSigningKey } from './types.js';

const MANAGED = { 'app.kubernetes.io/managed-by': 'kube-sgx' };
const KIND = 'kube-sgx.dev/kind';
const TYPE = 'kube-sgx.dev/attestation-type';

export interface KubernetesStoreOptions {
  kubeConfig?: KubeConfig;
  namespace?: string;
}

function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

const enc = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const dec = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));
const hashName = (prefix: string, s: string) => `${prefix}-${createHash('sha256').update(s).digest('hex').slice(0, 40)}`;

function field(s: V1Secret, key: string): string {
  const v = dec(s.data?.[key]);
  if (v === undefined) throw new KubeSgxError('STORE_CORRUPT', `Secret ${s.metadata?.name ?? '?'} has no data.${key}`);
  return v;
}

export function defaultNamespace(): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return 'default';
  }
}

function signingKeyData(k: StoredSigningKey): Record<string, string> {
  return { kid: k.kid, certificateDer: k.certificateDer, sealedPrivateKey: k.sealedPrivateKey, createdAt: String(k.createdAt), activeFrom: String(k.activeFrom) };
}

function sessionData(k: StoredKbsSession): Record<string, string> {
  return { id: k.id, tee: k.tee, nonce: k.nonce, expiresAt: String(k.expiresAt), ...(k.token !== undefined ? { token: k.token } : {}) };
}

function sessionFromSecret(s: V1Secret): StoredKbsSession {
  const token = dec(s.data?.token);
  return { id: field(s, 'id'), tee: field(s, 'tee'), nonce: field(s, 'nonce'), expiresAt: Number(field(s, 'expiresAt')), ...(token !== undefined ? { token } : {}) };
}

export class KubernetesStore implements Store {
  readonly kind = 'kubernetes' as const;
  private readonly api: CoreV1Api;
  readonly namespace: string;
  private puts = 0;

  constructor(opts: KubernetesStoreOptions = {}) {
    const kc = opts.kubeConfig ?? readKubeConfig(new KubeConfig(), undefined);
    this.api = kc.makeApiClient(CoreV1Api);
    this.namespace = opts.namespace ?? defaultNamespace();
  }

  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      const code = httpCode(e);
      if (code !== undefined && code !== 404 && code !== 409) {
        throw new KubeSgxError('STORE_UNAVAILABLE', `Kubernetes API: ${what} failed with HTTP ${code}`, { cause: e });
      }
      if (code === undefined) throw new KubeSgxError('STORE_UNAVAILABLE', `Kubernetes API: ${what} failed: ${(e as Error).message}`, { cause: e });
      throw e;
    }
  }

  private async read(name: string): Promise<V1Secret | undefined> {
    try {
      return await this.call(`read Secret ${name}`, () => this.api.readNamespacedSecret({ name, namespace: this.namespace }));
    } catch (e) {
      if (httpCode(e) === 404) return undefined;
      throw e;
    }
  }

  /** Creates; returns false when the name is taken (409). */
  private async create(name: string, kind: string, data: Record<string, string>, labels: Record<string, string> = {}): Promise<boolean> {
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name, namespace: this.namespace, labels: { ...MANAGED, [KIND]: kind, ...labels } },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, enc(v)])),
    };
    try {
      await this.call(`create Secret ${name}`, () => this.api.createNamespacedSecret({ namespace: this.namespace, body }));
      return true;
    } catch (e) {
      if (httpCode(e) === 409) return false;
      throw e;
    }
  }

  /** Replaces iff unchanged since `prev` was read; false on conflict. */
  private async replace(prev: V1Secret, data: Record<string, string>): Promise<boolean> {
    const name = prev.metadata!.name!;
    const body: V1Secret = { ...prev, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, enc(v)])) };
    try {
      await this.call(`replace Secret ${name}`, () => this.api.replaceNamespacedSecret({ name, namespace: this.namespace, body }));
      return true;
    } catch (e) {
      if (httpCode(e) === 409) return false;
      throw e;
    }
  }

  private async list(kind: string, extra = ''): Promise<V1Secret[]> {
    const labelSelector = `app.kubernetes.io/managed-by=kube-sgx,${KIND}=${kind}${extra}`;
    const r = await this.call(`list Secrets ${labelSelector}`, () => this.api.listNamespacedSecret({ namespace: this.namespace, labelSelector }));
    return r.items;
  }

  async ensureSigningKey(candidate: () => Promise<StoredSigningKey>): Promise<StoredSigningKey[]> {
    const name = 'kube-sgx-signing-key';
    if (!(await this.read(name))) {
      const k = await candidate();
      // Two replicas starting together: the API server picks one winner.
      await this.create(name, 'signing-key', signingKeyData(k));
    }
    return this.listSigningKeys();
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    return (await this.list('signing-key'))
      .map((s) => {
        const createdAt = Number(field(s, 'createdAt'));
        // Secrets written before key rotation have no activeFrom: active since created.
        const activeFrom = s.data?.activeFrom === undefined ? createdAt : Number(field(s, 'activeFrom'));
        const revokedAt = s.data?.revokedAt === undefined ? undefined : Number(field(s, 'revokedAt'));
        return { kid: field(s, 'kid'), certificateDer: field(s, 'certificateDer'), sealedPrivateKey: field(s, 'sealedPrivateKey'), createdAt, activeFrom, ...(revokedAt !== undefined ? { revokedAt } : {}) };
      })
      .sort((a, b) => a.activeFrom - b.activeFrom || a.createdAt - b.createdAt);
  }

  async addSigningKey(k: StoredSigningKey): Promise<void> {
    // Secret names allow [a-z0-9-.]: a digest of the kid keeps them unique and valid.
    const name = hashName('kube-sgx-signing-key', k.kid);
    if (!(await this.create(name, 'signing-key', signingKeyData(k)))) {
      throw new KubeSgxError('STORE_UNAVAILABLE', `Kubernetes API: Secret ${name} for signing key ${k.kid} already exists`);
    }
  }

  async revokeSigningKeys(kids: string[], at: number): Promise<void> {
    for (const kid of kids) {
      // Another replica may be writing the same Secret: re-read and retry on a resourceVersion conflict.
      for (let attempt = 0; ; attempt++) {
        const secret = (await this.list('signing-key')).find((s) => dec(s.data?.kid) === kid);
        if (!secret || secret.data?.revokedAt !== undefined) break;
        const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, dec(v)!]));
        if (await this.replace(secret, { ...data, revokedAt: String(at) })) break;
        if (attempt >= 20) throw new KubeSgxError('STORE_UNAVAILABLE', `Kubernetes API: could not revoke signing key ${kid} (update conflicts)`);
      }
    }
  }

  async currentPolicy(type: string): Promise<StoredPolicyVersion | undefined> {
    const all = await this.listPolicyVersions(type);
    return all[all.length - 1];
  }

  async appendPolicy(type: string, text: string | null, now: number): Promise<StoredPolicyVersion> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await this.currentPolicy(type);
      const version = (cur?.version ?? 0) + 1;
      const data: Record<string, string> = { attestationType: type, version: String(version), createdAt: String(now), isDefault: text === null ? '1' : '0', text: text ?? '' };
      if (await this.create(`kube-sgx-policy-${type.toLowerCase()}-${version}`, 'policy', data, { [TYPE]: type.toLowerCase() })) {
        return { attestationType: type, version, text, createdAt: now };
      }
    }
    throw new KubeSgxError('STORE_UNAVAILABLE', `could not append a policy version for ${type}: too much contention`);
  }

  async listPolicyVersions(type: string): Promise<StoredPolicyVersion[]> {
    return (await this.list('policy', `,${TYPE}=${type.toLowerCase()}`))
      .map((s) => ({
        attestationType: type,
        version: Number(field(s, 'version')),
        text: field(s, 'isDefault') === '1' ? null : field(s, 'text'),
        createdAt: Number(field(s, 'createdAt')),
      }))
      .sort((a, b) => a.version - b.version);
  }

  async putSecret(s: StoredSecret): Promise<void> {
    const name = hashName('kube-sgx-secret', s.name);
    const data = { name: s.name, releasePolicy: s.releasePolicy, sealedValue: s.sealedValue, createdAt: String(s.createdAt), updatedAt: String(s.updatedAt) };
    for (let attempt = 0; attempt < 20; attempt++) {
      const prev = await this.read(name);
      if (!prev) {
        if (await this.create(name, 'secret', data)) return;
      } else if (await this.replace(prev, { ...data, createdAt: field(prev, 'createdAt') })) return;
    }
    throw new KubeSgxError('STORE_UNAVAILABLE', `could not write secret ${s.name}: too much contention`);
  }

  async getSecret(name: string): Promise<StoredSecret | undefined> {
    const s = await this.read(hashName('kube-sgx-secret', name));
    if (!s) return undefined;
    return { name: field(s, 'name'), releasePolicy: field(s, 'releasePolicy'), sealedValue: field(s, 'sealedValue'), createdAt: Number(field(s, 'createdAt')), updatedAt: Number(field(s, 'updatedAt')) };
  }

  async listSecretNames(): Promise<string[]> {
    return (await this.list('secret')).map((s) => field(s, 'name')).sort();
  }

  async deleteSecret(name: string): Promise<boolean> {
    const objName = hashName('kube-sgx-secret', name);
    try {
      await this.call(`delete Secret ${objName}`, () => this.api.deleteNamespacedSecret({ name: objName, namespace: this.namespace }));
      return true;
    } catch (e) {
      if (httpCode(e) === 404) return false;
      throw e;
    }
  }

  async putKbsSession(k: StoredKbsSession): Promise<void> {
    if (!(await this.create(hashName('kube-sgx-kbs-session', k.id), 'kbs-session', sessionData(k)))) {
      throw new KubeSgxError('STORE_CORRUPT', 'KBS session id collision');
    }
    if (++this.puts % 100 === 0) void this.sweepSessions().catch(() => undefined);
  }

  async getKbsSession(id: string): Promise<StoredKbsSession | undefined> {
    const s = await this.read(hashName('kube-sgx-kbs-session', id));
    return s && sessionFromSecret(s);
  }

  async attestKbsSession(id: string, token: string): Promise<string | undefined> {
    // Replace with the resourceVersion read: of two replicas attesting one session, the API server lets one write.
    for (let attempt = 0; attempt < 20; attempt++) {
      const prev = await this.read(hashName('kube-sgx-kbs-session', id));
      if (!prev) return undefined;
      const cur = sessionFromSecret(prev);
      if (cur.token !== undefined) return cur.token;
      if (await this.replace(prev, sessionData({ ...cur, token }))) return token;
    }
    throw new KubeSgxError('STORE_UNAVAILABLE', `could not record the attestation of KBS session ${id}: too much contention`);
  }

  /** Deletes sessions that expired more than an hour ago. */
  private async sweepSessions(): Promise<void> {
    const cutoff = Date.now() - 3_600_000;
    for (const s of await this.list('kbs-session')) {
      if (Number(field(s, 'expiresAt')) < cutoff) {
        await this.api.deleteNamespacedSecret({ name: s.metadata!.name!, namespace: this.namespace }).catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {}
}
