/**
 * The shape of a metadata filter (Vectorize's vocabulary) and its ISO-8601 dates, shared by the
 * request schema (api-schemas.ts) and the matcher (src/edge/search/filter.ts, which documents
 * the semantics), so that both read a date alike.
 */
import { z } from 'zod';

export type FilterScalar = string | number | boolean | null;
export const RANGE_OPERATORS = ['$lt', '$lte', '$gt', '$gte'] as const;
export const FILTER_OPERATORS = ['$eq', '$ne', '$in', '$nin', ...RANGE_OPERATORS] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];
export type RangeOperator = (typeof RANGE_OPERATORS)[number];

/**
 * Names no metadata field may have: JavaScript's object internals (a `__proto__` key of a JSON body
 * would otherwise vanish when the body becomes an object, and `constructor` / `prototype` read as
 * inherited members), and `$`-prefixed names, which a filter reads as operators.
 */
export const RESERVED_FIELD_NAMES: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/** Why `name` cannot be a metadata field, or undefined when it can. */
export function metadataFieldProblem(name: string): string | undefined {
  if (RESERVED_FIELD_NAMES.includes(name)) {
    return `${JSON.stringify(name)} is a reserved name (${RESERVED_FIELD_NAMES.join(', ')}), not a metadata field`;
  }
  if (name.startsWith('$'))
    return 'metadata field names may not start with $ (filters read those as operators)';
  return undefined;
}

/** Why `name` cannot be a field of a filter (`{ "<field>": <clause> }`), or undefined when it can. */
export function filterFieldProblem(name: string): string | undefined {
  const supported = `operators go inside a field's clause: ${FILTER_OPERATORS.join(' ')}`;
  if (['$or', '$and', '$not', '$nor'].includes(name)) {
    return (
      `${name} is not supported: every field of a filter must hold (and); for one of several values of a ` +
      `field give a list ({"colour": ["red", "blue"]}) or $in; ${supported}`
    );
  }
  if (name.startsWith('$')) {
    return `${JSON.stringify(name.slice(0, 40))} is not a field: a filter is {"<field>": <clause>}; ${supported}`;
  }
  if (RESERVED_FIELD_NAMES.includes(name)) return `${JSON.stringify(name)} is a reserved name, not a field`;
  return undefined;
}

/**
 * `schema` behind a check of the raw input's own keys: one issue per refused key, at its path. The
 * check runs before a zod record copies the object, since the copy drops a `__proto__` key without
 * a word. (A preprocess step: the OpenAPI document shows `schema` itself.)
 */
export function withCheckedKeys<T extends z.ZodType>(
  schema: T,
  problem: (key: string) => string | undefined,
) {
  return z.preprocess((value, ctx) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    for (const key of Object.keys(value)) {
      const message = problem(key);
      if (message) ctx.addIssue({ code: 'custom', path: [key], message });
    }
    return value;
  }, schema);
}

/** Operators of one field, all of which must hold. Range bounds are numbers or ISO dates. */
export type OperatorClause = {
  $eq?: FilterScalar;
  $ne?: FilterScalar;
  $in?: FilterScalar[];
  $nin?: FilterScalar[];
  $lt?: number | string;
  $lte?: number | string;
  $gt?: number | string;
  $gte?: number | string;
};
/** A scalar ($eq), a list ($in) or an object of operators. */
export type FilterClause = FilterScalar | FilterScalar[] | OperatorClause;
/** Field -> clause; a row passes when every clause holds. */
export type MetadataFilter = Record<string, FilterClause>;

/** Digits of `s` from `at` (length `n`) as a number, or -1 when one is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Milliseconds since the epoch of an ISO-8601 date (`2024-05-01`) or date-time
 * (`2024-05-01T09:30`, `...:15`, `...:15.250`, with `Z`, `+09:00` or `+0900`; a space may stand for
 * the `T`), or NaN when it is not one or names a day that does not exist. A date-time without an
 * offset, and a date alone, are UTC. Parsed by hand, without a regex or Date.parse: filters call
 * it for every row of a scan.
 */
export function isoDateMs(value: string): number {
  const n = value.length;
  if (n < 10 || value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45) return Number.NaN;
  const y = digits(value, 0, 4);
  const mo = digits(value, 5, 2);
  const d = digits(value, 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1) return Number.NaN;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (mo === 2 && leap ? 29 : (DAYS_IN_MONTH[mo - 1] as number))) return Number.NaN;
  // Date.UTC reads years 0-99 as 1900-1999.
  let ms = y < 100 ? new Date(Date.UTC(2000, mo - 1, d)).setUTCFullYear(y) : Date.UTC(y, mo - 1, d);
  if (n === 10) return ms;
  const sep = value.charCodeAt(10);
  if ((sep !== 84 && sep !== 32) || n < 16 || value.charCodeAt(13) !== 58) return Number.NaN;
  const h = digits(value, 11, 2);
  const mi = digits(value, 14, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59) return Number.NaN;
  ms += h * 3_600_000 + mi * 60_000;
  let i = 16;
  if (i < n && value.charCodeAt(i) === 58) {
    const sec = digits(value, i + 1, 2);
    if (i + 3 > n || sec < 0 || sec > 59) return Number.NaN;
    ms += sec * 1000;
    i += 3;
    if (i < n && value.charCodeAt(i) === 46) {
      let j = i + 1;
      let frac = 0;
      let scale = 100;
      while (j < n && value.charCodeAt(j) >= 48 && value.charCodeAt(j) <= 57) {
        if (j - i > 9) return Number.NaN;
        frac += (value.charCodeAt(j) - 48) * scale;
        scale /= 10;
        j++;
      }
      if (j === i + 1) return Number.NaN;
      ms += Math.floor(frac + 1e-9);
      i = j;
    }
  }
  if (i === n) return ms;
  const zone = value.charCodeAt(i);
  if (zone === 90) return i + 1 === n ? ms : Number.NaN;
  if (zone !== 43 && zone !== 45) return Number.NaN;
  const oh = digits(value, i + 1, 2);
  const colon = value.charCodeAt(i + 3) === 58 ? 1 : 0;
  const om = digits(value, i + 3 + colon, 2);
  if (i + 5 + colon !== n || oh < 0 || oh > 23 || om < 0 || om > 59) return Number.NaN;
  const offset = (oh * 60 + om) * 60_000;
  return zone === 43 ? ms - offset : ms + offset;
}
