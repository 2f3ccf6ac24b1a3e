/**
 * The writer's SQLite schema (Durable Object storage): the index's identity (meta), one record
 * per image, the segments that make up the index, and the rows of live segments that no longer
 * count. Tables are created on first use; a later change adds a numbered migration:
 * 2. the reconciler's columns: how often a pending record was sent to the queue again
 *    (`enqueues`) and when it is looked at next if nothing happens to it (`check_at`);
 * 3. tombstones: ids deleted recently, so that a migration's copy of an image never brings back
 *    one deleted meanwhile (kept 7 days);
 * 4. search shards: the shard that holds each segment (../shard-plan.ts), all on shard 0 before.
 */
import { applyMigrations } from '../../sql-migrations';

export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS records (
     id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     seq INTEGER NOT NULL,
     source TEXT,
     metadata TEXT NOT NULL,
     caption TEXT,
     expected_sha256 TEXT,
     content_sha256 TEXT,
     error_code TEXT,
     error_message TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     segment TEXT,
     row INTEGER,
     accepted_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX IF NOT EXISTS records_state ON records (state, accepted_at);
   CREATE INDEX IF NOT EXISTS records_segment ON records (segment);
   CREATE TABLE IF NOT EXISTS segments (
     id TEXT PRIMARY KEY,
     key TEXT NOT NULL,
     etag TEXT NOT NULL,
     count INTEGER NOT NULL,
     live INTEGER NOT NULL,
     bytes INTEGER NOT NULL,
     checksum TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     retired_at INTEGER
   );
   CREATE TABLE IF NOT EXISTS dead_rows (
     segment TEXT NOT NULL,
     row INTEGER NOT NULL,
     PRIMARY KEY (segment, row)
   );`,
  `ALTER TABLE records ADD COLUMN enqueues INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE records ADD COLUMN check_at INTEGER;
   UPDATE records SET check_at = updated_at WHERE state = 'pending';
   CREATE INDEX IF NOT EXISTS records_check ON records (state, check_at);`,
  `CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, deleted_at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS tombstones_age ON tombstones (deleted_at);`,
  `ALTER TABLE segments ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;`,
];

/** One row of `records`, as SQLite returns it. */
export interface RecordRow extends Record<string, SqlStorageValue> {
  id: string;
  state: string;
  seq: number;
  source: string | null;
  metadata: string;
  caption: string | null;
  expected_sha256: string | null;
  content_sha256: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  segment: string | null;
  row: number | null;
  accepted_at: number;
  updated_at: number;
  /** Times the reconciler sent this pending record to the queue again. */
  enqueues: number;
  /** When the reconciler looks at this pending record next (ms since the epoch). */
  check_at: number | null;
}

/** One row of `segments`. */
export interface SegmentRow extends Record<string, SqlStorageValue> {
  id: string;
  key: string;
  etag: string;
  count: number;
  live: number;
  bytes: number;
  checksum: string;
  state: string;
  created_at: number;
  retired_at: number | null;
  /** The search shard that holds it. */
  shard: number;
}

/** Brings this database's tables to the latest schema (inside the caller's transaction). */
export function migrate(sql: SqlStorage): void {
  applyMigrations(sql, MIGRATIONS);
}
