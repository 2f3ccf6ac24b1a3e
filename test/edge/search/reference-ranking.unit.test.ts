/**
 * The reference ranking (referencePage, src/edge/search/reference-ranking.ts), the page the search
 * kernel is held to: exact top-k across segments, filters, min_score, pages, depth, excluded ids,
 * and its recall against fp32 exact search.
 */
import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeSegment, type Segment } from '../../../src/core/index-format/segment';
import { dot, TopK } from '../../../src/core/vector';
import { MAX_SEARCH_DEPTH } from '../../../src/edge/search/page';
import { referencePage } from '../../../src/edge/search/reference-ranking';
import { randomUnitVectors } from '../../core/support/random-vectors';

const DIM = 64;
const COLOURS = ['red', 'blue', 'green'];

async function segmentsOf(
  vectors: Float32Array[],
  perSegment: number,
  encoding: 'int8' | 'fp16' = 'fp16',
): Promise<Segment[]> {
  const out: Segment[] = [];
  for (let start = 0; start < vectors.length; start += perSegment) {
    const items = vectors.slice(start, start + perSegment).map((vector, j) => {
      const i = start + j;
      return {
        id: `img-${i}`,
        vector,
        metadata: { colour: COLOURS[i % 3] as string, count: (i % 4) + 1, big: i % 2 === 0 },
        caption: `c${i}`,
      };
    });
    out.push(
      await decodeSegment(
        await encodeSegment({ model: 'm', version: '1', dim: vectors[0]?.length ?? DIM, encoding, items }),
      ),
    );
  }
  return out;
}

function exactTop(
  vectors: Float32Array[],
  query: Float32Array,
  k: number,
  keep: (i: number) => boolean = () => true,
): string[] {
  const heap = new TopK(k);
  vectors.forEach((v, i) => {
    if (keep(i)) heap.push(i, dot(query, v));
  });
  return heap.sorted().map((r) => `img-${r.index}`);
}

describe('referencePage', () => {
  const vectors = randomUnitVectors(500, DIM, 5, 8);
  const query = randomUnitVectors(1, DIM, 6)[0] as Float32Array;

  it('returns the exact top-k across segments, best first, with metadata and captions', async () => {
    const segments = await segmentsOf(vectors, 128);
    const page = referencePage(segments, query, { k: 10 });
    expect(page.hits.map((h) => h.id)).toEqual(exactTop(vectors, query, 10));
    expect(page.hits[0]?.caption).toBe(`c${page.hits[0]?.id.slice(4)}`);
    const scores = page.hits.map((h) => h.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(page.nextOffset).toBe(10);
  });

  it('applies metadata filters before ranking', async () => {
    const segments = await segmentsOf(vectors, 100);
    const page = referencePage(segments, query, { k: 5, filter: { colour: 'red', count: [1, 2] } });
    expect(page.hits).toHaveLength(5);
    for (const hit of page.hits) expect(hit.metadata).toMatchObject({ colour: 'red' });
    expect(page.hits.map((h) => h.id)).toEqual(
      exactTop(vectors, query, 5, (i) => i % 3 === 0 && (i % 4) + 1 <= 2),
    );
  });

  it('applies range and exclusion operators before ranking', async () => {
    const segments = await segmentsOf(vectors, 100);
    const filter = { count: { $gte: 2, $lt: 4 }, colour: { $nin: ['green'] } };
    const page = referencePage(segments, query, { k: 8, filter });
    expect(page.hits.map((h) => h.id)).toEqual(
      exactTop(vectors, query, 8, (i) => (i % 4) + 1 >= 2 && (i % 4) + 1 < 4 && i % 3 !== 2),
    );
  });

  it('drops results under min_score and ends the pages there', async () => {
    const segments = await segmentsOf(vectors, 100);
    const all = referencePage(segments, query, { k: 100 }).hits;
    const floor = all[6]?.score as number;
    const page = referencePage(segments, query, { k: 20, minScore: floor });
    expect(page.hits.length).toBe(7);
    expect(page.hits.every((h) => h.score >= floor)).toBe(true);
    expect(page.nextOffset).toBeNull();
  });

  it('pages through the ranking without gaps or repeats', async () => {
    const segments = await segmentsOf(vectors, 64);
    const whole = referencePage(segments, query, { k: 45 }).hits.map((h) => h.id);
    const paged: string[] = [];
    let offset: number | null = 0;
    while (offset !== null && paged.length < 45) {
      const page = referencePage(segments, query, { k: 10, offset });
      paged.push(...page.hits.map((h) => h.id));
      offset = page.nextOffset;
    }
    expect(paged.slice(0, 45)).toEqual(whole);
    const last = referencePage(segments, query, { k: 10, offset: 495 });
    expect(last.hits).toHaveLength(5);
    expect(last.nextOffset).toBeNull();
  });

  it('stops offering pages at the maximum depth', async () => {
    const many = await segmentsOf(randomUnitVectors(1200, 8, 9), 600);
    const q = randomUnitVectors(1, 8, 10)[0] as Float32Array;
    const page = referencePage(many, q, { k: 100, offset: MAX_SEARCH_DEPTH - 50 });
    expect(page.hits).toHaveLength(50);
    expect(page.nextOffset).toBeNull();
  });

  it('excludes ids and answers an empty list for an empty index', async () => {
    const segments = await segmentsOf(vectors, 500);
    const top = referencePage(segments, query, { k: 1 }).hits[0]?.id as string;
    const page = referencePage(segments, query, { k: 1, exclude: new Set([top]) });
    expect(page.hits[0]?.id).not.toBe(top);
    expect(referencePage([], query, { k: 5 })).toEqual({ hits: [], rows: [], nextOffset: null });
  });

  it('refuses a query of another dimension', async () => {
    const segments = await segmentsOf(vectors, 500);
    expect(() => referencePage(segments, new Float32Array(3), { k: 1 })).toThrow(RangeError);
  });
});

describe('recall@10 of the index search against fp32 exact search', () => {
  // 4000 x 256 clustered random unit vectors in 4 segments, 50 random queries.
  it.each(['fp16', 'int8'] as const)('%s', async (encoding) => {
    const vectors = randomUnitVectors(4000, 256, 31, 16);
    const queries = randomUnitVectors(50, 256, 32, 16);
    const segments = await segmentsOf(vectors, 1000, encoding);
    let hits = 0;
    for (const q of queries) {
      const truth = new Set(exactTop(vectors, q, 10));
      hits += referencePage(segments, q, { k: 10 }).hits.filter((h) => truth.has(h.id)).length;
    }
    const recall = hits / (queries.length * 10);
    expect(recall).toBeGreaterThanOrEqual(encoding === 'fp16' ? 0.99 : 0.98);
  });
});
