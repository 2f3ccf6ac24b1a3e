import { describe, expect, it } from 'vitest';
import { MetadataFilterSchema } from '../../../src/core/contract/api-schemas';
import { isoDateMs } from '../../../src/core/contract/metadata-filter';
import {
  decodeSegment,
  encodeSegment,
  type ItemMetadata,
  type Segment,
} from '../../../src/core/index-format/segment';
import { dot, TopK } from '../../../src/core/vector';
import { describeIssues } from '../../../src/edge/http/errors';
import { decodeCursor, encodeCursor, type QueryIdentity } from '../../../src/edge/search/cursor';
import {
  compileFilter,
  dateColumn,
  type MetadataFilter,
  matchesFilter,
} from '../../../src/edge/search/filter';
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

describe('matchesFilter', () => {
  const metadata = { colour: 'red', count: 2, big: true, note: null };
  it.each([
    [undefined, true],
    [{}, true],
    [{ colour: 'red' }, true],
    [{ colour: 'blue' }, false],
    [{ colour: ['blue', 'red'] }, true],
    [{ colour: 'red', count: 2 }, true],
    [{ colour: 'red', count: 3 }, false],
    [{ count: '2' }, false],
    [{ big: true }, true],
    [{ note: null }, true],
    [{ missing: null }, false],
    [{ count: [1, 3] }, false],
  ])('%j -> %s', (filter, expected) => {
    expect(matchesFilter(metadata, filter)).toBe(expected);
  });
});

describe('matchesFilter operators', () => {
  const row = {
    colour: 'red',
    count: 2,
    big: true,
    note: null,
    taken: '2024-05-01T09:00:00+09:00',
    day: '2024-05-01',
    label: '2024 spring',
  };
  it.each([
    // $eq / $ne on numbers, strings, booleans and null; missing fields
    [{ count: { $eq: 2 } }, true],
    [{ count: { $eq: '2' } }, false],
    [{ colour: { $eq: 'red' } }, true],
    [{ big: { $eq: false } }, false],
    [{ note: { $eq: null } }, true],
    [{ missing: { $eq: null } }, false],
    [{ count: { $ne: 3 } }, true],
    [{ count: { $ne: 2 } }, false],
    [{ colour: { $ne: 'red' } }, false],
    [{ note: { $ne: null } }, false],
    [{ missing: { $ne: 'x' } }, true],
    [{ missing: { $ne: null } }, true],
    // $in / $nin
    [{ colour: { $in: ['blue', 'red'] } }, true],
    [{ colour: { $in: ['blue'] } }, false],
    [{ count: { $in: [1, 2] } }, true],
    [{ note: { $in: [null, 'x'] } }, true],
    [{ missing: { $in: [null] } }, false],
    [{ colour: { $nin: ['blue', 'green'] } }, true],
    [{ colour: { $nin: ['red'] } }, false],
    [{ missing: { $nin: ['red'] } }, true],
    // ranges on numbers
    [{ count: { $lt: 3 } }, true],
    [{ count: { $lt: 2 } }, false],
    [{ count: { $lte: 2 } }, true],
    [{ count: { $gt: 2 } }, false],
    [{ count: { $gt: 1.5 } }, true],
    [{ count: { $gte: 2 } }, true],
    [{ count: { $gte: 2.01 } }, false],
    [{ count: { $gte: 1, $lt: 3 } }, true],
    [{ count: { $gte: 1, $lt: 2 } }, false],
    [{ colour: { $gt: 0 } }, false],
    [{ note: { $gt: 0 } }, false],
    [{ note: { $lt: 0 } }, false],
    [{ missing: { $lt: 10 } }, false],
    [{ big: { $gte: 0 } }, false],
    // ranges on ISO dates, compared as instants (09:00+09:00 is midnight UTC)
    [{ taken: { $gte: '2024-05-01' } }, true],
    [{ taken: { $gt: '2024-05-01' } }, false],
    [{ taken: { $lte: '2024-05-01T00:00:00Z' } }, true],
    [{ taken: { $lt: '2024-05-01T00:00:00.001Z' } }, true],
    [{ taken: { $gt: '2024-04-30T23:59:59Z', $lt: '2024-05-02' } }, true],
    [{ day: { $gte: '2024-01-01', $lt: '2025-01-01' } }, true],
    [{ day: { $lt: '2023-12-31' } }, false],
    [{ label: { $gt: '2000-01-01' } }, false],
    [{ count: { $gt: '2000-01-01' } }, false],
    [{ missing: { $gte: '2000-01-01' } }, false],
    // dates are equal as instants for $eq / $in / $ne
    [{ day: { $eq: '2024-05-01T00:00:00Z' } }, true],
    [{ taken: '2024-05-01' }, true],
    [{ taken: { $in: ['2023-01-01', '2024-05-01T00:00Z'] } }, true],
    [{ taken: { $ne: '2024-05-01' } }, false],
    // shorthand and operators together; every field must pass
    [{ colour: 'red', count: { $gt: 1 }, day: { $lt: '2025-01-01' } }, true],
    [{ colour: ['red'], count: { $gt: 5 } }, false],
  ])('%j -> %s', (filter, expected) => {
    expect(matchesFilter(row, filter as MetadataFilter)).toBe(expected);
    // The same by row number over a segment's rows (the kernel's mask; dates from a column).
    const rows = [{ metadata: {} }, { metadata: row }];
    expect(compileFilter(filter as MetadataFilter).rows(rows)(1)).toBe(expected);
  });
});

describe("compileFilter over a segment's rows", () => {
  const values = [
    '2024-05-01',
    '2024-05-01T09:00:00+09:00',
    '2024-05-01T00:00:00.001Z',
    '2023-12-31T23:59:59Z',
    '2024-02-30',
    'spring',
    '',
    5,
    null,
    true,
  ];
  const rows: { metadata: ItemMetadata }[] = Array.from({ length: 200 }, (_, i) => ({
    metadata: (i % 11 === 10
      ? { other: 1 }
      : { taken: values[i % values.length] ?? null, n: i }) as ItemMetadata,
  }));
  const filters: MetadataFilter[] = [
    { taken: { $gte: '2024-05-01' } },
    { taken: { $lt: '2024-05-01T00:00:00.001Z', $gt: '2023-01-01' } },
    { taken: '2024-05-01T00:00:00Z' },
    { taken: { $ne: '2024-05-01' } },
    { taken: { $nin: ['2023-12-31T23:59:59Z', 'spring'] } },
    { taken: ['2024-05-01', 5] },
    { taken: { $in: [null, '2024-05-01T00:00:00.001Z'] }, n: { $lt: 150 } },
    { n: { $gte: 20, $lt: 90 } },
  ];

  it.each(filters)('%j: the same rows as the metadata predicate', (filter) => {
    const compiled = compileFilter(filter);
    const byRow = compiled.rows(rows);
    const want = rows.map((r) => compiled(r.metadata));
    expect(rows.map((_, i) => byRow(i))).toEqual(want);
    expect(want.some(Boolean)).toBe(true);
  });

  it('parses a date field once per rows array, and each rows array for itself', () => {
    const column = dateColumn(rows, 'taken');
    expect(dateColumn(rows, 'taken')).toBe(column);
    expect(column[0]).toBe(isoDateMs('2024-05-01'));
    expect(Number.isNaN(column[4] as number)).toBe(true); // 2024-02-30 is no date
    expect(Number.isNaN(column[7] as number)).toBe(true); // a number
    expect(Number.isNaN(column[10] as number)).toBe(true); // missing
    const other = rows.map((r) => ({ metadata: { ...r.metadata, taken: '1999-01-01' } }));
    expect(dateColumn(other, 'taken')).not.toBe(column);
    expect(compileFilter({ taken: { $lt: '2000-01-01' } }).rows(other)(0)).toBe(true);
    expect(compileFilter({ taken: { $lt: '2000-01-01' } }).rows(rows)(0)).toBe(false);
  });
});

describe('isoDateMs', () => {
  it.each([
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    ['2024-05-01T09:30', Date.UTC(2024, 4, 1, 9, 30)],
    ['2024-05-01 09:30:15', Date.UTC(2024, 4, 1, 9, 30, 15)],
    ['2024-05-01T09:30:15.25Z', Date.UTC(2024, 4, 1, 9, 30, 15, 250)],
    ['2024-05-01T09:30:15.123456789Z', Date.UTC(2024, 4, 1, 9, 30, 15, 123)],
    ['2024-05-01T09:00+09:00', Date.UTC(2024, 4, 1)],
    ['2024-05-01T09:00+0900', Date.UTC(2024, 4, 1)],
    ['2024-04-30T19:00-05:00', Date.UTC(2024, 4, 1)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
    ['2000-02-29', Date.UTC(2000, 1, 29)],
    ['0050-03-01', new Date(Date.UTC(2000, 2, 1)).setUTCFullYear(50)],
  ])('%s', (text, ms) => {
    expect(isoDateMs(text)).toBe(ms);
  });

  it.each([
    '2023-02-29',
    '1900-02-29',
    '2024-04-31',
    '2024-13-01',
    '2024-5-1',
    '2024-05-01T24:00',
    '2024-05-01T12:60',
    '2024-05-01T12',
    '2024-05-01T12:00:00.',
    '2024-05-01T12:00Zx',
    '2024-05-01T12:00+9',
    '2024',
    'spring 2024',
    '',
  ])('refuses %j', (text) => {
    expect(isoDateMs(text)).toBeNaN();
  });

  it('agrees with Date.parse on canonical UTC timestamps', () => {
    for (let i = 0; i < 2000; i++) {
      const text = new Date(-1e12 + i * 2_345_678_901).toISOString();
      expect(isoDateMs(text)).toBe(Date.parse(text));
    }
  });
});

describe('MetadataFilterSchema', () => {
  it.each([
    [{ colour: 'red', count: [1, 2] }],
    [{ year: { $gte: 2000, $lt: 2010 } }],
    [{ taken: { $lt: '2024-06-01T12:00:00+09:00' } }],
    [{ colour: { $ne: null, $nin: ['red', 'blue'] } }],
  ])('accepts %j', (filter) => {
    expect(MetadataFilterSchema.safeParse(filter).success).toBe(true);
  });

  it.each([
    [{ year: { $gt: 'soon' } }, 'year: $gt needs a number or an ISO date'],
    [{ year: { $lte: true } }, 'year: $lte needs a number or an ISO date'],
    [{ year: { $lt: null } }, 'year: $lt needs a number or an ISO date'],
    [{ year: { $gte: [2000] } }, 'year: $gte needs a number or an ISO date'],
    [{ day: { $lt: '2024-02-30' } }, 'day: $lt needs a number or an ISO date'],
    [{ colour: { $in: 'red' } }, 'colour: $in needs a list'],
    [{ colour: { $nin: [] } }, 'colour: $nin needs a list'],
    [{ colour: { $in: [{ a: 1 }] } }, 'colour: $in needs a list'],
    [{ colour: { $eq: ['red'] } }, 'colour: $eq needs a string'],
    [{ colour: { $ne: { $eq: 1 } } }, 'colour: $ne needs a string'],
    [{ colour: { $regex: 'r.*' } }, 'colour: unknown operator "$regex"'],
    [{ colour: {} }, 'colour: needs at least one operator'],
    [{ colour: 'x'.repeat(257) }, 'colour: must be a string'],
    [{ colour: Array(33).fill('red') }, 'colour: a list needs a list of 1 to 32'],
  ])('refuses %j naming the field', (filter, message) => {
    const parsed = MetadataFilterSchema.safeParse(filter);
    expect(parsed.success).toBe(false);
    expect(describeIssues(parsed.error?.issues ?? [])).toContain(message);
  });

  it('refuses more than 16 fields', () => {
    const filter = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}`, i]));
    expect(MetadataFilterSchema.safeParse(filter).success).toBe(false);
  });
});

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
    expect(referencePage([], query, { k: 5 })).toEqual({ hits: [], nextOffset: null });
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

describe('cursors', () => {
  const identity: QueryIdentity = {
    model: 'm',
    version: '1',
    source: 'text:빨간 원',
    filter: { colour: 'red', count: 2 },
  };

  it('round-trip for the same query, even with filter keys reordered', async () => {
    const cursor = await encodeCursor(20, 3, identity);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await decodeCursor(cursor, 3, { ...identity, filter: { count: 2, colour: 'red' } })).toEqual({
      ok: true,
      offset: 20,
    });
  });

  it.each([
    ['another text', { source: 'text:파란 별' }],
    ['another filter', { filter: { colour: 'blue' } }],
    ['another min_score', { minScore: 0.2 }],
    ['another model version', { version: '2' }],
  ])('refuse %s', async (_name, change) => {
    const cursor = await encodeCursor(20, 3, identity);
    expect(await decodeCursor(cursor, 3, { ...identity, ...change })).toEqual({
      ok: false,
      reason: 'other_query',
    });
  });

  it('refuse a cursor from an older index generation', async () => {
    const cursor = await encodeCursor(20, 3, identity);
    expect(await decodeCursor(cursor, 4, identity)).toEqual({ ok: false, reason: 'stale' });
  });

  it.each([
    ['garbage', 'not a cursor!'],
    ['bad base64 JSON', 'AAAA'],
    ['empty object', btoa('{}')],
    ['negative offset', btoa(JSON.stringify({ v: 1, o: -5, g: 3, f: '0'.repeat(32) }))],
    ['offset past the max depth', btoa(JSON.stringify({ v: 1, o: 5000, g: 3, f: '0'.repeat(32) }))],
    ['too long', 'A'.repeat(600)],
  ])('refuse %s as malformed', async (_name, cursor) => {
    expect(await decodeCursor(cursor.replace(/=+$/, ''), 3, identity)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuse a cursor whose query fingerprint was edited', async () => {
    const cursor = await encodeCursor(20, 3, identity);
    const body = JSON.parse(atob(cursor.replace(/-/g, '+').replace(/_/g, '/')));
    const forged = btoa(JSON.stringify({ ...body, f: 'f'.repeat(32) })).replace(/=+$/, '');
    expect(await decodeCursor(forged, 3, identity)).toEqual({ ok: false, reason: 'other_query' });
  });
});
