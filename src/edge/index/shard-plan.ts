/**
 * Which search shard holds which segment: the writer's rule (the writer alone decides, and its
 * catalogue says it; the search shards of ../search/shards only follow the catalogue).
 *
 * A shard holds whole segments, at most `capacity` rows of them (dead rows count: a shard's kernel
 * holds them until compaction rewrites the segment). An index needs
 * `n = max(1, ceil(rows / capacity))` shards, so a small collection costs one shard, not a fleet.
 * A new segment goes to the least loaded of shards 0..n-1; `rebalance` moves segments off a shard
 * over its capacity and off shards numbered n or more (after deletes and compaction shrank the
 * index), newest segment first, each to the least loaded shard below n. A move is one catalogue
 * update: both shards bring their kernel to the new segment list at the next search.
 */
import type { SegmentEncoding } from '../../core/index-format/segment';
import { SHARD_KERNEL_BYTES } from '../isolate-memory';

/**
 * Rows of `dim` a shard may hold: the kernel stores per row the int8 codes padded to 16 bytes,
 * for fp16 indexes a 2-bit residual, and a float32 scale (search/kernel/layout.ts; a test holds
 * this to kernelIndexBytes). 85% of SHARD_KERNEL_BYTES leaves room for one segment over the
 * capacity (a segment is added whole) and the kernel's buffers.
 */
export function shardCapacity(dim: number, encoding: SegmentEncoding): number {
  const padded = Math.ceil(dim / 16) * 16;
  const perRow = padded * (encoding === 'int8' ? 1 : 1.25) + 4;
  return Math.floor((SHARD_KERNEL_BYTES * 0.85) / perRow);
}

export interface PlacedSegment {
  id: string;
  count: number;
  shard: number;
}

/** Shards an index of `rows` rows needs at `capacity` rows per shard. */
export const shardsNeeded = (rows: number, capacity: number) => Math.max(1, Math.ceil(rows / capacity));

function loads(segments: readonly PlacedSegment[], n: number): number[] {
  const load = new Array<number>(n).fill(0);
  for (const s of segments) if (s.shard < n) load[s.shard] = (load[s.shard] as number) + s.count;
  return load;
}

const leastLoaded = (load: readonly number[]) => load.indexOf(Math.min(...load));

/** The shard a new segment of `count` rows goes to, beside the live `segments`. */
export function shardForNewSegment(
  segments: readonly PlacedSegment[],
  count: number,
  capacity: number,
): number {
  const rows = segments.reduce((n, s) => n + s.count, 0) + count;
  const used = segments.reduce((n, s) => Math.max(n, s.shard + 1), 0);
  return leastLoaded(loads(segments, Math.max(used, shardsNeeded(rows, capacity))));
}

/**
 * Moves that bring the live segments within their shards' capacity and below the shard count the
 * index needs, as `[segment id, new shard]`; none when the placement is already fine. `segments`
 * is in catalogue order (oldest first): the newest segments move first.
 */
export function rebalance(segments: readonly PlacedSegment[], capacity: number): [string, number][] {
  const rows = segments.reduce((n, s) => n + s.count, 0);
  const n = shardsNeeded(rows, capacity);
  const placed = segments.map((s) => ({ ...s }));
  const load = loads(placed, n);
  const moves: [string, number][] = [];
  const move = (s: PlacedSegment, to: number) => {
    if (s.shard < n) load[s.shard] = (load[s.shard] as number) - s.count;
    s.shard = to;
    load[to] = (load[to] as number) + s.count;
    moves.push([s.id, to]);
  };
  // Shards past the count the index needs empty into the others.
  for (const s of [...placed].reverse()) if (s.shard >= n) move(s, leastLoaded(load));
  // An over-full shard gives its newest segments to the least loaded shard while that helps.
  for (const s of [...placed].reverse()) {
    if ((load[s.shard] as number) <= capacity) continue;
    const to = leastLoaded(load);
    if (to !== s.shard && (load[to] as number) + s.count < (load[s.shard] as number)) move(s, to);
  }
  return moves;
}
