/**
 * The state seam. Everything the service must not keep only in one
 * process's memory lives behind this interface: the token signing key,
 * versioned policies, registered secrets and KBS (RCAR) sessions.
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

/**
 * A KBS (Trustee RCAR) handshake, keyed by its `kbs-session-id` cookie: made
 * by /kbs/v0/auth with a fresh nonce, given its token by a successful
 * /kbs/v0/attest (after which the cookie alone fetches resources).
 */
export interface StoredKbsSession {
  /** 32 lowercase hex digits (the cookie value). */
  id: string;
  /** The `tee` of the Request ("sgx", "tdx"). */
  tee: string;
  /** The Challenge nonce: base64 of 32 random bytes. */
  nonce: string;
  expiresAt: number;
  /** Set once, by the first successful attestation. */
  token?: string;
}

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

  /** Creates a session; durable when the promise resolves. */
  putKbsSession(session: StoredKbsSession): Promise<void>;
  /** The session, expired or not (the caller decides); undefined when unknown or swept. */
  getKbsSession(id: string): Promise<StoredKbsSession | undefined>;
  /**
   * Records the token of a successful attestation unless the session has one
   * already, atomically: returns the token in force afterwards (the first
   * writer's), or undefined when the session no longer exists.
   */
  attestKbsSession(id: string, token: string): Promise<string | undefined>;

  close(): Promise<void>;
}
