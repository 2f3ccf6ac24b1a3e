/**
 * The API keys of the Worker: one Durable Object (named `keys`) holds every key's record in
 * SQLite; the secret itself is never stored, only its SHA-256 (secrets.ts). It is the one
 * authority on a key: isolates cache what it answers for KEY_CACHE_S (principal.ts), so a
 * revocation is seen everywhere within that time.
 */
import { DurableObject } from 'cloudflare:workers';
import type { KeyLimits, Scope } from '../../core/contract/key-schemas';
import type { Env } from '../env';

/** A key's record as stored and as the isolates cache it. */
export interface KeyRecord {
  id: string;
  name: string;
  /** Lowercase hex SHA-256 of the whole secret. */
  hash: string;
  prefix: string;
  scopes: Scope[];
  collections: string[] | null;
  origins: string[] | null;
  /** Unix ms, or null when it does not expire. */
  expires_at: number | null;
  limits: KeyLimits;
  created_at: number;
  revoked_at: number | null;
}

interface Row extends Record<string, SqlStorageValue> {
  id: string;
  name: string;
  hash: string;
  prefix: string;
  scopes: string;
  collections: string | null;
  origins: string | null;
  expires_at: number | null;
  limits: string;
  created_at: number;
  revoked_at: number | null;
}

const fromRow = (r: Row): KeyRecord => ({
  id: r.id,
  name: r.name,
  hash: r.hash,
  prefix: r.prefix,
  scopes: JSON.parse(r.scopes),
  collections: r.collections === null ? null : JSON.parse(r.collections),
  origins: r.origins === null ? null : JSON.parse(r.origins),
  expires_at: r.expires_at,
  limits: JSON.parse(r.limits),
  created_at: r.created_at,
  revoked_at: r.revoked_at,
});

/** At most this many keys (live and revoked) per Worker: a guard, not a product limit. */
export const MAX_KEYS = 10_000;

export class KeyRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS keys (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, prefix TEXT NOT NULL,
      scopes TEXT NOT NULL, collections TEXT, origins TEXT, expires_at INTEGER,
      limits TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER)`);
  }

  /** Stores a new key; false when the registry is full. */
  async create(record: KeyRecord): Promise<boolean> {
    const n = Number(this.sql.exec('SELECT COUNT(*) AS n FROM keys').one().n);
    if (n >= MAX_KEYS) return false;
    this.sql.exec(
      `INSERT INTO keys (id, name, hash, prefix, scopes, collections, origins, expires_at, limits, created_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
      record.id,
      record.name,
      record.hash,
      record.prefix,
      JSON.stringify(record.scopes),
      record.collections === null ? null : JSON.stringify(record.collections),
      record.origins === null ? null : JSON.stringify(record.origins),
      record.expires_at,
      JSON.stringify(record.limits),
      record.created_at,
    );
    return true;
  }

  /** The key `id`, revoked or not; null when there is none. */
  async get(id: string): Promise<KeyRecord | null> {
    const rows = this.sql.exec<Row>('SELECT * FROM keys WHERE id = ?', id).toArray();
    return rows.length ? fromRow(rows[0] as Row) : null;
  }

  /** Every key, newest first. */
  async list(): Promise<KeyRecord[]> {
    return this.sql
      .exec<Row>('SELECT * FROM keys ORDER BY created_at DESC, id')
      .toArray()
      .map((r) => fromRow(r as Row));
  }

  /** Revokes `id` (idempotent); null when there is no such key. */
  async revoke(id: string): Promise<KeyRecord | null> {
    this.sql.exec('UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', Date.now(), id);
    return this.get(id);
  }
}

/** The one registry of this Worker. */
export function keyRegistry(env: Env): DurableObjectStub<KeyRegistry> {
  return env.KEYS.get(env.KEYS.idFromName('keys'));
}
