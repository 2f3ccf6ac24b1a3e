/**
 * Numbered schema migrations of a Durable Object's SQLite (the index writer's, a collection's):
 * `migrations[v]` takes a database from version v to v + 1; a new database runs them all.
 */

/** Applies the migrations this database has not seen yet (inside the caller's transaction). */
export function applyMigrations(sql: SqlStorage, migrations: readonly string[]): void {
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL)');
  const current = sql.exec<{ v: number }>('SELECT v FROM schema_version').toArray()[0]?.v ?? 0;
  for (let v = current; v < migrations.length; v++) sql.exec(migrations[v] as string);
  if (current === 0) sql.exec('INSERT INTO schema_version (v) VALUES (?)', migrations.length);
  else if (current < migrations.length) sql.exec('UPDATE schema_version SET v = ?', migrations.length);
}
