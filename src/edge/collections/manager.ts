/**
 * One Durable Object per collection (`collectionFor`): the model the collection reads and writes
 * when a request names none (its alias; the Worker's DEFAULT_MODEL until an admin sets one), and
 * its migrations from one model to another, driven by this object's alarm (./migration.ts).
 *
 * While a migration copies, reads stay on the old model and writes go to both indexes; when every
 * image is settled in the new index the alias switches in one step (one SQLite write), and writes
 * go on to both until the rollback period ends, so a rollback loses nothing; then the old index is
 * deleted. Calls interleave around the alarm's awaits: every state change re-reads the row and
 * checks it is still the state the change expects.
 */
import { DurableObject } from 'cloudflare:workers';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import type { Env } from '../env';
import { migrationSettings, type StepOutcome, step } from './migration';
import { type MigrationRow, migrate } from './schema';

/** Where a collection's requests go: the model reads use, and the indexes writes go to. */
export interface Routing {
  /** The model a read without `model` uses (null: the Worker's default). */
  model: string | null;
  /** During a migration and its rollback period: the two spaces, the one reads use first. */
  writes: EmbeddingSpace[] | null;
  /** The migration running or in its rollback period. */
  migration: MigrationRow | null;
}

/**
 * A refused change, as the routes answer it (errors thrown across Durable Object RPC keep only
 * their message, so refusals travel as values).
 */
export interface Refusal {
  refused: { status: 404 | 409; code: string; message: string };
}

const ACTIVE = "state IN ('copying', 'switched')";

export class CollectionManager extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.storage.transactionSync(() => migrate(this.sql));
  }

  private get(k: string): string | undefined {
    return this.sql.exec<{ v: string }>('SELECT v FROM meta WHERE k = ?', k).toArray()[0]?.v;
  }

  private set(k: string, v: string): void {
    this.sql.exec('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v', k, v);
  }

  private active(): MigrationRow | null {
    return this.sql.exec<MigrationRow>(`SELECT * FROM migrations WHERE ${ACTIVE}`).toArray()[0] ?? null;
  }

  /** @internal a migration by id (the alarm's step re-reads it after every await). */
  row(id: string): MigrationRow | null {
    return this.sql.exec<MigrationRow>('SELECT * FROM migrations WHERE id = ?', id).toArray()[0] ?? null;
  }

  /** What a request of this collection reads and writes. */
  async routing(): Promise<Routing> {
    const model = this.get('model') ?? null;
    const m = this.active();
    if (!m) return { model, writes: null, migration: null };
    const from = { model: m.from_model, version: m.from_version, dim: m.from_dim };
    const to = { model: m.to_model, version: m.to_version, dim: m.to_dim };
    // While the new index is being emptied (`reset`), writes go to the old one alone.
    const writes = m.state === 'switched' ? [to, from] : m.phase === 'reset' ? [from] : [from, to];
    return { model, writes, migration: m };
  }

  /** Points the collection at `model` (refused with 409 `migration_running` while one is active). */
  async setModel(model: string): Promise<Refusal | { model: string }> {
    if (this.active()) return migrationRunning();
    this.set('model', model);
    return { model };
  }

  /**
   * Starts moving the collection from `from` (the model it reads now) to `to`: 409 when one is
   * active; the first copy step waits `settleMs`, so that writes that chose their indexes before
   * the migration began have landed.
   */
  async startMigration(
    collection: string,
    from: EmbeddingSpace,
    to: EmbeddingSpace,
    total: number,
  ): Promise<Refusal | MigrationRow> {
    if (this.active()) return migrationRunning();
    const now = Date.now();
    const n = Number(this.get('migrations') ?? '0') + 1;
    const id = `m${n}-${crypto.randomUUID().slice(0, 8)}`;
    const settle = migrationSettings(this.env).settleMs;
    this.ctx.storage.transactionSync(() => {
      this.set('collection', collection);
      this.set('migrations', String(n));
      this.sql.exec(
        `INSERT INTO migrations (id, n, from_model, from_version, from_dim, to_model, to_version, to_dim, state,
           phase, total, started_at, settle_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'copying', 'reset', ?, ?, ?)`,
        id,
        n,
        from.model,
        from.version,
        from.dim,
        to.model,
        to.version,
        to.dim,
        total,
        now,
        now + settle,
      );
    });
    await this.ctx.storage.setAlarm(now);
    return this.row(id) as MigrationRow;
  }

  /** A migration by id (refused with 404 `migration_not_found`). */
  async migration(id: string): Promise<Refusal | MigrationRow> {
    return this.row(id) ?? notFound(id);
  }

  /**
   * Back to the old model after a switch, within the rollback period (409 `rollback_closed`
   * otherwise): the alias returns to the old model in one step and writes go to it alone again.
   */
  async rollback(id: string): Promise<Refusal | MigrationRow> {
    const row = this.row(id);
    if (!row) return notFound(id);
    const now = Date.now();
    if (row.state !== 'switched' || row.rollback_until === null || now >= row.rollback_until) {
      return {
        refused: {
          status: 409,
          code: 'rollback_closed',
          message: `migration ${id} is ${row.state}: only a switched migration rolls back, within its rollback period`,
        },
      };
    }
    this.ctx.storage.transactionSync(() => {
      this.set('model', row.from_model);
      this.sql.exec("UPDATE migrations SET state = 'rolled_back', finished_at = ? WHERE id = ?", now, id);
    });
    return this.row(id) as MigrationRow;
  }

  /** @internal the copy step's state changes (./migration.ts), each checked against the row. */
  commit(id: string, expect: { state: string; phase?: string }, change: Partial<MigrationRow>): boolean {
    const row = this.row(id);
    if (!row || row.state !== expect.state || (expect.phase !== undefined && row.phase !== expect.phase))
      return false;
    const entries = Object.entries(change);
    this.ctx.storage.transactionSync(() => {
      if (entries.length > 0) {
        this.sql.exec(
          `UPDATE migrations SET ${entries.map(([k]) => `${k} = ?`).join(', ')} WHERE id = ?`,
          ...entries.map(([, v]) => v as SqlStorageValue),
          id,
        );
      }
      if (change.state === 'switched') this.set('model', row.to_model);
    });
    return true;
  }

  /** Drives the active migration one step, and sets the alarm for the next. */
  override async alarm(): Promise<void> {
    const m = this.active();
    const collection = this.get('collection');
    if (!m || collection === undefined) return;
    let outcome: StepOutcome;
    try {
      outcome = await step(this, this.env, collection, m, Date.now());
    } catch (error) {
      const faults = m.faults + 1;
      const settings = migrationSettings(this.env);
      console.warn(`collection migration ${m.id}: step failed (${faults} in a row)`, error);
      if (faults >= settings.maxFaults) {
        this.commit(
          m.id,
          { state: m.state },
          {
            state: 'failed',
            error: `stopped after ${faults} faults in a row: ${String(error).slice(0, 300)}`,
            finished_at: Date.now(),
          },
        );
        return;
      }
      this.commit(m.id, { state: m.state }, { faults });
      await this.ctx.storage.setAlarm(Date.now() + Math.min(60_000, 1000 * 2 ** faults));
      return;
    }
    if (m.faults > 0) this.commit(m.id, { state: m.state }, { faults: 0 });
    if (outcome.nextAt !== null) await this.ctx.storage.setAlarm(outcome.nextAt);
  }
}

const migrationRunning = (): Refusal => ({
  refused: {
    status: 409,
    code: 'migration_running',
    message: 'a migration of this collection is running or in its rollback period',
  },
});

const notFound = (id: string): Refusal => ({
  refused: { status: 404, code: 'migration_not_found', message: `no migration '${id}' in this collection` },
});
