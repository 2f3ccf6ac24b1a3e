/**
 * One step of a collection's migration, run by its Durable Object's alarm (./manager.ts):
 * - `copying`, phase `reset`: the new index is emptied (an index of that model kept from an
 *   earlier setting or a rolled-back migration is stale); writes go to the old index alone until
 *   then, and to both from the next phase on;
 * - phase `copy`: after the settle time, the next page of the old index (its images
 *   that are not failed, by id) is accepted into the new index (`copyIn`: an id the new index
 *   already has, or deleted meanwhile, is left alone, since a write that reached it directly is
 *   newer) and queued for the consumer, which re-embeds the kept original (R2) or the source URL
 *   with the new model through the same queue and guarantees as any upsert. A page is read only
 *   while fewer than `inFlight` images are pending in the new index, so the copy yields to live
 *   indexing rather than filling the queue ahead of it.
 * - phase `verify`: the old index is read through again and every image must be settled in the new
 *   one; what is missing is copied, what is pending is waited for, and the pass starts over until
 *   one finds nothing. Then the alias switches (one SQLite write in the collection's object).
 * - `switched`: at the end of the rollback period the old index is deleted (`retired`).
 */
import { z } from 'zod';
import { enqueueUpserts, upsertMessage } from '../../core/contract/queue-messages';
import { type EmbeddingSpace, indexKey } from '../../core/contract/spaces';
import { type Env, parseVars } from '../env';
import { type AcceptedEvent, type CopiedImage, writerFor } from '../index';
import type { MigrationRow } from './schema';

export interface MigrationSettings {
  /** How long after its start a migration begins copying. */
  settleMs: number;
  /** How long after a switch a rollback is possible (and writes still go to both indexes). */
  rollbackMs: number;
  /** Images read from the old index per copy step. */
  pageSize: number;
  /** Pending images in the new index above which the copy waits. */
  inFlight: number;
  /** Faults in a row after which a migration ends failed. */
  maxFaults: number;
}

const DEFAULT_MIGRATION_ROLLBACK_S = 24 * 3600;
const DEFAULT_MIGRATION_SETTLE_S = 5;

const SettingsSchema = z.object({
  MIGRATION_ROLLBACK_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600)
    .default(DEFAULT_MIGRATION_ROLLBACK_S),
  MIGRATION_SETTLE_S: z.coerce.number().int().min(0).max(600).default(DEFAULT_MIGRATION_SETTLE_S),
});

/** The settings from the Worker's vars (unset or empty: the defaults); 500 when invalid. */
export function migrationSettings(
  env: Partial<Pick<Env, 'MIGRATION_ROLLBACK_S' | 'MIGRATION_SETTLE_S'>>,
): MigrationSettings {
  const vars = parseVars(SettingsSchema, env);
  return {
    settleMs: vars.MIGRATION_SETTLE_S * 1000,
    rollbackMs: vars.MIGRATION_ROLLBACK_S * 1000,
    pageSize: 100,
    inFlight: 200,
    maxFaults: 10,
  };
}

/** Where a step records its changes: the collection's object, each change checked against the row. */
export interface MigrationLedger {
  commit(id: string, expect: { state: string; phase?: string }, change: Partial<MigrationRow>): boolean;
}

/** When the alarm should run the next step (null: nothing left to do). */
export interface StepOutcome {
  nextAt: number | null;
}

const fromSpace = (m: MigrationRow): EmbeddingSpace => ({
  model: m.from_model,
  version: m.from_version,
  dim: m.from_dim,
});
export const toSpace = (m: MigrationRow): EmbeddingSpace => ({
  model: m.to_model,
  version: m.to_version,
  dim: m.to_dim,
});

/** Runs one step of migration `m` of `collection` at `now`. */
export async function step(
  manager: MigrationLedger,
  env: Env,
  collection: string,
  m: MigrationRow,
  now: number,
): Promise<StepOutcome> {
  const settings = migrationSettings(env);
  const from = fromSpace(m);
  const to = toSpace(m);
  const oldWriter = writerFor(env, indexKey(from, collection));
  if (m.state === 'switched') {
    if (m.rollback_until !== null && now < m.rollback_until) return { nextAt: m.rollback_until };
    await oldWriter.retireIndex();
    manager.commit(m.id, { state: 'switched' }, { state: 'retired', finished_at: Date.now() });
    return { nextAt: null };
  }
  if (m.state !== 'copying') return { nextAt: null };
  const newWriter = writerFor(env, indexKey(to, collection));
  if (m.phase === 'reset') {
    await newWriter.retireIndex();
    const settleUntil = Date.now() + settings.settleMs;
    manager.commit(m.id, { state: 'copying', phase: 'reset' }, { phase: 'copy', settle_until: settleUntil });
    return { nextAt: settleUntil };
  }
  if (now < m.settle_until) return { nextAt: m.settle_until };
  const pending = (await newWriter.stats())?.counts.pending ?? 0;

  if (m.phase === 'copy') {
    if (pending >= settings.inFlight) return { nextAt: now + 500 };
    const page = await oldWriter.exportPage(m.cursor, settings.pageSize);
    const accepted = await copy(env, collection, to, page.images);
    const copied = m.copied + accepted;
    manager.commit(
      m.id,
      { state: 'copying', phase: 'copy' },
      page.next === null
        ? { phase: 'verify', cursor: null, found_missing: 0, copied }
        : { cursor: page.next, copied },
    );
    return { nextAt: Date.now() + (page.next === null ? 500 : 0) };
  }

  // Verify: every image of the old index settled in the new one, or a pass starts over.
  const page = await oldWriter.exportPage(m.cursor, 500);
  const { absent, pending: unsettled } = await newWriter.settledOf(page.images.map((i) => i.id));
  const missing = new Set(absent);
  const accepted = await copy(
    env,
    collection,
    to,
    page.images.filter((i) => missing.has(i.id)),
  );
  const found = m.found_missing === 1 || absent.length > 0 || unsettled.length > 0;
  const copied = m.copied + accepted;
  if (page.next !== null) {
    manager.commit(
      m.id,
      { state: 'copying', phase: 'verify' },
      { cursor: page.next, found_missing: found ? 1 : 0, copied },
    );
    return { nextAt: Date.now() };
  }
  if (found) {
    manager.commit(m.id, { state: 'copying', phase: 'verify' }, { cursor: null, found_missing: 0, copied });
    return { nextAt: Date.now() + 1000 };
  }
  const at = Date.now();
  manager.commit(
    m.id,
    { state: 'copying', phase: 'verify' },
    { state: 'switched', switched_at: at, rollback_until: at + settings.rollbackMs, copied },
  );
  return { nextAt: at + settings.rollbackMs };
}

/** Accepts `images` into the new index (those it has no record or tombstone of) and queues them. */
async function copy(
  env: Env,
  collection: string,
  to: EmbeddingSpace,
  images: CopiedImage[],
): Promise<number> {
  if (images.length === 0) return 0;
  const index = indexKey(to, collection);
  const accepted: AcceptedEvent[] = await writerFor(env, index).copyIn({ ...index, dim: to.dim }, images);
  const byId = new Map(images.map((i) => [i.id, i]));
  const at = new Date().toISOString();
  await enqueueUpserts(
    env.INDEX_QUEUE,
    accepted.map((a) => upsertMessage(index, byId.get(a.id) as CopiedImage, a.seq, at)),
  );
  return accepted.length;
}
