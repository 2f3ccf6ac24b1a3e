/**
 * A collection's SQLite (its Durable Object, ./manager.ts): the model it reads and writes when a
 * request names none (`meta`), and its migrations, one row each. Numbered migrations as the index
 * writer's (../index/writer/schema.ts).
 */
import { applyMigrations } from '../sql-migrations';

export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS migrations (
     id TEXT PRIMARY KEY,
     n INTEGER NOT NULL,
     from_model TEXT NOT NULL,
     from_version TEXT NOT NULL,
     from_dim INTEGER NOT NULL,
     to_model TEXT NOT NULL,
     to_version TEXT NOT NULL,
     to_dim INTEGER NOT NULL,
     state TEXT NOT NULL,
     phase TEXT NOT NULL,
     cursor TEXT,
     found_missing INTEGER NOT NULL DEFAULT 0,
     copied INTEGER NOT NULL DEFAULT 0,
     total INTEGER,
     started_at INTEGER NOT NULL,
     settle_until INTEGER NOT NULL,
     switched_at INTEGER,
     rollback_until INTEGER,
     finished_at INTEGER,
     error TEXT,
     faults INTEGER NOT NULL DEFAULT 0
   );`,
];

/** One row of `migrations`. */
export interface MigrationRow extends Record<string, SqlStorageValue> {
  id: string;
  n: number;
  from_model: string;
  from_version: string;
  from_dim: number;
  to_model: string;
  to_version: string;
  to_dim: number;
  /** MigrationState of core/contract/collection-schemas.ts. */
  state: string;
  /**
   * While copying: `reset` (the new index is emptied: what it held came from an earlier time),
   * `copy` (reading the old index through), then `verify` (until nothing is missing).
   */
  phase: string;
  /** The last id read of the old index in this pass. */
  cursor: string | null;
  /** 1 when the current verify pass found images missing from the new index. */
  found_missing: number;
  copied: number;
  total: number | null;
  started_at: number;
  /** Copying starts then: writes that chose their indexes before dual writes began have landed. */
  settle_until: number;
  switched_at: number | null;
  rollback_until: number | null;
  finished_at: number | null;
  error: string | null;
  /** Faults in a row of the copy step (backoff; too many ends the migration failed). */
  faults: number;
}

/** Brings this database's tables to the latest schema (inside the caller's transaction). */
export function migrate(sql: SqlStorage): void {
  applyMigrations(sql, MIGRATIONS);
}
