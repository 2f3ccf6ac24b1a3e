/**
 * Metadata filters of a search, in Vectorize's vocabulary (`$eq $ne $in $nin $lt $lte $gt $gte`)
 * so that a Vectorize backend can take the same filters. A filter maps a field to a clause:
 * - a scalar is `$eq` (`{ "colour": "red" }`), a list is `$in` (`{ "count": [2, 3] }`);
 * - an object of operators must hold all of them (`{ "year": { "$gte": 2000, "$lt": 2010 } }`).
 *
 * Semantics (one rule each, pinned by test/edge/search/filter.unit.test.ts):
 * - `$eq` / `$in`: the field is present and strictly equal to (one of) the value(s); `null` matches
 *   a present null, never a missing field. Two ISO-8601 dates are equal when they are the same
 *   instant (`2024-05-01` = `2024-05-01T00:00:00Z`).
 * - `$ne` / `$nin`: exactly the rows `$eq` / `$in` rejects, missing fields included (as Vectorize
 *   and MongoDB do).
 * - `$lt $lte $gt $gte`: a number bound compares numbers; an ISO-date bound compares values that
 *   are ISO dates, as instants. Any other value (a missing field, null, a string against a number)
 *   fails the clause.
 * Date-times without an offset are read as UTC, so a filter means the same in every runtime.
 * Over a held segment's rows (`compileFilter(f).rows(attrs)`, the kernel's allowed-row mask) the
 * ISO-date values a filter compares are read from a column parsed once per segment and field.
 * Pure: no bindings, no I/O. Filters are checked by MetadataFilterSchema before they reach here.
 */
import {
  type FilterClause,
  type FilterOperator,
  type FilterScalar,
  isoDateMs,
  type MetadataFilter,
  type RangeOperator,
} from '../../core/contract/metadata-filter';
import type { ItemMetadata } from '../../core/index-format/segment';

export type { MetadataFilter } from '../../core/contract/metadata-filter';

/** Whether a row's metadata passes. */
export type RowPredicate = (metadata: ItemMetadata) => boolean;

/** A segment's rows, as decoded (Segment.attrs, HeldSegment.attrs). */
export type FilterRows = readonly { metadata: ItemMetadata }[];

/** A compiled filter: over one row's metadata, or over the rows of a segment by row number. */
export interface CompiledFilter extends RowPredicate {
  /** The same predicate over `rows[row]`, with the ISO-date fields it compares read from a column
   * parsed once per rows array and field (dateColumn), not once per row and query. */
  rows(rows: FilterRows): (row: number) => boolean;
}

/**
 * `value`: the field's value; `present`: whether the row has the field; `ms`: the value as an
 * ISO-date instant (NaN when it is not a date, or when the field's tests compare no dates).
 */
type Test = (value: unknown, present: boolean, ms: number) => boolean;
interface FieldTests {
  field: string;
  /** Whether a test reads `ms`: only then is the value parsed as a date. */
  dates: boolean;
  tests: Test[];
}

function equalTo(wanted: FilterScalar): { dates: boolean; is: (value: unknown, ms: number) => boolean } {
  const wantedMs = typeof wanted === 'string' ? isoDateMs(wanted) : Number.NaN;
  if (Number.isNaN(wantedMs)) return { dates: false, is: (value) => value === wanted };
  return { dates: true, is: (value, ms) => value === wanted || ms === wantedMs };
}

function anyOf(list: readonly FilterScalar[]): {
  dates: boolean;
  is: (value: unknown, ms: number) => boolean;
} {
  const tests = list.map(equalTo);
  const dates = tests.some((t) => t.dates);
  if (tests.length === 1) return tests[0] as ReturnType<typeof equalTo>;
  return { dates, is: (value, ms) => tests.some((t) => t.is(value, ms)) };
}

const COMPARE: Record<RangeOperator, (a: number, b: number) => boolean> = {
  $lt: (a, b) => a < b,
  $lte: (a, b) => a <= b,
  $gt: (a, b) => a > b,
  $gte: (a, b) => a >= b,
};

function range(op: RangeOperator, bound: number | string): { dates: boolean; test: Test } {
  const cmp = COMPARE[op];
  if (typeof bound === 'number')
    return { dates: false, test: (value) => typeof value === 'number' && cmp(value, bound) };
  const boundMs = isoDateMs(bound);
  return { dates: true, test: (_value, _present, ms) => !Number.isNaN(ms) && cmp(ms, boundMs) };
}

function clauseTests(field: string, clause: FilterClause): FieldTests {
  if (Array.isArray(clause)) {
    const has = anyOf(clause);
    return { field, dates: has.dates, tests: [(value, present, ms) => present && has.is(value, ms)] };
  }
  if (clause === null || typeof clause !== 'object') {
    const is = equalTo(clause);
    return { field, dates: is.dates, tests: [(value, present, ms) => present && is.is(value, ms)] };
  }
  const out: FieldTests = { field, dates: false, tests: [] };
  for (const [op, operand] of Object.entries(clause) as [FilterOperator, unknown][]) {
    if (op === '$eq' || op === '$in' || op === '$ne' || op === '$nin') {
      const has =
        op === '$eq' || op === '$ne' ? equalTo(operand as FilterScalar) : anyOf(operand as FilterScalar[]);
      out.dates ||= has.dates;
      out.tests.push(
        op === '$eq' || op === '$in'
          ? (value, present, ms) => present && has.is(value, ms)
          : (value, present, ms) => !present || !has.is(value, ms),
      );
    } else {
      const within = range(op, operand as number | string);
      out.dates ||= within.dates;
      out.tests.push((value, present, ms) => present && within.test(value, present, ms));
    }
  }
  return out;
}

const EMPTY: ItemMetadata = {};

/** A value as an ISO-date instant, NaN when it is none. */
const dateOf = (value: unknown) => (typeof value === 'string' ? isoDateMs(value) : Number.NaN);

/**
 * Parsed ISO-date columns, per rows array (a decoded segment's attrs, which live as long as the
 * segment is held) and field: 8 bytes a row, so 0.8 MB per compared date field at 100k rows.
 * Parsing a date costs about 0.25 us, which at 100k rows was 25 ms a query, seven times the scan.
 */
const dateColumns = new WeakMap<FilterRows, Map<string, Float64Array>>();

/** The ISO-date column of `field` over `rows` (NaN where a row's value is no date or missing). */
export function dateColumn(rows: FilterRows, field: string): Float64Array {
  let columns = dateColumns.get(rows);
  if (!columns) {
    columns = new Map();
    dateColumns.set(rows, columns);
  }
  let column = columns.get(field);
  if (!column) {
    column = new Float64Array(rows.length);
    for (let r = 0; r < rows.length; r++) {
      const metadata = rows[r]?.metadata ?? EMPTY;
      column[r] = Object.hasOwn(metadata, field) ? dateOf(metadata[field]) : Number.NaN;
    }
    columns.set(field, column);
  }
  return column;
}

const ALWAYS: CompiledFilter = Object.assign(() => true, { rows: () => () => true });

/** Turns a (validated) filter into one predicate, with its bounds parsed once. */
export function compileFilter(filter: MetadataFilter | undefined): CompiledFilter {
  if (!filter) return ALWAYS;
  // One flat list of (field, test): the loop every row of a scan runs.
  const checks = Object.entries(filter).flatMap(([field, clause]) => {
    const { dates, tests } = clauseTests(field, clause);
    return tests.map((test) => ({ field, dates, test }));
  });
  if (checks.length === 0) return ALWAYS;
  const passes = (metadata: ItemMetadata) => {
    for (const { field, dates, test } of checks) {
      const present = Object.hasOwn(metadata, field);
      const value = present ? metadata[field] : undefined;
      if (!test(value, present, dates ? dateOf(value) : Number.NaN)) return false;
    }
    return true;
  };
  if (!checks.some((c) => c.dates)) {
    return Object.assign(passes, {
      rows: (of: FilterRows) => (row: number) => passes(of[row]?.metadata ?? EMPTY),
    });
  }
  const rows = (of: FilterRows) => {
    const columns = checks.map((c) => (c.dates ? dateColumn(of, c.field) : undefined));
    return (row: number) => {
      const metadata = of[row]?.metadata ?? EMPTY;
      for (let i = 0; i < checks.length; i++) {
        const { field, test } = checks[i] as (typeof checks)[number];
        const present = Object.hasOwn(metadata, field);
        const value = present ? metadata[field] : undefined;
        const column = columns[i];
        if (!test(value, present, column ? (column[row] as number) : Number.NaN)) return false;
      }
      return true;
    };
  };
  return Object.assign(passes, { rows });
}

/** Whether `metadata` satisfies every clause of `filter` (compile once with compileFilter in loops). */
export function matchesFilter(metadata: ItemMetadata, filter: MetadataFilter | undefined): boolean {
  return compileFilter(filter)(metadata);
}
