/**
 * The shape of a metadata filter (Vectorize's vocabulary) and its ISO-8601 dates, shared by the
 * request schema (api-schemas.ts) and the matcher (src/edge/search/filter.ts, which documents
 * the semantics), so that both read a date alike.
 */

export type FilterScalar = string | number | boolean | null;
export const RANGE_OPERATORS = ['$lt', '$lte', '$gt', '$gte'] as const;
export const FILTER_OPERATORS = ['$eq', '$ne', '$in', '$nin', ...RANGE_OPERATORS] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];
export type RangeOperator = (typeof RANGE_OPERATORS)[number];

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

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Milliseconds since the epoch of an ISO-8601 date or date-time, or NaN when it is not one. */
export function isoDateMs(value: string): number {
  const m = ISO_DATE.exec(value);
  if (!m) return Number.NaN;
  const [, y, mo, d, h] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31) return Number.NaN;
  // A date-time with no offset is UTC here (JS would read it as local time).
  const offset = m[7];
  const base = value.slice(0, value.length - (offset?.length ?? 0)).replace(' ', 'T');
  const zone =
    h === undefined
      ? ''
      : offset === undefined || offset === 'Z'
        ? 'Z'
        : offset.replace(/(\d{2})(\d{2})$/, '$1:$2');
  const text = base + zone;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return ms;
  // Date.parse rolls 2024-02-31 over to March: refuse dates that do not exist.
  const check = new Date(Date.UTC(Number(y), month - 1, day));
  return check.getUTCMonth() === month - 1 ? ms : Number.NaN;
}
