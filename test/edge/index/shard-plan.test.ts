/**
 * The writer's shard plan (src/edge/index/shard-plan.ts): a shard's capacity keeps its kernel
 * index within SHARD_KERNEL_BYTES (held to the kernel's own layout), one shard until the index
 * needs more, new segments to the least loaded shard, and rebalancing that leaves every shard
 * within capacity (plus one segment) and none past the count the index needs.
 */
import { describe, expect, it } from 'vitest';
import {
  type PlacedSegment,
  rebalance,
  shardCapacity,
  shardForNewSegment,
  shardsNeeded,
} from '../../../src/edge/index/shard-plan';
import { SHARD_KERNEL_BYTES } from '../../../src/edge/isolate-memory';
import { kernelIndexBytes } from '../../../src/edge/search/kernel';

const loadOf = (segments: readonly PlacedSegment[]) => {
  const load = new Map<number, number>();
  for (const s of segments) load.set(s.shard, (load.get(s.shard) ?? 0) + s.count);
  return load;
};

function apply(segments: PlacedSegment[], moves: [string, number][]): void {
  for (const [id, shard] of moves) {
    const segment = segments.find((s) => s.id === id);
    if (segment) segment.shard = shard;
  }
}

describe('shard capacity', () => {
  for (const dim of [256, 512, 768, 1024]) {
    for (const encoding of ['int8', 'fp16'] as const) {
      it(`${dim} ${encoding}: a full shard plus one 4096-row segment fits SHARD_KERNEL_BYTES`, () => {
        const capacity = shardCapacity(dim, encoding);
        const bits = encoding === 'int8' ? 0 : 2;
        expect(kernelIndexBytes(dim, capacity + 4096, bits)).toBeLessThanOrEqual(SHARD_KERNEL_BYTES);
        // ...and the capacity is not wastefully small (at least 70% of what the budget could hold).
        expect(kernelIndexBytes(dim, Math.ceil(capacity / 0.7), bits)).toBeGreaterThan(SHARD_KERNEL_BYTES);
      });
    }
  }
  it('512 x int8 holds about 70k rows per shard: 1M rows need 15 shards', () => {
    const capacity = shardCapacity(512, 'int8');
    expect(capacity).toBeGreaterThan(60_000);
    expect(shardsNeeded(1_000_000, capacity)).toBe(Math.ceil(1_000_000 / capacity));
  });
});

describe('placing new segments', () => {
  it('uses one shard until the index needs more, then fills the new one first', () => {
    const segments: PlacedSegment[] = [];
    for (let i = 0; i < 10; i++) {
      const shard = shardForNewSegment(segments, 30, 100);
      segments.push({ id: `s${i}`, count: 30, shard });
    }
    // 0..2 on shard 0 (90 rows); the 4th makes 120 rows: two shards, the new one least loaded.
    expect(segments.slice(0, 3).map((s) => s.shard)).toEqual([0, 0, 0]);
    expect(segments[3]?.shard).toBe(1);
    const load = loadOf(segments);
    expect(load.size).toBe(shardsNeeded(300, 100));
    for (const rows of load.values()) expect(rows).toBeLessThanOrEqual(100 + 30);
  });
});

describe('rebalancing', () => {
  it('moves nothing when every shard is within capacity and below the count needed', () => {
    const segments = [
      { id: 'a', count: 50, shard: 0 },
      { id: 'b', count: 50, shard: 1 },
      { id: 'c', count: 40, shard: 0 },
    ];
    expect(rebalance(segments, 100)).toEqual([]);
  });

  it('empties shards the index no longer needs after deletes and compaction', () => {
    const segments = [
      { id: 'a', count: 30, shard: 0 },
      { id: 'b', count: 20, shard: 3 },
      { id: 'c', count: 10, shard: 5 },
    ];
    const moves = rebalance(segments, 100);
    apply(segments, moves);
    expect(segments.map((s) => s.shard)).toEqual([0, 0, 0]);
  });

  it('moves the newest segments off a shard over its capacity (an index from before shards)', () => {
    const segments = Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, count: 25, shard: 0 }));
    const moves = rebalance(segments, 100);
    expect(moves.length).toBeGreaterThan(0);
    expect(moves[0]?.[0]).toBe('s11');
    apply(segments, moves);
    const load = loadOf(segments);
    expect(load.size).toBe(3);
    for (const rows of load.values()) expect(rows).toBeLessThanOrEqual(100);
  });

  it('keeps every shard within capacity plus one segment through random growth and shrinkage', () => {
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const capacity = 500;
    let segments: PlacedSegment[] = [];
    for (let step = 0; step < 400; step++) {
      if (next() < 0.65 || segments.length === 0) {
        const count = 1 + Math.floor(next() * 120);
        segments.push({ id: `s${step}`, count, shard: shardForNewSegment(segments, count, capacity) });
      } else {
        segments = segments.filter((_, i) => i !== Math.floor(next() * segments.length));
      }
      apply(segments, rebalance(segments, capacity));
      const rows = segments.reduce((n, s) => n + s.count, 0);
      const load = loadOf(segments);
      for (const [shard, n] of load) {
        expect(shard).toBeLessThan(shardsNeeded(rows, capacity));
        expect(n).toBeLessThanOrEqual(capacity + 120);
      }
    }
  });
});
