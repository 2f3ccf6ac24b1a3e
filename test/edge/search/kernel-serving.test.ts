/**
 * Serving searches from the search kernel (src/edge/search/catalogue-search.ts and the kernel's
 * store, catalogue indexes and pages in src/edge/search/kernel/), held to the reference ranking
 * (referencePage, the JS loop) page for page over random catalogues: filters of every operator,
 * dead rows, excluded ids, ties, zero vectors, k beyond the index, min_score and paging; writes
 * (a new segment, a replaced tail, a delete) seen by the next search without rebuilding what is
 * held; the budget fallback.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { SegmentEncoding } from '../../../src/core/index-format/segment';
import { rankCatalogue } from '../../../src/edge/search/catalogue-search';
import type { MetadataFilter } from '../../../src/edge/search/filter';
import { clearKernelStore, kernelStoreStats } from '../../../src/edge/search/kernel';
import type { SearchOptions } from '../../../src/edge/search/page';
import { randomUnitVectors } from '../../core/support/random-vectors';
import { catalogueOf, sourceOf, type TestSegment, testSegment } from './support/kernel-catalogues';

const index = { collection: 'kernel-serving', model: 'm', version: '1' };
const DIM = 48;

beforeEach(() => clearKernelStore());

async function parts(
  encoding: SegmentEncoding,
  sizes: number[],
  extra: { duplicates?: number; near?: boolean } = {},
) {
  return Promise.all(
    sizes.map((count, i) =>
      testSegment(`s${i}`, count, { dim: DIM, encoding, seed: 100 + i, zero: true, ...extra }),
    ),
  );
}

type Options = Omit<SearchOptions, 'dead'>;

/** Ranks with the kernel and with the JS loop; the pages must be the same, score for score. */
async function expectSameAsReference(
  segments: TestSegment[],
  dead: number[][],
  query: Float32Array,
  options: Options,
  path: string,
) {
  const catalogue = catalogueOf(index, segments, dead);
  const kernel = await rankCatalogue(sourceOf(index, catalogue, segments), query, options);
  const js = await rankCatalogue(sourceOf(index, catalogue, segments), query, options, { kernel: false });
  expect(kernel.path).toBe(path);
  expect(js.path).toBe('js');
  expect(kernel.page.hits.map((h) => h.id)).toEqual(js.page.hits.map((h) => h.id));
  expect(kernel.page.hits.map((h) => h.score)).toEqual(js.page.hits.map((h) => h.score));
  expect(kernel.page.hits).toEqual(js.page.hits);
  expect(kernel.page.nextOffset).toBe(js.page.nextOffset);
  return kernel.page;
}

const FILTERS: (MetadataFilter | undefined)[] = [
  undefined,
  { colour: 'red' },
  { colour: ['blue', 'green'] },
  { colour: { $ne: 'red' }, count: { $nin: [1, 2] } },
  { count: { $gte: 2, $lt: 4 } },
  { count: { $gt: 4 } },
  { taken: { $lte: '2016-01-01' } },
  { taken: { $gte: '2020-01-01T00:00:00Z', $lt: '2024-06-01' }, colour: { $in: ['red', 'yellow'] } },
  { colour: 'purple' },
];

describe.each(['int8', 'fp16'] as const)('%s catalogues', (encoding) => {
  const path = encoding === 'int8' ? 'kernel-int8' : 'kernel-fp16';

  it('give the JS loop page with every filter operator, dead rows and excluded ids', async () => {
    const segments = await parts(encoding, [300, 57, 410]);
    const dead = [[0, 5, 299], [], [1, 2, 3, 409]];
    const queries = randomUnitVectors(4, DIM, 9);
    for (const filter of FILTERS) {
      for (const [q, query] of queries.entries()) {
        const options: Options = { k: [1, 10, 37, 200][q] as number, ...(filter ? { filter } : {}) };
        await expectSameAsReference(segments, dead, query, options, path);
        await expectSameAsReference(
          segments,
          dead,
          query,
          { ...options, exclude: new Set(['s0-7', 's2-100']) },
          path,
        );
      }
    }
  });

  it('give the same pages, min_score cut and end of paging', async () => {
    const segments = await parts(encoding, [260, 260]);
    const query = randomUnitVectors(1, DIM, 3)[0] as Float32Array;
    for (const minScore of [undefined, 0.2, 0.95]) {
      let offset = 0;
      const seen: string[] = [];
      for (let page = 0; page < 6; page++) {
        const options = { k: 25, offset, ...(minScore === undefined ? {} : { minScore }) };
        const got = await expectSameAsReference(segments, [[4], [8]], query, options, path);
        seen.push(...got.hits.map((h) => h.id));
        if (got.nextOffset === null) break;
        offset = got.nextOffset;
      }
      expect(new Set(seen).size).toBe(seen.length);
    }
  });

  it('break ties by catalogue order, and answer k beyond the index with every row', async () => {
    const segments = await parts(encoding, [64, 64, 30], { duplicates: 8 });
    const query = randomUnitVectors(1, DIM, 5)[0] as Float32Array;
    const page = await expectSameAsReference(segments, [[1], [], []], query, { k: 500 }, path);
    expect(page.hits).toHaveLength(157);
    expect(page.nextOffset).toBeNull();
    await expectSameAsReference(segments, [], query, { k: 10, offset: 30 }, path);
    await expectSameAsReference(segments, [], new Float32Array(DIM), { k: 12 }, path);
  });

  it('give the same page over near-duplicates, where the shortlist must widen', async () => {
    const segments = await parts(encoding, [700, 300], { near: true });
    const query = randomUnitVectors(1, DIM, 13)[0] as Float32Array;
    for (const k of [10, 100]) {
      await expectSameAsReference(segments, [[2], []], query, { k }, path);
      await expectSameAsReference(segments, [], query, { k, filter: { count: { $gte: 3 } } }, path);
    }
  });

  it('see a new segment, a replaced tail and a delete on the next search, building only what is new', async () => {
    const [a, b, c, d] = await parts(encoding, [200, 150, 90, 120]);
    const all = [a, b, c, d] as TestSegment[];
    const query = randomUnitVectors(1, DIM, 11)[0] as Float32Array;
    const opts = { k: 40 };
    const run = async (list: TestSegment[], dead: number[][] = []) => {
      const catalogue = catalogueOf(index, list, dead);
      const source = sourceOf(index, catalogue, all);
      const got = await rankCatalogue(source, query, opts);
      const want = await rankCatalogue(sourceOf(index, catalogue, all), query, opts, { kernel: false });
      expect(got.path).toBe(path);
      expect(got.page).toEqual(want.page);
      return { got, reads: source.reads };
    };
    expect((await run([a, b] as TestSegment[])).reads).toBe(2);
    expect((await run([a, b] as TestSegment[])).reads).toBe(0);
    // A write appends a segment: only that one is read.
    expect((await run([a, b, c] as TestSegment[])).reads).toBe(1);
    // A compaction replaces the tail: the prefix stays.
    expect((await run([a, d] as TestSegment[])).reads).toBe(1);
    // A delete: no read, and the deleted id is gone.
    const top = (await run([a, d] as TestSegment[])).got.page.hits[0]?.id as string;
    const row = Number(top.split('-')[1]);
    const deleted = top.startsWith('s0') ? [[row], []] : [[], [row]];
    const after = await run([a, d] as TestSegment[], deleted);
    expect(after.reads).toBe(0);
    expect(after.got.page.hits.map((h) => h.id)).not.toContain(top);
    expect(kernelStoreStats()).toMatchObject({ builds: 1, updates: 2, entries: 1 });
  });
});

describe('the kernel budget', () => {
  it('sends a catalogue over the budget to the JS loop, with the same answer', async () => {
    const segments = await parts('int8', [400, 400]);
    const query = randomUnitVectors(1, DIM, 2)[0] as Float32Array;
    const catalogue = catalogueOf(index, segments);
    const small = { store: { budgetBytes: 150_000 } };
    const got = await rankCatalogue(sourceOf(index, catalogue, segments), query, { k: 10 }, small);
    const want = await rankCatalogue(
      sourceOf(index, catalogue, segments),
      query,
      { k: 10 },
      { kernel: false },
    );
    expect(got.path).toBe('js-over-budget');
    expect(got.page).toEqual(want.page);
    expect(kernelStoreStats()).toMatchObject({ fallbacks: 1, entries: 0 });
  });

  it('scores fp16 from the requantised rows when the fp16 rows do not fit beside them', async () => {
    const segments = await parts('fp16', [400, 400]);
    const query = randomUnitVectors(1, DIM, 4)[0] as Float32Array;
    const catalogue = catalogueOf(index, segments);
    // Enough for the kernel (800 x 48 with residual) but not for 800 x 48 fp16 rows beside it.
    const budget = { store: { budgetBytes: 220_000 } };
    const got = await rankCatalogue(sourceOf(index, catalogue, segments), query, { k: 20 }, budget);
    const want = await rankCatalogue(
      sourceOf(index, catalogue, segments),
      query,
      { k: 20 },
      { kernel: false },
    );
    expect(got.path).toBe('kernel-requantised');
    const exact = new Map(want.page.hits.map((h) => [h.id, h.score]));
    const shared = got.page.hits.filter((h) => exact.has(h.id));
    expect(shared.length).toBeGreaterThanOrEqual(18);
    for (const hit of shared) expect(Math.abs(hit.score - (exact.get(hit.id) as number))).toBeLessThan(2e-3);
  });

  it('drops the least recently used catalogue when two do not fit together', async () => {
    const segments = await parts('int8', [500]);
    const query = randomUnitVectors(1, DIM, 6)[0] as Float32Array;
    const store = { store: { budgetBytes: 300_000 } };
    for (const collection of ['one', 'two', 'one']) {
      const other = { ...index, collection };
      const got = await rankCatalogue(
        sourceOf(other, catalogueOf(other, segments), segments),
        query,
        { k: 5 },
        store,
      );
      expect(got.path).toBe('kernel-int8');
    }
    expect(kernelStoreStats()).toMatchObject({ builds: 3, evictions: 2, entries: 1 });
  });
});
