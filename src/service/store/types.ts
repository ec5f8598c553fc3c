/**
 * The state seam. Everything the service must not keep only in one
 * process's memory lives behind this interface: the token signing key,
 * versioned policies, registered secrets and single-use KBS challenges.
 * Implementations: SQLite (one machine, `--data-dir`) and Kubernetes Secrets
 * (N replicas). Values that are secret arrive already sealed under the KEK
 * (see vault.ts): a store never sees plaintext secrets or private keys.
 */

export interface StoredSigningKey {
  kid: string;
  /** base64 DER of the self-signed certificate. */
  certificateDer: string;
  /** PKCS#8 private key, sealed under the KEK (vault.ts envelope, base64). */
  sealedPrivateKey: string;
  createdAt: number;
  /** When tokens start being signed with it (ms); published in /certs from createdAt on. */
  activeFrom: number;
  /** Set when the key was withdrawn at once (suspected compromise): from then on it is neither published nor trusted. */
  revokedAt?: number;
}

export interface StoredPolicyVersion {
  attestationType: string;
  version: number;
  /** Policy text; `null` = reset to the built-in default. */
  text: string | null;
  createdAt: number;
}

export interface StoredSecret {
  name: string;
  /** Release policy JSON (SKR grammar) as text; not secret. */
  releasePolicy: string;
  /** The secret value, sealed under the KEK (base64). */
  sealedValue: string;
  createdAt: number;
  updatedAt: number;
}

export type ChallengeOutcome = 'ok' | 'unknown' | 'used' | 'expired';

export interface Store {
  readonly kind: 'sqlite' | 'kubernetes';
  /** Adds the key unless one exists; returns the key now in force (the winner of a race). */
  ensureSigningKey(candidate: () => Promise<StoredSigningKey>): Promise<StoredSigningKey[]>;
  /** Oldest first (by activeFrom, then createdAt). */
  listSigningKeys(): Promise<StoredSigningKey[]>;
  /** Adds a key (rotation); durable when the promise resolves. */
  addSigningKey(key: StoredSigningKey): Promise<void>;
  /** Marks keys revoked from `at` on (ms); durable when the promise resolves. Unknown kids are ignored. */
  revokeSigningKeys(kids: string[], at: number): Promise<void>;

  /** The newest policy version for a type, if any was ever set. */
  currentPolicy(attestationType: string): Promise<StoredPolicyVersion | undefined>;
  /** Appends a new version (text null = reset); returns it. */
  appendPolicy(attestationType: string, text: string | null, now: number): Promise<StoredPolicyVersion>;
  listPolicyVersions(attestationType: string): Promise<StoredPolicyVersion[]>;

  /** Creates or replaces; durable when the promise resolves. */
  putSecret(secret: StoredSecret): Promise<void>;
  getSecret(name: string): Promise<StoredSecret | undefined>;
  listSecretNames(): Promise<string[]>;
  deleteSecret(name: string): Promise<boolean>;

  putChallenge(nonce: string, expiresAt: number): Promise<void>;
  /** Atomically marks the nonce used; exactly one caller ever gets 'ok'. */
  consumeChallenge(nonce: string, now: number): Promise<ChallengeOutcome>;

  close(): Promise<void>;
}
