/**
 * The index writer: one Durable Object per index (collection, model id, model version), the only
 * code that changes an index. SQLite (./schema.ts) holds the records and the catalogue; vectors
 * live in immutable R2 segments. Upserts are accepted as `pending` with an arrival number (seq),
 * the queue consumer embeds them and hands the vectors to `apply`, which appends a delta segment;
 * deletes are applied when accepted. Compaction merges segments, retired ones are deleted after
 * a grace period, and the reconciler (./reconciler.ts) sends pending records whose queue message
 * was lost to the queue again. How it stays correct while calls interleave around its R2 awaits:
 * docs/indexing.md ("The writer").
 */
import { DurableObject } from 'cloudflare:workers';
import type { IndexStats } from '../../../core/contract/ingest-schemas';
import type { IndexKey } from '../../../core/contract/spaces';
import type { SegmentEncoding, SegmentItem } from '../../../core/index-format/segment';
import type { Env } from '../../env';
import type {
  AcceptedEvent,
  ApplyItem,
  CatalogueView,
  CopiedImage,
  PlanItem,
  RecordView,
  WriterEvent,
} from '../contract';
import { Catalogue, type IndexMeta } from './catalogue';
import { compactionPlan, compactSegments } from './compaction';
import {
  nextCheck,
  type ReconcileRun,
  type ReconcileSettings,
  reconcile,
  reconcileSettings,
} from './reconciler';
import { migrate, type RecordRow } from './schema';
import { writeSegments } from './segment-writer';

/** How long a retired segment stays in R2 for readers that still hold an older catalogue. */
export const RETIRE_GRACE_MS = 60_000;

/** How long a deleted id is remembered (a migration running longer could copy it back). */
export const TOMBSTONE_MS = 7 * 24 * 3600 * 1000;

/** What accept() needs to know of the index the first time it is written. */
export interface WriterSpace extends IndexKey {
  dim: number;
  encoding?: SegmentEncoding;
  /** Rows per segment (tests use small ones to get several segments). */
  segment_rows?: number;
  /** Rows per search shard (tests and benchmarks use small ones to get several shards). */
  shard_rows?: number;
}

export class IndexWriter extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly cat: Catalogue;
  private compacting = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.storage.transactionSync(() => migrate(this.sql));
    this.cat = new Catalogue(this.sql);
    // An index from before search shards has every segment on shard 0: placed on as many shards
    // as it needs when its writer first starts (a new generation, as any catalogue change).
    ctx.storage.transactionSync(() => {
      if (this.cat.rebalanceShards()) this.cat.bumpGeneration(Date.now());
    });
    // Pending records of an earlier run (or of a writer from before the reconciler) get an alarm.
    void ctx.blockConcurrencyWhile(() => this.scheduleMaintenance());
  }

  private get reconcileSettings(): ReconcileSettings {
    return reconcileSettings(this.env);
  }

  /**
   * Records events in arrival order. Upserts become `pending` with the next seq (the vector of an
   * indexed image stays searchable until the new one is applied); deletes are applied at once.
   */
  async accept(space: WriterSpace, events: WriterEvent[]): Promise<AcceptedEvent[]> {
    const now = Date.now();
    const checkAt = nextCheck(now, this.reconcileSettings, 0);
    const accepted = this.ctx.storage.transactionSync(() => {
      this.cat.init(space);
      const accepted: AcceptedEvent[] = [];
      let changed = false;
      for (const event of events) {
        const seq = this.cat.nextSeq();
        if (event.op === 'delete') {
          changed = this.cat.deleteRecord(event.id, now) || changed;
        } else {
          this.cat.upsertPending(event, seq, now, checkAt);
        }
        accepted.push({ id: event.id, op: event.op, seq });
      }
      if (changed) this.cat.bumpGeneration(now);
      return accepted;
    });
    await this.scheduleMaintenance();
    return accepted;
  }

  /**
   * A migration's copy: accepts the images as upserts (as `accept` does) except those this index
   * already has a record or a tombstone of, because a write that reached this index directly is
   * newer than any copy. Answers what was accepted, in order.
   */
  async copyIn(space: WriterSpace, images: CopiedImage[]): Promise<AcceptedEvent[]> {
    const now = Date.now();
    const checkAt = nextCheck(now, this.reconcileSettings, 0);
    return this.ctx.storage.transactionSync(() => {
      this.cat.init(space);
      const absent = this.cat.absent(images.map((i) => i.id));
      const accepted: AcceptedEvent[] = [];
      for (const image of images) {
        if (!absent.has(image.id)) continue;
        absent.delete(image.id);
        const seq = this.cat.nextSeq();
        this.cat.upsertPending({ op: 'upsert', ...image }, seq, now, checkAt);
        accepted.push({ id: image.id, op: 'upsert', seq });
      }
      return accepted;
    });
  }

  /** The images of this index that are not `failed`, by id after `after` (a migration reads them). */
  async exportPage(
    after: string | null,
    limit: number,
  ): Promise<{ images: CopiedImage[]; next: string | null }> {
    const rows = this.cat.livePage(after, Math.max(1, Math.min(limit, 500)));
    const images = rows.map((r) => ({
      id: r.id,
      source: JSON.parse(r.source ?? '{}'),
      metadata: JSON.parse(r.metadata),
      ...(r.caption === null ? {} : { caption: r.caption }),
      ...((r.content_sha256 ?? r.expected_sha256) === null
        ? {}
        : { content_sha256: (r.content_sha256 ?? r.expected_sha256) as string }),
    }));
    return { images, next: rows.length < limit ? null : (rows.at(-1)?.id ?? null) };
  }

  /** Of `ids`, those this index has neither a record nor a tombstone of, and those still pending. */
  async settledOf(ids: string[]): Promise<{ absent: string[]; pending: string[] }> {
    return { absent: [...this.cat.absent(ids)], pending: this.cat.pendingOf(ids) };
  }

  /** The most recent failures (id, the reason's code and message), at most `limit`. */
  async failures(limit: number): Promise<{ id: string; code: string; message: string }[]> {
    return this.cat.failures(Math.max(1, Math.min(limit, 100)));
  }

  /**
   * Deletes the whole index: this object's tables and alarm, then every segment in R2 (a
   * migration retires the index it moved away from). Later calls see an index never written.
   * The tables are emptied in one synchronous transaction rather than by deleteAll(): while
   * deleteAll runs, other calls (a migration's dual writes) would find no tables at all. Segments
   * go after the rows that name them, so a crash in between leaves unreferenced objects, never a
   * catalogue naming deleted ones.
   */
  async retireIndex(): Promise<{ segments: number }> {
    await this.ctx.storage.deleteAlarm();
    const keys = this.ctx.storage.transactionSync(() => {
      const segments = this.sql.exec<{ key: string }>('SELECT key FROM segments').toArray();
      for (const table of ['records', 'segments', 'dead_rows', 'tombstones', 'meta']) {
        this.sql.exec(`DELETE FROM ${table}`);
      }
      return segments.map((s) => s.key);
    });
    this.cat.forget();
    for (let i = 0; i < keys.length; i += 1000) {
      await this.env.INDEX_BUCKET.delete(keys.slice(i, i + 1000));
    }
    return { segments: keys.length };
  }

  /** What the consumer should do with each upsert message; counts an attempt on the live ones. */
  async plan(items: { id: string; seq: number; content_sha256?: string }[]): Promise<PlanItem[]> {
    // Taken up by the consumer: the reconciler leaves the record alone for another period.
    const checkAt = nextCheck(Date.now(), this.reconcileSettings, 0);
    return this.ctx.storage.transactionSync(() =>
      items.map(({ id, seq, content_sha256 }) => {
        const record = this.cat.record(id);
        if (!record || record.seq !== seq || record.state !== 'pending') return { id, seq, action: 'stale' };
        this.cat.attempt(id, checkAt);
        const sha = content_sha256 ?? record.expected_sha256;
        const same = sha !== null && sha === record.content_sha256 && record.segment !== null;
        return { id, seq, action: same ? 'reuse' : 'embed' };
      }),
    );
  }

  /**
   * Applies embedding results: vectors (new or reused) go into one new delta segment, errors end
   * their record `failed`. A result whose seq is no longer the record's latest pending one is
   * ignored (its row is dead from the start).
   */
  async apply(items: ApplyItem[]): Promise<{ applied: number; stale: number; failed: number }> {
    const meta = this.cat.meta();
    if (!meta) return { applied: 0, stale: items.length, failed: 0 };
    const live = (item: ApplyItem) => {
      const r = this.cat.record(item.id);
      return r !== null && r.seq === item.seq && r.state === 'pending' ? r : null;
    };
    // Before any await: what to write, read from the records as they are now.
    const rows: { item: ApplyItem; segmentItem: SegmentItem }[] = [];
    const reuse: { item: ApplyItem; record: RecordRow }[] = [];
    for (const item of items) {
      const record = live(item);
      if (!record || 'error' in item) continue;
      if ('reuse' in item) {
        if (record.segment !== null) reuse.push({ item, record });
        continue;
      }
      rows.push({ item, segmentItem: this.segmentItem(record, item.vector) });
    }
    for (const { item, record } of reuse) {
      const vector = await this.cat.storedVector(this.env.INDEX_BUCKET, meta, record);
      if (vector) rows.push({ item, segmentItem: this.segmentItem(record, vector) });
    }
    const written =
      rows.length > 0
        ? await writeSegments(
            this.env.INDEX_BUCKET,
            this.cat,
            meta,
            rows.map((r) => r.segmentItem),
          )
        : [];
    // After the awaits: commit against the records as they are now (another call may have
    // accepted a newer event or a delete meanwhile; such rows are dead from the start).
    const now = Date.now();
    const result = this.ctx.storage.transactionSync(() => {
      let applied = 0;
      let failed = 0;
      for (const w of written) this.cat.addSegment(w, now);
      rows.forEach(({ item }, i) => {
        const at = written[Math.floor(i / meta.segment_rows)] as { id: string };
        const row = i % meta.segment_rows;
        if (live(item) && !('error' in item)) {
          this.cat.place(item.id, at.id, row, item.content_sha256, now);
          applied++;
        } else {
          this.cat.markDead(at.id, row);
        }
      });
      for (const item of items) {
        if (!('error' in item)) continue;
        if (live(item)) {
          this.cat.fail(item.id, item.error, now);
          failed++;
        }
      }
      if (applied + failed > 0) this.cat.bumpGeneration(now);
      return { applied, stale: items.length - applied - failed, failed };
    });
    await this.scheduleMaintenance();
    return result;
  }

  /** One image's status, or null when the id is unknown (never accepted, or deleted). */
  async record(id: string): Promise<RecordView | null> {
    const meta = this.cat.meta();
    const row = this.cat.record(id);
    return meta && row ? this.cat.view(meta, row) : null;
  }

  /** The catalogue a search uses: live segments and their dead rows (null: nothing written yet). */
  async catalogue(): Promise<CatalogueView | null> {
    return this.cat.catalogue();
  }

  /**
   * The catalogue's generation alone (0: nothing written yet), for cache keys that only need to
   * know whether the index changed: no segment list or dead rows are built or sent.
   */
  async generation(): Promise<number> {
    return this.cat.meta() ? this.cat.generation() : 0;
  }

  async stats(): Promise<IndexStats | null> {
    return this.cat.stats(Date.now());
  }

  /**
   * Maintenance: the deletion of retired segments whose grace period has passed, compaction, and
   * the reconciler's look at pending records whose check time has come.
   */
  override async alarm(): Promise<void> {
    const meta = this.cat.meta();
    if (!meta) return;
    const now = Date.now();
    for (const segment of this.cat.expiredRetired(now - RETIRE_GRACE_MS)) {
      await this.env.INDEX_BUCKET.delete(segment.key);
      this.sql.exec('DELETE FROM segments WHERE id = ?', segment.id);
    }
    await this.compact(meta);
    await this.reconcile(meta, now);
    this.cat.pruneTombstones(now - TOMBSTONE_MS);
    await this.scheduleMaintenance();
  }

  /** @internal the reconciler's run at `now` (the alarm's; tests pass a later clock). */
  async reconcile(meta: IndexMeta | null = this.cat.meta(), now = Date.now()): Promise<ReconcileRun> {
    if (!meta) return { reenqueued: 0, failed: 0, unsent: 0 };
    const deps = { storage: this.ctx.storage, catalogue: this.cat, queue: this.env.INDEX_QUEUE };
    return reconcile(deps, meta, this.reconcileSettings, now);
  }

  /** Merges small or mostly dead segments into full ones (one compaction at a time). */
  async compact(meta: IndexMeta | null = this.cat.meta()): Promise<boolean> {
    if (!meta || this.compacting) return false;
    const plan = compactionPlan(this.sql, meta.segment_rows);
    if (!plan) return false;
    this.compacting = true;
    try {
      return await compactSegments(
        { storage: this.ctx.storage, catalogue: this.cat, bucket: this.env.INDEX_BUCKET },
        meta,
        plan,
      );
    } finally {
      this.compacting = false;
    }
  }

  /** @internal */
  get catalogueStore(): Catalogue {
    return this.cat;
  }

  private segmentItem(record: RecordRow, vector: ArrayLike<number>): SegmentItem {
    return {
      id: record.id,
      vector,
      metadata: JSON.parse(record.metadata),
      ...(record.caption === null ? {} : { caption: record.caption }),
    };
  }

  /** Sets the alarm for the next compaction or retirement, unless one is due sooner. */
  private async scheduleMaintenance(): Promise<void> {
    const at = this.cat.nextMaintenance(RETIRE_GRACE_MS);
    if (at === null) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}
