/**
 * The writer's reconciler (src/edge/index/writer/reconciler.ts) on the real writer, queue and
 * consumer: upserts accepted by the writer whose queue messages never left (accepted directly,
 * as if the Worker died between `accept` and the send) are sent again once their check time has
 * come, and the consumer, running in the background on the real local queue, indexes them.
 * A queue that loses every message it is given (what the reconciler exists for) shows the backoff
 * and the give-up. The clock is the `now` passed to the run; everything else is real.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpsertMessage, UpsertQueue } from '../../../src/core/contract/queue-messages';
import type { IndexWriter } from '../../../src/edge/index';
import {
  DEFAULT_RECONCILE_AFTER_S,
  DEFAULT_RECONCILE_MAX_REENQUEUES,
  reconcile,
  reconcileSettings,
} from '../../../src/edge/index/writer/reconciler';
import { MIGRATIONS, migrate } from '../../../src/edge/index/writer/schema';
import type { StandIn } from '../support/encoder-stand-in';
import { png, record, space, stored, uniq, writer } from '../support/queue-fixtures';
import { installDemoEncoder } from '../support/search-fixtures';

const AFTER_MS = DEFAULT_RECONCILE_AFTER_S * 1000;

let standIn: StandIn;
beforeAll(async () => {
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

/** Accepts upserts of stored demo images with the writer only: their messages are "lost". */
async function acceptedOnly(collection: string, n: number) {
  const ids = Array.from({ length: n }, (_, i) => `${collection}-${i}`);
  const events = await Promise.all(
    ids.map(async (id, i) => ({
      op: 'upsert' as const,
      id,
      source: await stored(`rec/${id}.png`, png(i % 2 ? 'demo-0001' : 'demo-0005')),
      metadata: { i },
    })),
  );
  const accepted = await writer(collection).accept({ collection, ...space }, events);
  return { ids, accepted, acceptedAt: Date.now() };
}

/** Runs the reconciler of `collection`'s writer at `now`, sending through `queue`. */
function runAt(collection: string, now: number, queue: UpsertQueue) {
  return runInDurableObject(writer(collection), async (instance: IndexWriter, state) => {
    const meta = instance.catalogueStore.meta();
    if (!meta) throw new Error('no index');
    return reconcile(
      { storage: state.storage, catalogue: instance.catalogueStore, queue },
      meta,
      reconcileSettings(env),
      now,
    );
  });
}

/** A queue that takes every message and loses it, recording what it was given. */
function losingQueue() {
  const sent: UpsertMessage[] = [];
  const queue: UpsertQueue = {
    sendBatch: async (messages) => {
      for (const m of messages) sent.push(m.body);
    },
  };
  return { queue, sent };
}

async function untilSettled(collection: string, ids: string[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(ids.map(async (id) => (await record(collection, id))?.state));
    if (states.every((s) => s !== 'pending') || Date.now() > deadline) return states;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the reconciler', () => {
  it('sends pending records with no news to the queue again once due; the consumer indexes them', async () => {
    const collection = uniq('rec-real');
    const { ids, acceptedAt } = await acceptedOnly(collection, 4);
    // Not yet due: nothing is sent.
    expect(await runAt(collection, acceptedAt + AFTER_MS - 1000, env.INDEX_QUEUE)).toEqual({
      reenqueued: 0,
      failed: 0,
      unsent: 0,
    });
    expect(await untilSettled(collection, ids, 1500)).toEqual(ids.map(() => 'pending'));
    // Due: all four go to the real queue again and end indexed, each once.
    expect(await runAt(collection, acceptedAt + AFTER_MS + 1000, env.INDEX_QUEUE)).toEqual({
      reenqueued: 4,
      failed: 0,
      unsent: 0,
    });
    expect(await untilSettled(collection, ids)).toEqual(ids.map(() => 'indexed'));
    const stats = await writer(collection).stats();
    expect(stats?.counts).toEqual({ pending: 0, indexed: 4, failed: 0 });
    expect(stats?.reconciler).toEqual({ reenqueued: 4, failed: 0 });
    const catalogue = await writer(collection).catalogue();
    expect(catalogue?.count).toBe(4);
    // Settled records are never sent again.
    expect((await runAt(collection, acceptedAt + 100 * AFTER_MS, env.INDEX_QUEUE)).reenqueued).toBe(0);
  });

  it('sends the latest seq only, and waits twice as long after each send', async () => {
    const collection = uniq('rec-backoff');
    const { ids, accepted, acceptedAt } = await acceptedOnly(collection, 1);
    const [newer] = await writer(collection).accept({ collection, ...space }, [
      { op: 'upsert', id: ids[0] as string, source: { r2_key: 'rec/missing.png' }, metadata: { v: 2 } },
    ]);
    expect(newer?.seq).toBeGreaterThan(accepted[0]?.seq as number);
    const lost = losingQueue();
    // Sends at after, then 2x and 4x later; no send between them.
    const at = (k: number) => acceptedAt + AFTER_MS * k + 1000;
    expect((await runAt(collection, at(1), lost.queue)).reenqueued).toBe(1);
    expect((await runAt(collection, at(2), lost.queue)).reenqueued).toBe(0);
    expect((await runAt(collection, at(3), lost.queue)).reenqueued).toBe(1);
    expect((await runAt(collection, at(6), lost.queue)).reenqueued).toBe(0);
    expect((await runAt(collection, at(7), lost.queue)).reenqueued).toBe(1);
    expect(lost.sent.map((m) => [m.id, m.seq, m.metadata])).toEqual(
      Array.from({ length: 3 }, () => [ids[0], newer?.seq, { v: 2 }]),
    );
    expect(lost.sent[0]).toMatchObject({
      collection,
      model: space.model,
      version: space.version,
      source: { r2_key: 'rec/missing.png' },
    });
  });

  it(`ends a record failed (not_processed) after ${DEFAULT_RECONCILE_MAX_REENQUEUES} sends without an outcome`, async () => {
    const collection = uniq('rec-giveup');
    const { ids, acceptedAt } = await acceptedOnly(collection, 2);
    const lost = losingQueue();
    let now = acceptedAt;
    for (let k = 0; k < DEFAULT_RECONCILE_MAX_REENQUEUES; k++) {
      now += AFTER_MS * 2 ** k;
      expect(await runAt(collection, now + 1000, lost.queue)).toEqual({
        reenqueued: 2,
        failed: 0,
        unsent: 0,
      });
    }
    now += AFTER_MS * 2 ** DEFAULT_RECONCILE_MAX_REENQUEUES;
    expect(await runAt(collection, now + 1000, lost.queue)).toEqual({ reenqueued: 0, failed: 2, unsent: 0 });
    for (const id of ids) {
      const r = await record(collection, id);
      expect(r?.state).toBe('failed');
      expect(r?.error?.code).toBe('not_processed');
      expect(r?.error?.message).toMatch(/send the image again/);
    }
    expect((await writer(collection).stats())?.reconciler).toEqual({
      reenqueued: 2 * DEFAULT_RECONCILE_MAX_REENQUEUES,
      failed: 2,
    });
  });

  it('tries again at the next period when the queue refuses the messages, counting no send', async () => {
    const collection = uniq('rec-refused');
    const { acceptedAt } = await acceptedOnly(collection, 1);
    const refusing: UpsertQueue = {
      sendBatch: async () => {
        throw new Error('queue unavailable');
      },
    };
    expect(await runAt(collection, acceptedAt + AFTER_MS + 1000, refusing)).toEqual({
      reenqueued: 0,
      failed: 0,
      unsent: 1,
    });
    expect((await runAt(collection, acceptedAt + AFTER_MS + 2000, refusing)).unsent).toBe(0);
    const lost = losingQueue();
    expect((await runAt(collection, acceptedAt + 2 * AFTER_MS + 2000, lost.queue)).reenqueued).toBe(1);
    expect((await writer(collection).stats())?.reconciler.reenqueued).toBe(1);
  });

  it('refuses settings that are not whole numbers in range (500 misconfigured)', () => {
    expect(reconcileSettings({})).toEqual({
      afterMs: DEFAULT_RECONCILE_AFTER_S * 1000,
      maxReenqueues: DEFAULT_RECONCILE_MAX_REENQUEUES,
    });
    expect(reconcileSettings({ RECONCILE_AFTER_S: '2', RECONCILE_MAX_REENQUEUES: '0' })).toEqual({
      afterMs: 2000,
      maxReenqueues: 0,
    });
    for (const bad of [
      { RECONCILE_AFTER_S: '0' },
      { RECONCILE_AFTER_S: 'soon' },
      { RECONCILE_MAX_REENQUEUES: '-1' },
    ]) {
      expect(() => reconcileSettings(bad)).toThrow(
        expect.objectContaining({ status: 500, code: 'misconfigured' }),
      );
    }
  });

  it('upgrades a writer of schema 1: its pending records become due at once', async () => {
    const collection = uniq('rec-schema1');
    await acceptedOnly(collection, 1);
    const row = await runInDurableObject(writer(collection), (_instance: IndexWriter, state) => {
      const sql = state.storage.sql;
      // Back to schema 1 as an older deployment left it: no reconciler columns.
      sql.exec('DROP TABLE records; DROP TABLE segments; DROP TABLE dead_rows; DELETE FROM schema_version');
      sql.exec(MIGRATIONS[0] as string);
      sql.exec('INSERT INTO schema_version (v) VALUES (1)');
      sql.exec(
        `INSERT INTO records (id, state, seq, source, metadata, accepted_at, updated_at)
         VALUES ('old', 'pending', 7, '{"r2_key":"rec/old.png"}', '{}', 1000, 2000)`,
      );
      migrate(sql);
      return {
        version: sql.exec<{ v: number }>('SELECT v FROM schema_version').one().v,
        record: sql.exec('SELECT enqueues, check_at FROM records WHERE id = ?', 'old').one(),
      };
    });
    expect(row).toEqual({ version: MIGRATIONS.length, record: { enqueues: 0, check_at: 2000 } });
    const lost = losingQueue();
    expect((await runAt(collection, Date.now(), lost.queue)).reenqueued).toBe(1);
    expect(lost.sent.map((m) => [m.id, m.seq])).toEqual([['old', 7]]);
  });
});
