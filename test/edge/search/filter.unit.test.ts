/**
 * Metadata filters (src/edge/search/filter.ts): each operator's rule, the compiled filter over a
 * segment's rows, ISO dates as instants, and the schema that checks filters before they arrive.
 */
import { describe, expect, it } from 'vitest';
import { MetadataFilterSchema } from '../../../src/core/contract/api-schemas';
import { isoDateMs } from '../../../src/core/contract/metadata-filter';
import type { ItemMetadata } from '../../../src/core/index-format/segment';
import { describeIssues } from '../../../src/edge/http/errors';
import {
  compileFilter,
  dateColumn,
  type MetadataFilter,
  matchesFilter,
} from '../../../src/edge/search/filter';

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
