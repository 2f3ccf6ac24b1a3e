/**
 * Compaction: the live rows of small or mostly dead segments are copied into full segments. The
 * plan is a snapshot taken synchronously; the copy is written with awaits in between (other calls
 * may run then); the commit moves a record only if it still lives where the snapshot saw it, so
 * a row that changed meanwhile stays as the newer write left it and its copy is dead at once.
 */
import type { SegmentItem } from '../../../core/index-format/segment';
import { rowVector } from '../../../core/index-format/segment';
import { loadSegment } from '../segments';
import type { Catalogue, IndexMeta } from './catalogue';
import type { SegmentRow } from './schema';
import { writeSegments } from './segment-writer';

/** What compaction works with: the writer's storage (for its transaction), catalogue and bucket. */
export interface CompactionDeps {
  storage: DurableObjectStorage;
  catalogue: Catalogue;
  bucket: R2Bucket;
}

export interface CompactionPlan {
  segments: SegmentRow[];
  /** Live rows of those segments: which record lives at which row. */
  rows: { id: string; segment: string; row: number }[];
}

/** Segments worth merging: under-full ones (when there are two or more) and mostly dead ones. */
export function compactionPlan(sql: SqlStorage, segmentRows: number): CompactionPlan | null {
  const live = sql
    .exec<SegmentRow>("SELECT * FROM segments WHERE state = 'live' ORDER BY created_at, id")
    .toArray();
  const small = live.filter((s) => s.count < segmentRows);
  const sparse = live.filter((s) => s.count >= segmentRows && s.live / s.count < 0.75);
  const chosen = [...(small.length >= 2 ? small : []), ...sparse];
  if (chosen.length === 0) return null;
  const ids = new Set(chosen.map((s) => s.id));
  const rows = sql
    .exec<{ id: string; segment: string; row: number }>(
      'SELECT id, segment, row FROM records WHERE segment IS NOT NULL ORDER BY segment, row',
    )
    .toArray()
    .filter((r) => ids.has(r.segment));
  return { segments: chosen, rows };
}

/** Runs a plan; true when it committed a new generation. */
export async function compactSegments(
  { storage, catalogue: cat, bucket }: CompactionDeps,
  meta: IndexMeta,
  plan: CompactionPlan,
): Promise<boolean> {
  const decoded = new Map<string, Awaited<ReturnType<typeof loadSegment>>>();
  for (const s of plan.segments) decoded.set(s.id, await loadSegment(bucket, s, meta));
  const items: SegmentItem[] = plan.rows.map((r) => {
    const segment = decoded.get(r.segment) as Awaited<ReturnType<typeof loadSegment>>;
    const attrs = segment.attrs[r.row] as { metadata: SegmentItem['metadata']; caption?: string };
    return {
      id: r.id,
      vector: rowVector(segment, r.row),
      metadata: attrs.metadata ?? {},
      ...(attrs.caption === undefined ? {} : { caption: attrs.caption }),
    };
  });
  const written = items.length > 0 ? await writeSegments(bucket, cat, meta, items) : [];
  const now = Date.now();
  storage.transactionSync(() => {
    for (const w of written) cat.addSegment(w, now);
    plan.rows.forEach((r, i) => {
      const to = {
        segment: (written[Math.floor(i / meta.segment_rows)] as { id: string }).id,
        row: i % meta.segment_rows,
      };
      if (!cat.move(r.id, { segment: r.segment, row: r.row }, to)) cat.markDead(to.segment, to.row);
    });
    // Every live row of the chosen segments has moved (here or by a newer write): retire them.
    for (const s of plan.segments) cat.retire(s.id, now);
    cat.bumpGeneration(now);
  });
  return true;
}
