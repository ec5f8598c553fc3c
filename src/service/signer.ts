/**
 * The token signer: an RSA-2048 key with a self-signed certificate per
 * installation, kept (sealed) in the store so every replica and every
 * restart signs with the same `kid`. Tokens are RS256 JWTs with `kid`,
 * `jku` and also `x5c` in the header: @azure/attestation 1.0.0 caches
 * /certs for a client's lifetime and falls back to the header `x5c`.
 *
 * Rotation adds the next key to the store with a later `activeFrom`: it is
 * in /certs at once and signs from then on; the key it replaces stays in
 * /certs for the longest token lifetime more, then retires.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { jwtVerify, decodeProtectedHeader, type JWTPayload } from 'jose';
import { KubeSgxError } from '../errors.js';
import { generateSigningCertificate, kidForCertificate } from './certs.js';
import type { Store, StoredSigningKey } from './store/types.js';
import type { Vault } from './vault.js';
import { TOKEN_LIFETIME_S } from './attest.js';

export interface SigningKey {
  kid: string;
  certificateDerB64: string;
  certificate: X509Certificate;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** base64url of the fixed protected header (alg, typ, kid, jku, x5c). */
  encodedHeader: string;
  createdAt: number;
  activeFrom: number;
  revokedAt?: number;
}

export interface Jwk {
  kid: string;
  kty: 'RSA';
  use: 'sig';
  alg: 'RS256';
  n: string;
  e: string;
  x5c: string[];
}

/**
 * A key's place in rotation: published before it signs (`next`), signing
 * (`active`), still published so tokens it signed keep validating
 * (`previous`), then `retired` (gone from /certs; its tokens no longer verify).
 */
export type KeyState = 'next' | 'active' | 'previous' | 'retired';

/** A superseded key stays published this long after its successor starts signing: the longest token lifetime (MAA's 8 h). */
export const KEY_RETIREMENT_MS = TOKEN_LIFETIME_S * 1000;

/** Default time between publishing a rotated key and signing with it: replicas and relying parties refresh /certs meanwhile. */
export const DEFAULT_KEY_ACTIVATION_DELAY_S = 3600;

/** A rotated key waits at most 30 days to sign. */
export const MAX_KEY_ACTIVATION_DELAY_S = 30 * 24 * 3600;

const keyContext = (kid: string) => `signing-key:${kid}`;

async function newStoredKey(vault: Vault, createdAt: number, activeFrom: number): Promise<StoredSigningKey> {
  const g = await generateSigningCertificate('kube-sgx attestation service');
  const kid = kidForCertificate(g.certificateDer);
  return {
    kid,
    certificateDer: Buffer.from(g.certificateDer).toString('base64'),
    sealedPrivateKey: vault.seal(Buffer.from(g.privateKeyPem, 'utf8'), keyContext(kid)),
    createdAt,
    activeFrom,
  };
}

/**
 * Adds the next signing key to the store: published at once, signing from
 * `now + activateAfterMs`. Works on the store directly, so it runs beside
 * the serving replicas (`kube-sgx attestation-service rotate-key`), which pick
 * it up on their next refresh.
 */
export async function rotateSigningKey(store: Store, vault: Vault, opts: { now?: number; activateAfterMs: number; revokePrevious?: boolean }): Promise<StoredSigningKey> {
  if (!Number.isSafeInteger(opts.activateAfterMs) || opts.activateAfterMs < 0) {
    throw new KubeSgxError('CONFIG_INVALID', `the activation delay must be a whole number of milliseconds >= 0, got ${opts.activateAfterMs}`);
  }
  if (opts.revokePrevious && opts.activateAfterMs !== 0) {
    throw new KubeSgxError('CONFIG_INVALID', 'revoking the previous keys withdraws them at once, so the new key must sign at once: use an activation delay of 0');
  }
  const now = opts.now ?? Date.now();
  const existing = await store.listSigningKeys();
  // Rotation follows the key the service creates on its first start, never replaces that step.
  if (!existing[0]) throw new KubeSgxError('CONFIG_INVALID', 'the store holds no signing key yet: start the service once first');
  // The KEK must open the keys already there: a key sealed under another KEK would stop every replica.
  vault.open(existing[0].sealedPrivateKey, keyContext(existing[0].kid));
  const latest = existing.reduce((m, k) => Math.max(m, k.activeFrom), 0);
  // Never schedule behind a key that is already waiting: rotations queue in order. A
  // revocation withdraws the waiting ones too, so the new key signs at once.
  const k = await newStoredKey(vault, now, opts.revokePrevious ? now : Math.max(now + opts.activateAfterMs, latest + 1));
  await store.addSigningKey(k);
  // Added first, revoked after: there is always a key to sign with.
  if (opts.revokePrevious) await store.revokeSigningKeys(existing.map((x) => x.kid), now);
  return k;
}

export class TokenSigner {
  private constructor(
    private readonly store: Store,
    private readonly vault: Vault,
    readonly issuer: string,
    private readonly now: () => number,
    private keys: SigningKey[],
  ) {}

  /** Loads the signing keys from the store, creating the installation's key on first start. */
  static async open(store: Store, vault: Vault, issuer: string, now: () => number = Date.now): Promise<TokenSigner> {
    const stored = await store.ensureSigningKey(() => {
      const t = now();
      return newStoredKey(vault, t, t);
    });
    if (stored.length === 0) throw new KubeSgxError('STORE_UNAVAILABLE', 'the store returned no signing key');
    const signer = new TokenSigner(store, vault, issuer, now, []);
    signer.keys = stored.map((k) => signer.load(k));
    return signer;
  }

  private load(k: StoredSigningKey): SigningKey {
    const certificate = new X509Certificate(Buffer.from(k.certificateDer, 'base64'));
    const privateKey = createPrivateKey(Buffer.from(this.vault.open(k.sealedPrivateKey, keyContext(k.kid))).toString('utf8'));
    const header = { alg: 'RS256', typ: 'JWT', kid: k.kid, jku: `${this.issuer}/certs`, x5c: [k.certificateDer] };
    const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
    return {
      kid: k.kid,
      certificateDerB64: k.certificateDer,
      certificate,
      privateKey,
      publicKey: createPublicKey(privateKey),
      encodedHeader,
      createdAt: k.createdAt,
      activeFrom: k.activeFrom,
      ...(k.revokedAt !== undefined ? { revokedAt: k.revokedAt } : {}),
    };
  }

  /** Re-reads the store for keys added since (by a rotation here, on another replica or from the CLI). */
  async refresh(): Promise<void> {
    const stored = await this.store.listSigningKeys();
    if (stored.length === 0) return; // never drop every key on a bad read
    const known = new Map(this.keys.map((k) => [k.kid, k]));
    this.keys = stored.map((k) => {
      const had = known.get(k.kid);
      if (!had) return this.load(k);
      // A revocation made elsewhere since this key was loaded.
      if (k.revokedAt !== undefined && had.revokedAt === undefined) had.revokedAt = k.revokedAt;
      return had;
    });
  }

  /** Adds the next key (see rotateSigningKey) and starts publishing it here at once. */
  async rotate(activateAfterMs: number, revokePrevious = false): Promise<SigningKey> {
    const k = await rotateSigningKey(this.store, this.vault, { now: this.now(), activateAfterMs, revokePrevious });
    await this.refresh();
    return this.keys.find((x) => x.kid === k.kid)!;
  }

  /** The key tokens are signed with now: the one that became active last, never a revoked one. */
  get active(): SigningKey {
    const t = this.now();
    let active = this.keys[0]!;
    for (const k of this.keys) if (k.activeFrom <= t && !this.revoked(k, t)) active = k;
    return active;
  }

  private revoked(k: SigningKey, t: number): boolean {
    return k.revokedAt !== undefined && t >= k.revokedAt;
  }

  /** When `k` leaves /certs: its revocation, else its successor's activation plus KEY_RETIREMENT_MS; undefined while neither. */
  retiresAt(k: SigningKey): number | undefined {
    if (k.revokedAt !== undefined) return k.revokedAt;
    // The successor is the next key that was not revoked (a revoked one never took over).
    const next = this.keys.slice(this.keys.indexOf(k) + 1).find((x) => x.revokedAt === undefined);
    return next === undefined ? undefined : next.activeFrom + KEY_RETIREMENT_MS;
  }

  state(k: SigningKey): KeyState {
    const t = this.now();
    if (this.revoked(k, t)) return 'retired';
    if (k === this.active) return 'active';
    if (k.activeFrom > t) return 'next';
    const r = this.retiresAt(k);
    return r !== undefined && t >= r ? 'retired' : 'previous';
  }

  /** Every key the store holds, oldest first, with its rotation state (status, admin listing). */
  describeKeys(): Array<{ kid: string; state: KeyState; activeFrom: string; retiresAt?: string; revoked?: true; certificateNotAfter: string }> {
    return this.keys.map((k) => {
      const r = this.retiresAt(k);
      return {
        kid: k.kid,
        state: this.state(k),
        activeFrom: new Date(k.activeFrom).toISOString(),
        ...(r !== undefined ? { retiresAt: new Date(r).toISOString() } : {}),
        ...(k.revokedAt !== undefined ? { revoked: true as const } : {}),
        certificateNotAfter: new Date(k.certificate.validTo).toISOString(),
      };
    });
  }

  /** The keys in /certs and accepted by verify(): all but the retired. */
  get published(): SigningKey[] {
    return this.keys.filter((k) => this.state(k) !== 'retired');
  }

  get jwksUri(): string {
    return `${this.issuer}/certs`;
  }

  jwks(): { keys: Jwk[] } {
    return {
      keys: this.published.map((k) => {
        const jwk = k.publicKey.export({ format: 'jwk' }) as { n: string; e: string };
        return { kid: k.kid, kty: 'RSA', use: 'sig', alg: 'RS256', n: jwk.n, e: jwk.e, x5c: [k.certificateDerB64] };
      }),
    };
  }

  /**
   * RS256 compact JWS. Signed with node:crypto's callback form, which runs
   * on libuv's thread pool (about twice the throughput of WebCrypto here), so
   * a second core signs while the event loop verifies the next quote. Signing
   * inline instead was tried: on the 2-core bench VM neither it nor switching
   * on event-loop utilisation gave a p99 at 500 req/s that stood out of the
   * run-to-run noise, and inline signing halved one worker's peak rate.
   * Tokens are verified with jose (tests check jose and the Azure SDK accept them).
   */
  async sign(claims: JWTPayload): Promise<string> {
    const k = this.active;
    // Only when every key in the store is revoked (rotation always adds the new key first): fail closed.
    if (this.revoked(k, this.now())) throw new KubeSgxError('STORE_UNAVAILABLE', 'every signing key in the store is revoked: rotate in a new key');
    const input = `${k.encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const sig = await new Promise<Buffer>((resolve, reject) => cryptoSign('sha256', Buffer.from(input), k.privateKey, (e, s) => (e ? reject(e) : resolve(s))));
    return `${input}.${sig.toString('base64url')}`;
  }

  /** Verifies a token this service issued (signature, iss, exp/nbf); returns its claims. */
  async verify(token: string): Promise<JWTPayload> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch (e) {
      throw new KubeSgxError('TOKEN_INVALID', 'the bearer token is not a JWS', { cause: e });
    }
    const key = this.published.find((k) => k.kid === kid);
    if (!key) throw new KubeSgxError('TOKEN_INVALID', 'the bearer token was not signed by a current key of this service (unknown or retired kid)');
    try {
      const { payload } = await jwtVerify(token, key.publicKey, { algorithms: ['RS256'], issuer: this.issuer, clockTolerance: 5, currentDate: new Date(this.now()) });
      return payload;
    } catch (e) {
      throw new KubeSgxError('TOKEN_INVALID', `the bearer token is invalid: ${(e as Error).message}`, { cause: e });
    }
  }
}
