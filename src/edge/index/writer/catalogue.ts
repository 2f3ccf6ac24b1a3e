/**
 * The writer's tables as operations: the index's identity and counters (meta), records, segments
 * and their dead rows. Every method is synchronous SQL, so a caller that runs them inside one
 * `transactionSync` sees and leaves a consistent catalogue whatever else the object is awaiting.
 */

import type { IndexStats, RecordState } from '../../../core/contract/ingest-schemas';
import type { IndexKey } from '../../../core/contract/spaces';
import { DEFAULT_SEGMENT_ROWS, rowVector, type SegmentEncoding } from '../../../core/index-format/segment';
import type { CatalogueView, RecordView, WriterEvent, WrittenSegment } from '../contract';
import { loadSegment } from '../segments';
import { rebalance, shardCapacity, shardForNewSegment } from '../shard-plan';
import type { RecordRow, SegmentRow } from './schema';

export interface IndexMeta extends IndexKey {
  dim: number;
  encoding: SegmentEncoding;
  segment_rows: number;
  /** Rows a search shard holds at most (../shard-plan.ts; tests set small ones). */
  shard_rows: number;
}

/** Compact when this many live segments exist, or when this share of their rows is dead. */
const COMPACT_SEGMENTS = 8;
const COMPACT_DEAD_SHARE = 0.25;
/** How long after a write a due compaction waits (writes of one burst land in fewer segments). */
const COMPACT_DELAY_MS = 5000;

export class Catalogue {
  private cachedMeta: IndexMeta | null | undefined;

  constructor(private readonly sql: SqlStorage) {}

  private get(k: string): string | undefined {
    return this.sql.exec<{ v: string }>('SELECT v FROM meta WHERE k = ?', k).toArray()[0]?.v;
  }

  private set(k: string, v: string | number): void {
    this.sql.exec(
      'INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v',
      k,
      String(v),
    );
  }

  private counter(k: string): number {
    const next = Number(this.get(k) ?? '0') + 1;
    this.set(k, next);
    return next;
  }

  /** Records the index's identity on first use; refuses a caller that names another one. */
  init(
    space: IndexKey & { dim: number; encoding?: SegmentEncoding; segment_rows?: number; shard_rows?: number },
  ): void {
    const meta = this.meta();
    if (meta) {
      if (
        meta.collection !== space.collection ||
        meta.model !== space.model ||
        meta.version !== space.version
      )
        throw new Error(`writer of ${describe(meta)} was called for ${describe(space)}`);
      if (meta.dim !== space.dim)
        throw new Error(`index ${describe(meta)} has dim ${meta.dim}, not ${space.dim}`);
      return;
    }
    this.set('collection', space.collection);
    this.set('model', space.model);
    this.set('version', space.version);
    this.set('dim', space.dim);
    this.set('encoding', space.encoding ?? 'fp16');
    this.set('segment_rows', space.segment_rows ?? DEFAULT_SEGMENT_ROWS);
    if (space.shard_rows !== undefined) this.set('shard_rows', space.shard_rows);
    this.set('generation', 0);
    this.cachedMeta = undefined;
  }

  /** Forgets what it cached of the tables (after the storage was deleted). */
  forget(): void {
    this.cachedMeta = undefined;
  }

  meta(): IndexMeta | null {
    if (this.cachedMeta !== undefined) return this.cachedMeta;
    const collection = this.get('collection');
    this.cachedMeta =
      collection === undefined
        ? null
        : {
            collection,
            model: this.get('model') as string,
            version: this.get('version') as string,
            dim: Number(this.get('dim')),
            encoding: this.get('encoding') as SegmentEncoding,
            segment_rows: Number(this.get('segment_rows')),
            // Indexes written before shards have none stored: the size for their dim.
            shard_rows: Number(
              this.get('shard_rows') ??
                shardCapacity(Number(this.get('dim')), this.get('encoding') as SegmentEncoding),
            ),
          };
    return this.cachedMeta;
  }

  nextSeq(): number {
    return this.counter('seq');
  }

  nextSegmentNumber(): number {
    return this.counter('segment_number');
  }

  generation(): number {
    return Number(this.get('generation') ?? '0');
  }

  /** A change is committed: a new generation, with the search shards rebalanced in the same step. */
  bumpGeneration(now: number): void {
    this.rebalanceShards();
    this.set('generation', this.generation() + 1);
    this.set('last_write', now);
  }

  record(id: string): RecordRow | null {
    return this.sql.exec<RecordRow>('SELECT * FROM records WHERE id = ?', id).toArray()[0] ?? null;
  }

  /**
   * A new or changed upsert: pending with this seq, looked at by the reconciler at `checkAt` if
   * nothing happens to it before; an indexed vector stays where it is.
   */
  upsertPending(
    event: Extract<WriterEvent, { op: 'upsert' }>,
    seq: number,
    now: number,
    checkAt: number,
  ): void {
    this.sql.exec('DELETE FROM tombstones WHERE id = ?', event.id);
    this.sql.exec(
      `INSERT INTO records (id, state, seq, source, metadata, caption, expected_sha256, attempts, accepted_at,
         updated_at, enqueues, check_at)
       VALUES (?, 'pending', ?, ?, ?, ?, ?, 0, ?, ?, 0, ?)
       ON CONFLICT (id) DO UPDATE SET state = 'pending', seq = excluded.seq, source = excluded.source,
         metadata = excluded.metadata, caption = excluded.caption, expected_sha256 = excluded.expected_sha256,
         error_code = NULL, error_message = NULL, attempts = 0, accepted_at = excluded.accepted_at,
         updated_at = excluded.updated_at, enqueues = 0, check_at = excluded.check_at`,
      event.id,
      seq,
      JSON.stringify(event.source),
      JSON.stringify(event.metadata),
      event.caption ?? null,
      event.content_sha256 ?? null,
      now,
      now,
      checkAt,
    );
  }

  /** Of `ids`, those with neither a record nor a tombstone here (a migration may copy them in). */
  absent(ids: readonly string[]): Set<string> {
    const present = new Set<string>();
    // Durable Object SQLite binds at most 100 parameters per statement: 2 x 50 here.
    for (let i = 0; i < ids.length; i += 50) {
      const chunk = ids.slice(i, i + 50);
      const marks = chunk.map(() => '?').join(',');
      for (const r of this.sql.exec<{ id: string }>(
        `SELECT id FROM records WHERE id IN (${marks}) UNION SELECT id FROM tombstones WHERE id IN (${marks})`,
        ...chunk,
        ...chunk,
      ))
        present.add(r.id);
    }
    return new Set(ids.filter((id) => !present.has(id)));
  }

  /** Of `ids`, those whose record is pending. */
  pendingOf(ids: readonly string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += 50) {
      const chunk = ids.slice(i, i + 50);
      for (const r of this.sql.exec<{ id: string }>(
        `SELECT id FROM records WHERE state = 'pending' AND id IN (${chunk.map(() => '?').join(',')})`,
        ...chunk,
      ))
        out.push(r.id);
    }
    return out;
  }

  /** Records that are not `failed`, by id after `after`, at most `limit` (a migration's copy). */
  livePage(after: string | null, limit: number): RecordRow[] {
    return this.sql
      .exec<RecordRow>(
        "SELECT * FROM records WHERE state != 'failed' AND id > ? ORDER BY id LIMIT ?",
        after ?? '',
        limit,
      )
      .toArray();
  }

  /** Failed records, most recent first, at most `limit`. */
  failures(limit: number): { id: string; code: string; message: string }[] {
    return this.sql
      .exec<{ id: string; error_code: string | null; error_message: string | null }>(
        "SELECT id, error_code, error_message FROM records WHERE state = 'failed' ORDER BY updated_at DESC LIMIT ?",
        limit,
      )
      .toArray()
      .map((r) => ({ id: r.id, code: r.error_code ?? 'failed', message: r.error_message ?? '' }));
  }

  /** Forgets tombstones older than `before`. */
  pruneTombstones(before: number): void {
    this.sql.exec('DELETE FROM tombstones WHERE deleted_at < ?', before);
  }

  /** The consumer took up this pending record (an attempt): the reconciler waits until `checkAt`. */
  attempt(id: string, checkAt: number): void {
    this.sql.exec('UPDATE records SET attempts = attempts + 1, check_at = ? WHERE id = ?', checkAt, id);
  }

  /** Pending records the reconciler should look at now (oldest check first), at most `limit`. */
  duePending(now: number, limit: number): RecordRow[] {
    return this.sql
      .exec<RecordRow>(
        "SELECT * FROM records WHERE state = 'pending' AND check_at <= ? ORDER BY check_at LIMIT ?",
        now,
        limit,
      )
      .toArray();
  }

  /**
   * The reconciler sent this record (still pending with `seq`) to the queue again, or could not:
   * `counted` adds one to its enqueues and to the index's count; either way it is looked at
   * again at `checkAt`.
   */
  reenqueued(id: string, seq: number, checkAt: number, counted: boolean): void {
    const written = this.sql.exec(
      `UPDATE records SET enqueues = enqueues + ?, check_at = ? WHERE id = ? AND seq = ? AND state = 'pending'`,
      counted ? 1 : 0,
      checkAt,
      id,
      seq,
    ).rowsWritten;
    if (counted && written > 0) this.counter('reenqueued');
  }

  /** Counts a record the reconciler gave up on (it ends failed by `fail`). */
  gaveUp(): void {
    this.counter('reconciler_failed');
  }

  /**
   * Removes a record and leaves a tombstone (a migration's copy never brings the id back); true
   * when it had a vector in the index (which then no longer counts).
   */
  deleteRecord(id: string, now: number): boolean {
    this.sql.exec(
      'INSERT INTO tombstones (id, deleted_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET deleted_at = excluded.deleted_at',
      id,
      now,
    );
    const record = this.record(id);
    if (!record) return false;
    this.sql.exec('DELETE FROM records WHERE id = ?', id);
    if (record.segment === null || record.row === null) return false;
    this.markDead(record.segment, record.row);
    return true;
  }

  /** The record's vector is now row `row` of `segment`; its previous row no longer counts. */
  place(id: string, segment: string, row: number, sha256: string, now: number): void {
    const record = this.record(id);
    if (record?.segment != null && record.row !== null) this.markDead(record.segment, record.row);
    this.sql.exec(
      `UPDATE records SET state = 'indexed', segment = ?, row = ?, content_sha256 = ?, error_code = NULL,
       error_message = NULL, updated_at = ? WHERE id = ?`,
      segment,
      row,
      sha256,
      now,
      id,
    );
  }

  /** Moves a record's vector (compaction) only if it still lives where the snapshot saw it. */
  move(id: string, from: { segment: string; row: number }, to: { segment: string; row: number }): boolean {
    const record = this.record(id);
    if (!record || record.segment !== from.segment || record.row !== from.row) return false;
    this.sql.exec('UPDATE records SET segment = ?, row = ? WHERE id = ?', to.segment, to.row, id);
    this.markDead(from.segment, from.row);
    return true;
  }

  /** The latest upsert cannot be indexed: failed, and an older vector leaves the index. */
  fail(id: string, error: { code: string; message: string }, now: number): void {
    const record = this.record(id);
    if (record?.segment != null && record.row !== null) this.markDead(record.segment, record.row);
    this.sql.exec(
      `UPDATE records SET state = 'failed', error_code = ?, error_message = ?, segment = NULL, row = NULL,
       updated_at = ? WHERE id = ?`,
      error.code,
      error.message.slice(0, 500),
      now,
      id,
    );
  }

  /** A new live segment, on the shard the plan gives it (../shard-plan.ts). */
  addSegment(w: WrittenSegment, now: number): void {
    const meta = this.meta();
    const shard = meta ? shardForNewSegment(this.liveSegments(), w.count, meta.shard_rows) : 0;
    this.sql.exec(
      `INSERT INTO segments (id, key, etag, count, live, bytes, checksum, state, created_at, shard)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'live', ?, ?)`,
      w.id,
      w.key,
      w.etag,
      w.count,
      w.count,
      w.bytes,
      w.checksum,
      now,
      shard,
    );
  }

  /**
   * Moves segments between search shards when one is over its capacity or the index needs fewer
   * shards than it uses (../shard-plan.ts); true when something moved (the caller's transaction
   * bumps the generation with its own change).
   */
  rebalanceShards(): boolean {
    const meta = this.meta();
    if (!meta) return false;
    const moves = rebalance(this.liveSegments(), meta.shard_rows);
    for (const [id, shard] of moves) this.sql.exec('UPDATE segments SET shard = ? WHERE id = ?', shard, id);
    return moves.length > 0;
  }

  /** Row `row` of `segment` no longer counts; a segment with no live row left is retired. */
  markDead(segment: string, row: number): void {
    const inserted = this.sql.exec(
      'INSERT OR IGNORE INTO dead_rows (segment, row) VALUES (?, ?)',
      segment,
      row,
    ).rowsWritten;
    if (inserted === 0) return;
    this.sql.exec('UPDATE segments SET live = live - 1 WHERE id = ?', segment);
    const left = this.sql
      .exec<{ live: number }>('SELECT live FROM segments WHERE id = ?', segment)
      .toArray()[0];
    if (left && left.live <= 0) this.retire(segment, Date.now());
  }

  retire(segment: string, now: number): void {
    this.sql.exec(
      "UPDATE segments SET state = 'retired', retired_at = ? WHERE id = ? AND state = 'live'",
      now,
      segment,
    );
    this.sql.exec('DELETE FROM dead_rows WHERE segment = ?', segment);
  }

  liveSegments(): SegmentRow[] {
    return this.sql
      .exec<SegmentRow>("SELECT * FROM segments WHERE state = 'live' ORDER BY created_at, id")
      .toArray();
  }

  expiredRetired(before: number): SegmentRow[] {
    return this.sql
      .exec<SegmentRow>("SELECT * FROM segments WHERE state = 'retired' AND retired_at <= ?", before)
      .toArray();
  }

  /**
   * When maintenance is next due: soon for a compaction, else the earliest of when the oldest
   * retired segment expires and when the reconciler should look at a pending record.
   */
  nextMaintenance(graceMs: number): number | null {
    const live = this.liveSegments();
    const rows = live.reduce((n, s) => n + s.count, 0);
    const dead = live.reduce((n, s) => n + (s.count - s.live), 0);
    if (live.length >= COMPACT_SEGMENTS || (rows > 0 && dead / rows >= COMPACT_DEAD_SHARE))
      return Date.now() + COMPACT_DELAY_MS;
    const oldest = this.sql
      .exec<{ t: number | null }>("SELECT min(retired_at) AS t FROM segments WHERE state = 'retired'")
      .one().t;
    const check = this.sql
      .exec<{ t: number | null }>("SELECT min(check_at) AS t FROM records WHERE state = 'pending'")
      .one().t;
    const due = [oldest === null ? null : oldest + graceMs, check].filter((t): t is number => t !== null);
    return due.length === 0 ? null : Math.min(...due);
  }

  /** The vector an indexed record has now (read from its segment), or null if it has none. */
  async storedVector(bucket: R2Bucket, meta: IndexMeta, record: RecordRow): Promise<Float32Array | null> {
    if (record.segment === null || record.row === null) return null;
    const segment = this.sql
      .exec<SegmentRow>('SELECT * FROM segments WHERE id = ?', record.segment)
      .toArray()[0];
    if (!segment) return null;
    const decoded = await loadSegment(bucket, segment, meta);
    return rowVector(decoded, record.row);
  }

  view(meta: IndexMeta, row: RecordRow): RecordView {
    const segment =
      row.segment === null
        ? undefined
        : this.sql.exec<SegmentRow>('SELECT * FROM segments WHERE id = ?', row.segment).toArray()[0];
    return {
      id: row.id,
      collection: meta.collection,
      state: row.state as RecordState,
      ...(row.error_code ? { error: { code: row.error_code, message: row.error_message ?? '' } } : {}),
      metadata: JSON.parse(row.metadata),
      ...(row.caption === null ? {} : { caption: row.caption }),
      content_sha256: row.content_sha256 ?? row.expected_sha256,
      attempts: row.attempts,
      updated_at: new Date(row.updated_at).toISOString(),
      ...(row.source === null ? {} : { source: JSON.parse(row.source) }),
      ...(segment && row.row !== null
        ? {
            location: {
              segment: segment.id,
              key: segment.key,
              etag: segment.etag,
              count: segment.count,
              checksum: segment.checksum,
              row: row.row,
            },
          }
        : {}),
    };
  }

  catalogue(): CatalogueView | null {
    const meta = this.meta();
    if (!meta) return null;
    const dead = new Map<string, number[]>();
    for (const d of this.sql.exec<{ segment: string; row: number }>(
      'SELECT segment, row FROM dead_rows ORDER BY row',
    )) {
      const list = dead.get(d.segment) ?? [];
      list.push(d.row);
      dead.set(d.segment, list);
    }
    const segments = this.liveSegments().map((s) => ({
      id: s.id,
      key: s.key,
      etag: s.etag,
      count: s.count,
      bytes: s.bytes,
      checksum: s.checksum,
      shard: s.shard,
      dead: dead.get(s.id) ?? [],
    }));
    const lastWrite = this.get('last_write');
    return {
      collection: meta.collection,
      model: meta.model,
      version: meta.version,
      dim: meta.dim,
      encoding: meta.encoding,
      generation: this.generation(),
      count: segments.reduce((n, s) => n + s.count - s.dead.length, 0),
      segments,
      updated_at: lastWrite === undefined ? null : new Date(Number(lastWrite)).toISOString(),
    };
  }

  stats(now: number): IndexStats | null {
    const meta = this.meta();
    if (!meta) return null;
    const counts: Record<RecordState, number> = { pending: 0, indexed: 0, failed: 0 };
    for (const r of this.sql.exec<{ state: string; n: number }>(
      'SELECT state, count(*) AS n FROM records GROUP BY state',
    ))
      counts[r.state as RecordState] = r.n;
    const oldest = this.sql
      .exec<{ t: number | null }>("SELECT min(accepted_at) AS t FROM records WHERE state = 'pending'")
      .one().t;
    const segs = this.sql
      .exec<{ state: string; n: number; bytes: number }>(
        'SELECT state, count(*) AS n, coalesce(sum(bytes), 0) AS bytes FROM segments GROUP BY state',
      )
      .toArray();
    const live = segs.find((s) => s.state === 'live');
    const lastWrite = this.get('last_write');
    return {
      collection: meta.collection,
      model: meta.model,
      version: meta.version,
      counts,
      segments: live?.n ?? 0,
      retired_segments: segs.find((s) => s.state === 'retired')?.n ?? 0,
      bytes: live?.bytes ?? 0,
      generation: this.generation(),
      last_write: lastWrite === undefined ? null : new Date(Number(lastWrite)).toISOString(),
      queue_lag_s: oldest === null ? 0 : Math.max(0, Math.round((now - oldest) / 1000)),
      reconciler: {
        reenqueued: Number(this.get('reenqueued') ?? '0'),
        failed: Number(this.get('reconciler_failed') ?? '0'),
      },
    };
  }
}

const describe = (k: IndexKey) => `${k.collection}/${k.model}@${k.version}`;
