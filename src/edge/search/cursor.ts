/**
 * The opaque search cursor: the offset of the next page, bound to its query (a fingerprint of
 * model, source, score floor and filter) and to the index generation it was issued for.
 */
import { z } from 'zod';
import { sha256Bytes, toHex } from '../../core/hash';
import type { MetadataFilter } from './filter';
import { MAX_SEARCH_DEPTH } from './page';

const CursorSchema = z.object({
  v: z.literal(1),
  o: z.number().int().positive().max(MAX_SEARCH_DEPTH),
  g: z.number().int().nonnegative(),
  f: z.string().regex(/^[0-9a-f]{32}$/),
  /** The query's fingerprint without its model, and the model (`id@version`) it was issued for. */
  q: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  m: z.string().max(256).optional(),
});

/** What identifies a query for cursor purposes (a cursor only continues the query it came from). */
export interface QueryIdentity {
  model: string;
  version: string;
  /** The collection searched (a cursor never continues into another collection). */
  collection?: string;
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

async function fingerprint(identity: QueryIdentity, withModel = true): Promise<string> {
  const text = canonical([
    withModel ? identity.model : null,
    withModel ? identity.version : null,
    identity.source,
    identity.minScore ?? null,
    identity.filter ?? null,
    identity.collection ?? null,
  ]);
  return toHex((await sha256Bytes(text)).subarray(0, 16));
}

const toBase64Url = (s: string) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromBase64Url = (s: string) => atob(s.replace(/-/g, '+').replace(/_/g, '/'));

/** The opaque cursor for the page at `offset` of this query over index generation `generation`. */
export async function encodeCursor(
  offset: number,
  generation: number,
  identity: QueryIdentity,
): Promise<string> {
  const [f, q] = await Promise.all([fingerprint(identity), fingerprint(identity, false)]);
  const m = `${identity.model}@${identity.version}`;
  return toBase64Url(JSON.stringify({ v: 1, o: offset, g: generation, f, q, m }));
}

export type CursorCheck =
  | { ok: true; offset: number }
  | { ok: false; reason: 'malformed' | 'other_query' | 'stale' | 'moved' };

/**
 * Reads a cursor back, refusing one that is malformed, from another query, from an older index
 * generation (`stale`), or of the same query issued for another model (`moved`: the collection
 * now reads another model, so the next page would come from another embedding space).
 */
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
  if (parsed.f !== (await fingerprint(identity))) {
    const moved =
      parsed.m !== undefined &&
      parsed.m !== `${identity.model}@${identity.version}` &&
      parsed.q === (await fingerprint(identity, false));
    return { ok: false, reason: moved ? 'moved' : 'other_query' };
  }
  if (parsed.g !== generation) return { ok: false, reason: 'stale' };
  return { ok: true, offset: parsed.o };
}
