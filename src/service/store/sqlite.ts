/**
 * SQLite store (better-sqlite3, synchronous API). WAL journal with
 * synchronous=FULL: a transaction is fsynced to the WAL before commit
 * returns, so an acknowledged write survives SIGKILL and power loss
 * (NORMAL would only survive process death). Calls are synchronous and
 * short; promises keep the Store interface uniform with Kubernetes.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { KubeSgxError } from '../../errors.js';
import type { Store, StoredKbsSession, StoredPolicyVersion, StoredSecret, StoredSigningKey } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY, certificate_der TEXT NOT NULL, sealed_private_key TEXT NOT NULL, created_at INTEGER NOT NULL,
  active_from INTEGER, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS policies (
  attestation_type TEXT NOT NULL, version INTEGER NOT NULL, text TEXT, created_at INTEGER NOT NULL,
  PRIMARY KEY (attestation_type, version));
CREATE TABLE IF NOT EXISTS secrets (
  name TEXT PRIMARY KEY, release_policy TEXT NOT NULL, sealed_value TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kbs_sessions (
  id TEXT PRIMARY KEY, tee TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, token TEXT);
`;

interface PolicyRow { attestation_type: string; version: number; text: string | null; created_at: number }
interface KeyRow { kid: string; certificate_der: string; sealed_private_key: string; created_at: number; active_from: number | null; revoked_at: number | null }
interface SessionRow { id: string; tee: string; nonce: string; expires_at: number; token: string | null }
interface SecretRow { name: string; release_policy: string; sealed_value: string; created_at: number; updated_at: number }

/**
 * Makes the database file (created empty if missing) and any -wal/-shm left
 * from an earlier run mode 0600, whatever the directory's mode or the umask.
 * SQLite creates -wal and -shm with the database file's permissions, so the
 * ones it makes later are 0600 too.
 */
function ownerOnly(dbPath: string): void {
  const fd = openSync(dbPath, 'a', 0o600);
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
  for (const suffix of ['-wal', '-shm', '-journal']) {
    try {
      chmodSync(dbPath + suffix, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;

  /** `dataDir` undefined = in-memory database (tests, throwaway runs). */
  constructor(dataDir?: string) {
    try {
      if (dataDir !== undefined) {
        mkdirSync(dataDir, { recursive: true, mode: 0o700 });
        ownerOnly(join(dataDir, 'attestation.db'));
      }
      this.db = new Database(dataDir === undefined ? ':memory:' : join(dataDir, 'attestation.db'));
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
      // Databases from before key rotation: add the column; NULL reads as "active since created".
      const cols = this.db.prepare('PRAGMA table_info(signing_keys)').all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === 'active_from')) this.db.exec('ALTER TABLE signing_keys ADD COLUMN active_from INTEGER');
      if (!cols.some((c) => c.name === 'revoked_at')) this.db.exec('ALTER TABLE signing_keys ADD COLUMN revoked_at INTEGER');
    } catch (e) {
      throw new KubeSgxError('STORE_UNAVAILABLE', `cannot open SQLite store in ${dataDir ?? ':memory:'}: ${(e as Error).message}`, { cause: e });
    }
  }

  async ensureSigningKey(candidate: () => Promise<StoredSigningKey>): Promise<StoredSigningKey[]> {
    const existing = await this.listSigningKeys();
    if (existing.length > 0) return existing;
    const k = await candidate();
    // Several processes may share the file (--workers): insert only if still empty, atomically.
    this.db
      .transaction(() => {
        const n = (this.db.prepare('SELECT COUNT(*) AS n FROM signing_keys').get() as { n: number }).n;
        if (n === 0) this.insertSigningKey(k);
      })
      .immediate();
    return this.listSigningKeys();
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    const rows = this.db.prepare('SELECT * FROM signing_keys ORDER BY COALESCE(active_from, created_at), created_at, kid').all() as KeyRow[];
    return rows.map((r) => ({
      kid: r.kid,
      certificateDer: r.certificate_der,
      sealedPrivateKey: r.sealed_private_key,
      createdAt: r.created_at,
      activeFrom: r.active_from ?? r.created_at,
      ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
    }));
  }

  async revokeSigningKeys(kids: string[], at: number): Promise<void> {
    const stmt = this.db.prepare('UPDATE signing_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL');
    this.db.transaction(() => {
      for (const kid of kids) stmt.run(at, kid);
    })();
  }

  private insertSigningKey(k: StoredSigningKey): void {
    this.db
      .prepare('INSERT INTO signing_keys (kid, certificate_der, sealed_private_key, created_at, active_from) VALUES (?, ?, ?, ?, ?)')
      .run(k.kid, k.certificateDer, k.sealedPrivateKey, k.createdAt, k.activeFrom);
  }

  async addSigningKey(k: StoredSigningKey): Promise<void> {
    try {
      this.insertSigningKey(k);
    } catch (e) {
      throw new KubeSgxError('STORE_UNAVAILABLE', `cannot add signing key ${k.kid}: ${(e as Error).message}`, { cause: e });
    }
  }

  async currentPolicy(type: string): Promise<StoredPolicyVersion | undefined> {
    const r = this.db
      .prepare('SELECT * FROM policies WHERE attestation_type = ? ORDER BY version DESC LIMIT 1')
      .get(type) as PolicyRow | undefined;
    return r && policyFromRow(r);
  }

  async appendPolicy(type: string, text: string | null, now: number): Promise<StoredPolicyVersion> {
    const tx = this.db.transaction(() => {
      const max = this.db.prepare('SELECT MAX(version) AS v FROM policies WHERE attestation_type = ?').get(type) as { v: number | null };
      const version = (max.v ?? 0) + 1;
      this.db.prepare('INSERT INTO policies (attestation_type, version, text, created_at) VALUES (?, ?, ?, ?)').run(type, version, text, now);
      return version;
    });
    const version = tx.immediate();
    return { attestationType: type, version, text, createdAt: now };
  }

  async listPolicyVersions(type: string): Promise<StoredPolicyVersion[]> {
    const rows = this.db.prepare('SELECT * FROM policies WHERE attestation_type = ? ORDER BY version').all(type) as PolicyRow[];
    return rows.map(policyFromRow);
  }

  async putSecret(s: StoredSecret): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO secrets (name, release_policy, sealed_value, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET release_policy = excluded.release_policy, sealed_value = excluded.sealed_value, updated_at = excluded.updated_at`,
      )
      .run(s.name, s.releasePolicy, s.sealedValue, s.createdAt, s.updatedAt);
  }

  async getSecret(name: string): Promise<StoredSecret | undefined> {
    const r = this.db.prepare('SELECT * FROM secrets WHERE name = ?').get(name) as SecretRow | undefined;
    return r && { name: r.name, releasePolicy: r.release_policy, sealedValue: r.sealed_value, createdAt: r.created_at, updatedAt: r.updated_at };
  }

  async listSecretNames(): Promise<string[]> {
    return (this.db.prepare('SELECT name FROM secrets ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  }

  async deleteSecret(name: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM secrets WHERE name = ?').run(name).changes > 0;
  }

  async putKbsSession(k: StoredKbsSession): Promise<void> {
    this.db.prepare('INSERT INTO kbs_sessions (id, tee, nonce, expires_at, token) VALUES (?, ?, ?, ?, ?)').run(k.id, k.tee, k.nonce, k.expiresAt, k.token ?? null);
    // Opportunistic cleanup keeps the table small (an hour past expiry, so a late cookie reads as expired, not unknown).
    this.db.prepare('DELETE FROM kbs_sessions WHERE expires_at < ?').run(Date.now() - 3_600_000);
  }

  async getKbsSession(id: string): Promise<StoredKbsSession | undefined> {
    const r = this.db.prepare('SELECT id, tee, nonce, expires_at, token FROM kbs_sessions WHERE id = ?').get(id) as SessionRow | undefined;
    return r && sessionFromRow(r);
  }

  async attestKbsSession(id: string, token: string): Promise<string | undefined> {
    const tx = this.db.transaction((): string | undefined => {
      this.db.prepare('UPDATE kbs_sessions SET token = ? WHERE id = ? AND token IS NULL').run(token, id);
      const r = this.db.prepare('SELECT token FROM kbs_sessions WHERE id = ?').get(id) as { token: string | null } | undefined;
      return r?.token ?? undefined;
    });
    return tx.immediate();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function sessionFromRow(r: SessionRow): StoredKbsSession {
  return { id: r.id, tee: r.tee, nonce: r.nonce, expiresAt: r.expires_at, ...(r.token !== null ? { token: r.token } : {}) };
}

function policyFromRow(r: PolicyRow): StoredPolicyVersion {
  return { attestationType: r.attestation_type, version: r.version, text: r.text, createdAt: r.created_at };
}
