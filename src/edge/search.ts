/**
 * Exact top-k search over decoded index segments, with a score floor, metadata filters and
 * offset-based pages behind an opaque cursor that is bound to its query and index generation.
 */
import { z } from 'zod';
import { type ItemMetadata, type Segment, scoreRow } from '../core/segment';
import { TopK } from '../core/vector';

/** Deepest result a cursor can reach (offset + k). */
export const MAX_SEARCH_DEPTH = 1000;

type Scalar = string | number | boolean | null;
/** Field -> value (equality) or list of values (any of them). */
export type MetadataFilter = Record<string, Scalar | Scalar[]>;

export interface SearchOptions {
  k: number;
  offset?: number;
  minScore?: number;
  filter?: MetadataFilter;
  /** Ids never returned (the query image itself when searching by an indexed id). */
  exclude?: ReadonlySet<string>;
}

export interface SearchHit {
  id: string;
  score: number;
  metadata: ItemMetadata;
  caption?: string;
}

export interface SearchPage {
  hits: SearchHit[];
  /** Offset of the next page, or null when this page is the last. */
  nextOffset: number | null;
}

/** Whether `metadata` satisfies every clause of `filter` (strict equality, arrays mean "any of"). */
export function matchesFilter(metadata: ItemMetadata, filter: MetadataFilter | undefined): boolean {
  if (!filter) return true;
  for (const [field, wanted] of Object.entries(filter)) {
    if (!Object.hasOwn(metadata, field)) return false;
    const value = metadata[field];
    if (Array.isArray(wanted) ? !wanted.includes(value as Scalar) : value !== wanted) return false;
  }
  return true;
}

/**
 * Scores every vector that passes the filter against the unit-length `query` and returns the
 * page `[offset, offset + k)` of the best, highest score first (ties: segment order).
 */
export function searchSegments(
  segments: readonly Segment[],
  query: Float32Array,
  options: SearchOptions,
): SearchPage {
  const offset = options.offset ?? 0;
  const minScore = options.minScore ?? Number.NEGATIVE_INFINITY;
  const depth = Math.min(offset + options.k, MAX_SEARCH_DEPTH);
  // One extra result tells whether another page exists.
  const heap = new TopK(depth + 1);
  // A hit is identified by its position in the concatenated segments (scan order breaks ties).
  const bases: number[] = [];
  let base = 0;
  for (const segment of segments) {
    bases.push(base);
    if (segment.dim !== query.length)
      throw new RangeError(`query has dim ${query.length}, index has ${segment.dim}`);
    for (let row = 0; row < segment.count; row++) {
      if (options.exclude?.has(segment.ids[row] as string)) continue;
      if (!matchesFilter((segment.attrs[row] as { metadata: ItemMetadata }).metadata, options.filter))
        continue;
      const score = scoreRow(segment, query, row);
      if (score < minScore || score <= heap.threshold) continue;
      heap.push(base + row, score);
    }
    base += segment.count;
  }
  const ranked = heap.sorted();
  const hits = ranked.slice(offset, depth).map(({ index, score }) => {
    let s = bases.length - 1;
    while ((bases[s] as number) > index) s--;
    const segment = segments[s] as Segment;
    const row = index - (bases[s] as number);
    const attrs = segment.attrs[row] as { metadata: ItemMetadata; caption?: string };
    return {
      id: segment.ids[row] as string,
      score,
      metadata: attrs.metadata,
      ...(attrs.caption === undefined ? {} : { caption: attrs.caption }),
    };
  });
  const more = ranked.length > depth && depth < MAX_SEARCH_DEPTH;
  return { hits, nextOffset: more ? depth : null };
}

const CursorSchema = z.object({
  v: z.literal(1),
  o: z.number().int().positive().max(MAX_SEARCH_DEPTH),
  g: z.number().int().nonnegative(),
  f: z.string().regex(/^[0-9a-f]{32}$/),
});

/** What identifies a query for cursor purposes (a cursor only continues the query it came from). */
export interface QueryIdentity {
  model: string;
  version: string;
  /** e.g. `text:빨간 원`, `id:demo-0001`, `url:https://…`, `sha256:…` */
  source: string;
  minScore?: number;
  filter?: MetadataFilter;
}

/** Stable JSON with sorted object keys, so equal filters give equal fingerprints. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

async function fingerprint(identity: QueryIdentity): Promise<string> {
  const text = canonical([
    identity.model,
    identity.version,
    identity.source,
    identity.minScore ?? null,
    identity.filter ?? null,
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
}

const toBase64Url = (s: string) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromBase64Url = (s: string) => atob(s.replace(/-/g, '+').replace(/_/g, '/'));

/** The opaque cursor for the page at `offset` of this query over index generation `generation`. */
export async function encodeCursor(
  offset: number,
  generation: number,
  identity: QueryIdentity,
): Promise<string> {
  return toBase64Url(JSON.stringify({ v: 1, o: offset, g: generation, f: await fingerprint(identity) }));
}

export type CursorCheck =
  | { ok: true; offset: number }
  | { ok: false; reason: 'malformed' | 'other_query' | 'stale' };

/** Reads a cursor back, refusing one that is malformed, from another query, or from an older index. */
export async function decodeCursor(
  cursor: string,
  generation: number,
  identity: QueryIdentity,
): Promise<CursorCheck> {
  let parsed: z.infer<typeof CursorSchema>;
  try {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) return { ok: false, reason: 'malformed' };
    const result = CursorSchema.safeParse(JSON.parse(fromBase64Url(cursor)));
    if (!result.success) return { ok: false, reason: 'malformed' };
    parsed = result.data;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (parsed.f !== (await fingerprint(identity))) return { ok: false, reason: 'other_query' };
  if (parsed.g !== generation) return { ok: false, reason: 'stale' };
  return { ok: true, offset: parsed.o };
}
