/**
 * The WebAssembly search kernel (src/edge/search/kernel) inside workerd, held to the JS reference
 * loop: `scoreRow` + `TopK` (the loop of referencePage) and referencePage itself, over the
 * kernel's own vectors as a segment (`toReferenceSegment`) or over the int8 segments it was built
 * from. Rows and scores must agree exactly (same float64 operation order), including ties (lower
 * row first), masks, excluded rows, zero vectors, k beyond the index and dims that are not a
 * multiple of 16. kernel.wasm arrives as a WebAssembly.Module through wrangler's CompiledWasm rule.
 */
import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeSegment, type Segment, scoreRow } from '../../../src/core/index-format/segment';
import { TopK } from '../../../src/core/vector';
import { KERNEL_MEMORY_BUDGET_BYTES } from '../../../src/edge/isolate-memory';
import {
  buildKernelIndex,
  buildKernelIndexFromSegments,
  KERNEL_MAX_K,
  type KernelHit,
  type KernelIndex,
  KernelIndexBuilder,
  KernelMemoryError,
  type ResidualBits,
} from '../../../src/edge/search/kernel';
import kernelModule from '../../../src/edge/search/kernel/kernel.wasm';
import { referencePage } from '../../../src/edge/search/reference-ranking';
import { randomUnitVectors, rng } from '../../core/support/random-vectors';

/** The JS reference loop: every admitted row scored with scoreRow, the k best kept by TopK. */
function reference(
  segments: readonly Segment[],
  query: Float32Array,
  k: number,
  admit?: (row: number) => boolean,
): KernelHit[] {
  const top = new TopK(k);
  let base = 0;
  for (const segment of segments) {
    for (let row = 0; row < segment.count; row++) {
      if (admit && !admit(base + row)) continue;
      const score = scoreRow(segment, query, row);
      if (score <= top.threshold) continue;
      top.push(base + row, score);
    }
    base += segment.count;
  }
  return top.sorted().map(({ index, score }) => ({ row: index, score }));
}

async function segmentsOf(
  vectors: Float32Array[],
  perSegment: number,
  encoding: 'int8' | 'fp16',
): Promise<Segment[]> {
  const out: Segment[] = [];
  const dim = (vectors[0] as Float32Array).length;
  for (let start = 0; start < vectors.length; start += perSegment) {
    const items = vectors
      .slice(start, start + perSegment)
      .map((vector, j) => ({ id: `img-${start + j}`, vector }));
    out.push(await decodeSegment(await encodeSegment({ model: 'm', version: '1', dim, encoding, items })));
  }
  return out;
}

function expectSame(got: KernelHit[], want: KernelHit[]): void {
  expect(got.length).toBe(want.length);
  expect(got.map((h) => h.row)).toEqual(want.map((h) => h.row));
  expect(got.map((h) => h.score)).toEqual(want.map((h) => h.score));
}

/** Unit-length vectors that sit close together (a hard case for the int8 shortlist). */
function nearDuplicates(n: number, dim: number, seed: number): Float32Array[] {
  const next = rng(seed);
  const base = randomUnitVectors(1, dim, seed)[0] as Float32Array;
  return Array.from({ length: n }, () => {
    const v = base.map((x) => x + (next() - 0.5) * 0.002);
    let s = 0;
    for (const x of v) s += x * x;
    return v.map((x) => x / Math.sqrt(s));
  });
}

describe('search kernel vs the JS reference (inside workerd)', () => {
  const cases: { dim: number; n: number; bits: ResidualBits }[] = [
    { dim: 512, n: 3000, bits: 0 },
    { dim: 512, n: 3000, bits: 2 },
    { dim: 200, n: 2500, bits: 1 },
    { dim: 37, n: 2000, bits: 2 },
    { dim: 37, n: 2000, bits: 0 },
    // n not a multiple of the unfiltered scan's 4 streams: the last rows go through its tail loop
    { dim: 64, n: 2003, bits: 2 },
    { dim: 64, n: 7, bits: 0 },
  ];
  for (const { dim, n, bits } of cases) {
    it(`random clustered vectors: dim ${dim}, ${n} rows, residual ${bits} bits, k = 1, 10, 100, 1000`, () => {
      const vectors = randomUnitVectors(n, dim, 11 + dim, 16);
      const queries = [
        ...randomUnitVectors(6, dim, 99, 16),
        ...vectors.slice(0, 3), // queries that are rows of the index
        ...vectors.slice(-2), // the last rows (the unfiltered scan's tail when n % 4 != 0)
        randomUnitVectors(1, dim, 5)[0] as Float32Array, // unclustered
      ];
      const index = buildKernelIndex(kernelModule, dim, vectors, { residualBits: bits });
      const segment = index.toReferenceSegment();
      expect(segment.encoding).toBe(bits === 0 ? 'int8' : 'fp16');
      for (const q of queries) {
        for (const k of [1, 10, 100, 1000]) expectSame(index.search(q, k), reference([segment], q, k));
        // referencePage itself (ids are row-<n>), with its extra result for the next page
        const page = referencePage([segment], q, { k: 10 });
        expect(page.hits.map((h) => h.id)).toEqual(index.search(q, 10).map((h) => `row-${h.row}`));
        expect(page.hits.map((h) => h.score)).toEqual(index.search(q, 10).map((h) => h.score));
      }
    });
  }

  it('int8 segments: the index holds their codes and returns exactly what referencePage returns', async () => {
    const dim = 96;
    const vectors = randomUnitVectors(2600, dim, 3, 24);
    const segments = await segmentsOf(vectors, 700, 'int8');
    const index = buildKernelIndexFromSegments(kernelModule, segments);
    expect(index.residualBits).toBe(0);
    expect(index.count).toBe(2600);
    const ids = segments.flatMap((s) => s.ids);
    for (const q of randomUnitVectors(8, dim, 4, 24)) {
      for (const k of [10, 300]) {
        const page = referencePage(segments, q, { k, exclude: new Set(['img-5', 'img-1999']) });
        const hits = index.search(q, k, { exclude: [5, 1999] });
        expect(hits.map((h) => ids[h.row])).toEqual(page.hits.map((h) => h.id));
        expect(hits.map((h) => h.score)).toEqual(page.hits.map((h) => h.score));
      }
    }
  });

  it('fp16 segments: rebuilt with a residual, held to their own reference and close to the fp16 scores', async () => {
    const dim = 64;
    const vectors = randomUnitVectors(1500, dim, 8, 12);
    const segments = await segmentsOf(vectors, 600, 'fp16');
    const index = buildKernelIndexFromSegments(kernelModule, segments);
    expect(index.residualBits).toBe(2);
    const ref = index.toReferenceSegment();
    let overlap = 0;
    const queries = randomUnitVectors(10, dim, 9, 12);
    for (const q of queries) {
      const hits = index.search(q, 10);
      expectSame(hits, reference([ref], q, 10));
      const fp16 = new Set(referencePage(segments, q, { k: 10 }).hits.map((h) => Number(h.id.slice(4))));
      overlap += hits.filter((h) => fp16.has(h.row)).length;
    }
    expect(overlap / (10 * queries.length)).toBeGreaterThanOrEqual(0.95);
  });

  it('ties: identical rows come out lower row first, also across the shortlist cut-off', () => {
    const dim = 48;
    const [a, b] = randomUnitVectors(2, dim, 21) as [Float32Array, Float32Array];
    // 400 copies of `a` scattered among 600 copies of `b` and 200 random rows
    const random = randomUnitVectors(200, dim, 22);
    const vectors = Array.from({ length: 1200 }, (_, i) =>
      i % 3 === 1 ? a : i % 3 === 2 ? b : ((random[i / 3] as Float32Array) ?? b),
    );
    for (const bits of [0, 2] as ResidualBits[]) {
      const index = buildKernelIndex(kernelModule, dim, vectors, { residualBits: bits });
      const segment = index.toReferenceSegment();
      for (const q of [a, b, random[0] as Float32Array]) {
        for (const k of [1, 10, 150, 1000]) {
          const hits = index.search(q, k);
          expectSame(hits, reference([segment], q, k));
          if (q === a && k === 150) expect(index.lastStats.fastPath).toBe(false);
        }
      }
    }
  });

  it('near-duplicate rows (scores within the int8 error) match the reference', () => {
    const dim = 128;
    const vectors = nearDuplicates(1500, dim, 31);
    for (const bits of [0, 1, 2] as ResidualBits[]) {
      const index = buildKernelIndex(kernelModule, dim, vectors, { residualBits: bits });
      const segment = index.toReferenceSegment();
      for (const q of [vectors[7] as Float32Array, ...randomUnitVectors(2, dim, 32)]) {
        for (const k of [10, 500]) expectSame(index.search(q, k), reference([segment], q, k));
      }
    }
  });

  it('zero vectors in the index and a zero query', () => {
    const dim = 40;
    const vectors = randomUnitVectors(300, dim, 41).map((v, i) => (i % 4 === 0 ? new Float32Array(dim) : v));
    for (const bits of [0, 2] as ResidualBits[]) {
      const index = buildKernelIndex(kernelModule, dim, vectors, { residualBits: bits });
      const segment = index.toReferenceSegment();
      const zero = new Float32Array(dim);
      for (const k of [1, 10, 300]) {
        expectSame(index.search(zero, k), reference([segment], zero, k));
        expect(index.search(zero, k).map((h) => h.row)).toEqual(Array.from({ length: k }, (_, i) => i));
        // zero rows score 0 against any query and tie with each other
        const q = randomUnitVectors(1, dim, 42)[0] as Float32Array;
        expectSame(index.search(q, k), reference([segment], q, k));
      }
      expectSame(
        index.search(zero, 5, { exclude: [0, 1] }),
        reference([segment], zero, 5, (r) => r > 1),
      );
    }
    const allZero = buildKernelIndex(
      kernelModule,
      dim,
      Array.from({ length: 100 }, () => new Float32Array(dim)),
      { residualBits: 0 },
    );
    const q = randomUnitVectors(1, dim, 43)[0] as Float32Array;
    expectSame(allZero.search(q, 20), reference([allZero.toReferenceSegment()], q, 20));
  });

  it('k larger than the index, an empty index, an empty mask, every row excluded', () => {
    const dim = 24;
    const vectors = randomUnitVectors(50, dim, 51);
    const index = buildKernelIndex(kernelModule, dim, vectors);
    const segment = index.toReferenceSegment();
    const q = randomUnitVectors(1, dim, 52)[0] as Float32Array;
    const all = index.search(q, 200);
    expect(all).toHaveLength(50);
    expectSame(all, reference([segment], q, 200));
    expect(index.search(q, KERNEL_MAX_K)).toHaveLength(50);
    expect(index.search(q, 10, { allowed: [] })).toEqual([]);
    expect(index.search(q, 10, { allowed: new Uint8Array(7) })).toEqual([]);
    expect(index.search(q, 10, { exclude: Array.from({ length: 50 }, (_, i) => i) })).toEqual([]);
    expect(index.search(q, 10, { exclude: new Set(Array.from({ length: 50 }, (_, i) => i)) })).toEqual([]);
    expect(index.search(q, 10, { allowed: [3, 4], exclude: [3, 4] })).toEqual([]);
    const empty = buildKernelIndex(kernelModule, dim, []);
    expect(empty.search(q, 10)).toEqual([]);
    expect(empty.search(q, 10, { allowed: new Uint8Array(0), exclude: [0] })).toEqual([]);
  });

  it('allowed rows (bitset or list) and excluded rows, against the reference loop with the same filter', () => {
    const dim = 200;
    const n = 4001; // masks denser than 1/4 take the 4-stream scan, whose tail is row 4000
    const vectors = randomUnitVectors(n, dim, 61, 20);
    const next = rng(62);
    for (const bits of [0, 2] as ResidualBits[]) {
      const index = buildKernelIndex(kernelModule, dim, vectors, { residualBits: bits });
      const segment = index.toReferenceSegment();
      for (const density of [0.001, 0.02, 0.3, 0.9]) {
        const allowedRows = Array.from({ length: n }, (_, r) => r).filter(() => next() < density);
        const bitset = new Uint8Array(Math.ceil(n / 8) + 3); // longer than needed is fine
        for (const r of allowedRows) bitset[r >> 3] = (bitset[r >> 3] as number) | (1 << (r & 7));
        const excluded = allowedRows.filter((_, i) => i % 5 === 0);
        const admit = (r: number) => allowedRows.includes(r) && !excluded.includes(r);
        for (const q of randomUnitVectors(3, dim, 63, 20)) {
          for (const k of [10, 1000]) {
            const want = reference([segment], q, k, admit);
            expectSame(index.search(q, k, { allowed: bitset, exclude: excluded }), want);
            expectSame(
              index.search(q, k, { allowed: Int32Array.from(allowedRows), exclude: new Set(excluded) }),
              want,
            );
          }
          const ex = [0, 1, 2, 3, 999, n + 5, -1];
          expectSame(
            index.search(q, 10, { exclude: ex }),
            reference([segment], q, 10, (r) => !ex.includes(r)),
          );
        }
      }
    }
  });

  it('large dims and extreme components do not overflow the int32 accumulators', () => {
    for (const dim of [1000, 4096, 8192]) {
      const ones = new Float32Array(dim).fill(1 / Math.sqrt(dim));
      const minus = ones.map((x) => -x);
      const vectors = [ones, minus, ...randomUnitVectors(30, dim, 71)];
      const index = buildKernelIndex(kernelModule, dim, vectors, { residualBits: 0 });
      const segment = index.toReferenceSegment();
      for (const q of [ones, minus, vectors[5] as Float32Array])
        expectSame(index.search(q, 5), reference([segment], q, 5));
      expect(index.search(ones, 1)[0]?.row).toBe(0);
      expect(index.search(minus, 1)[0]?.row).toBe(1);
    }
  });

  it('keeps to its memory budget and says so when an index would not fit', () => {
    const index = buildKernelIndex(kernelModule, 512, randomUnitVectors(100, 512, 81));
    expect(index.memory.totalBytes).toBeLessThanOrEqual(KERNEL_MEMORY_BUDGET_BYTES);
    expect(index.memory.codeBytes).toBe(100 * 512);
    expect(index.memory.residualBytes).toBe((100 * 512 * 2) / 8);
    // 100k x 512 with a 2-bit residual fits; 110k does not.
    const fits = new KernelIndexBuilder(kernelModule, 512, 100_000, { residualBits: 2 });
    expect(fits.capacity).toBe(100_000);
    expect(() => new KernelIndexBuilder(kernelModule, 512, 110_000, { residualBits: 2 })).toThrow(
      KernelMemoryError,
    );
    expect(() => new KernelIndexBuilder(kernelModule, 512, 110_000, { residualBits: 2 })).toThrow(
      /over the budget of 67108864 bytes/,
    );
    expect(() => new KernelIndexBuilder(kernelModule, 64, 1000, { budgetBytes: 32_000 })).toThrow(
      KernelMemoryError,
    );
    expect(
      () => new KernelIndexBuilder(kernelModule, 64, 10, { budgetBytes: KERNEL_MEMORY_BUDGET_BYTES + 1 }),
    ).toThrow(RangeError);
    const small = new KernelIndexBuilder(kernelModule, 8, 2, { residualBits: 0 });
    small.add(new Float32Array(8).fill(0.5));
    small.add(new Float32Array(8).fill(0.25));
    expect(() => small.add(new Float32Array(8))).toThrow(/full/);
  });

  it('refuses bad input', () => {
    const index: KernelIndex = buildKernelIndex(kernelModule, 16, randomUnitVectors(20, 16, 91));
    const q = randomUnitVectors(1, 16, 92)[0] as Float32Array;
    expect(() => index.search(new Float32Array(15), 10)).toThrow(RangeError);
    expect(() =>
      index.search(
        q.map((x, i) => (i === 3 ? Number.NaN : x)),
        10,
      ),
    ).toThrow(RangeError);
    expect(() => index.search(q, 0)).toThrow(RangeError);
    expect(() => index.search(q, 1.5)).toThrow(RangeError);
    expect(() => index.search(q, KERNEL_MAX_K + 1)).toThrow(RangeError);
    expect(() => index.search(q, 10, { allowed: [20] })).toThrow(RangeError);
    expect(() => index.search(q, 10, { allowed: new Uint8Array(2) })).toThrow(RangeError);
    expect(() => buildKernelIndex(kernelModule, 16, [new Float32Array(15)])).toThrow(RangeError);
    expect(() =>
      buildKernelIndex(kernelModule, 16, [new Float32Array(16).fill(Number.POSITIVE_INFINITY)]),
    ).toThrow(RangeError);
  });
});
