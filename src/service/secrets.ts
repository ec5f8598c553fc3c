/** Registered secrets: value sealed under the KEK, release policy validated at registration. */
import { KubeSgxError } from '../errors.js';
import { parseReleasePolicy, type ReleasePolicy } from './skr.js';
import type { Store } from './store/types.js';
import type { Vault } from './vault.js';

/** Up to three path segments, like KBS's repository/type/tag. */
export const SECRET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,2}$/;
export const MAX_SECRET_BYTES = 64 * 1024;

const ctx = (name: string) => `secret:${name}`;

export function checkSecretName(name: string): void {
  if (!SECRET_NAME_RE.test(name) || name.split('/').some((s) => s === '.' || s === '..')) {
    throw new KubeSgxError('INVALID_REQUEST', `secret name ${JSON.stringify(name)} is invalid (1–3 segments of [A-Za-z0-9._-], separated by "/")`, { path: ['name'] });
  }
}

export interface SecretMetadata {
  name: string;
  releasePolicy: unknown;
  createdAt: string;
  updatedAt: string;
}

export class SecretService {
  constructor(
    private readonly store: Store,
    private readonly vault: Vault,
  ) {}

  /** Durable when it resolves (the store commits before acknowledging). */
  async register(name: string, value: Uint8Array, releasePolicy: unknown): Promise<{ created: boolean; meta: SecretMetadata }> {
    checkSecretName(name);
    if (value.length === 0 || value.length > MAX_SECRET_BYTES) throw new KubeSgxError('INVALID_REQUEST', `secret value must be 1..${MAX_SECRET_BYTES} bytes`, { path: ['value'] });
    parseReleasePolicy(releasePolicy);
    const now = Date.now();
    const prev = await this.store.getSecret(name);
    const rec = { name, releasePolicy: JSON.stringify(releasePolicy), sealedValue: this.vault.seal(value, ctx(name)), createdAt: prev?.createdAt ?? now, updatedAt: now };
    await this.store.putSecret(rec);
    return { created: !prev, meta: meta(rec) };
  }

  async metadata(name: string): Promise<SecretMetadata> {
    checkSecretName(name);
    const s = await this.store.getSecret(name);
    if (!s) throw new KubeSgxError('SECRET_NOT_FOUND', `no secret named ${JSON.stringify(name)}`, { path: ['name'] });
    return meta(s);
  }

  list(): Promise<string[]> {
    return this.store.listSecretNames();
  }

  async remove(name: string): Promise<void> {
    checkSecretName(name);
    if (!(await this.store.deleteSecret(name))) throw new KubeSgxError('SECRET_NOT_FOUND', `no secret named ${JSON.stringify(name)}`, { path: ['name'] });
  }

  /** The plaintext and its policy, for a release decision. */
  async forRelease(name: string): Promise<{ value: Uint8Array; policy: ReleasePolicy }> {
    checkSecretName(name);
    const s = await this.store.getSecret(name);
    if (!s) throw new KubeSgxError('SECRET_NOT_FOUND', `no secret named ${JSON.stringify(name)}`, { path: ['name'] });
    return { value: this.vault.open(s.sealedValue, ctx(name)), policy: parseReleasePolicy(s.releasePolicy) };
  }
}

function meta(s: { name: string; releasePolicy: string; createdAt: number; updatedAt: number }): SecretMetadata {
  return { name: s.name, releasePolicy: JSON.parse(s.releasePolicy) as unknown, createdAt: new Date(s.createdAt).toISOString(), updatedAt: new Date(s.updatedAt).toISOString() };
}
