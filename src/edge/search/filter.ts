/**
 * Metadata filters of a search, in Vectorize's vocabulary (`$eq $ne $in $nin $lt $lte $gt $gte`)
 * so that a Vectorize backend can take the same filters. A filter maps a field to a clause:
 * - a scalar is `$eq` (`{ "colour": "red" }`), a list is `$in` (`{ "count": [2, 3] }`);
 * - an object of operators must hold all of them (`{ "year": { "$gte": 2000, "$lt": 2010 } }`).
 *
 * Semantics (one rule each, pinned by test/edge/search/ranking.unit.test.ts):
 * - `$eq` / `$in`: the field is present and strictly equal to (one of) the value(s); `null` matches
 *   a present null, never a missing field. Two ISO-8601 dates are equal when they are the same
 *   instant (`2024-05-01` = `2024-05-01T00:00:00Z`).
 * - `$ne` / `$nin`: exactly the rows `$eq` / `$in` rejects, missing fields included (as Vectorize
 *   and MongoDB do).
 * - `$lt $lte $gt $gte`: a number bound compares numbers; an ISO-date bound compares values that
 *   are ISO dates, as instants. Any other value (a missing field, null, a string against a number)
 *   fails the clause.
 * Date-times without an offset are read as UTC, so a filter means the same in every runtime.
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

type Test = (value: unknown, present: boolean) => boolean;

function equalTo(wanted: FilterScalar): (value: unknown) => boolean {
  const wantedMs = typeof wanted === 'string' ? isoDateMs(wanted) : Number.NaN;
  if (Number.isNaN(wantedMs)) return (value) => value === wanted;
  return (value) => value === wanted || (typeof value === 'string' && isoDateMs(value) === wantedMs);
}

function anyOf(list: readonly FilterScalar[]): (value: unknown) => boolean {
  const tests = list.map(equalTo);
  if (tests.length === 1) return tests[0] as (value: unknown) => boolean;
  return (value) => tests.some((t) => t(value));
}

const COMPARE: Record<RangeOperator, (a: number, b: number) => boolean> = {
  $lt: (a, b) => a < b,
  $lte: (a, b) => a <= b,
  $gt: (a, b) => a > b,
  $gte: (a, b) => a >= b,
};

function range(op: RangeOperator, bound: number | string): Test {
  const cmp = COMPARE[op];
  if (typeof bound === 'number') return (value) => typeof value === 'number' && cmp(value, bound);
  const boundMs = isoDateMs(bound);
  return (value) => {
    if (typeof value !== 'string') return false;
    const ms = isoDateMs(value);
    return !Number.isNaN(ms) && cmp(ms, boundMs);
  };
}

function clauseTests(clause: FilterClause): Test[] {
  if (Array.isArray(clause)) {
    const has = anyOf(clause);
    return [(value, present) => present && has(value)];
  }
  if (clause === null || typeof clause !== 'object') {
    const is = equalTo(clause);
    return [(value, present) => present && is(value)];
  }
  const tests: Test[] = [];
  for (const [op, operand] of Object.entries(clause) as [FilterOperator, unknown][]) {
    if (op === '$eq' || op === '$in') {
      const has = op === '$eq' ? equalTo(operand as FilterScalar) : anyOf(operand as FilterScalar[]);
      tests.push((value, present) => present && has(value));
    } else if (op === '$ne' || op === '$nin') {
      const has = op === '$ne' ? equalTo(operand as FilterScalar) : anyOf(operand as FilterScalar[]);
      tests.push((value, present) => !present || !has(value));
    } else {
      const within = range(op, operand as number | string);
      tests.push((value, present) => present && within(value, present));
    }
  }
  return tests;
}

/** Turns a (validated) filter into one predicate, with its bounds parsed once. */
export function compileFilter(filter: MetadataFilter | undefined): RowPredicate {
  if (!filter) return () => true;
  const checks = Object.entries(filter).flatMap(([field, clause]) =>
    clauseTests(clause).map((test) => ({ field, test })),
  );
  if (checks.length === 0) return () => true;
  return (metadata) => {
    for (const { field, test } of checks) {
      const present = Object.hasOwn(metadata, field);
      if (!test(present ? metadata[field] : undefined, present)) return false;
    }
    return true;
  };
}

/** Whether `metadata` satisfies every clause of `filter` (compile once with compileFilter in loops). */
export function matchesFilter(metadata: ItemMetadata, filter: MetadataFilter | undefined): boolean {
  return compileFilter(filter)(metadata);
}
