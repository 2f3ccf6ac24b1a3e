/**
 * One search request, checked in one place and run: exactly one query (a text, an indexed image,
 * an image URL or an upload, or a composite of several: ./composite), the index of the model's
 * embedding space, the cursor, and the ranking of the index's catalogue (catalogue-search.ts: the
 * search kernel, or the JS loop).
 */
import type { SearchBody, SearchResponse } from '../../core/contract/api-schemas';
import { ApiError } from '../http/errors';
import { guardIndex, type QueryContext } from '../query/context';
import { embedQueryImage, type QueryImage, queryImageFrom } from '../query/image';
import { embedQueryTexts } from '../query/text-embedder';
import { type CompositeQuery, compositeFrom, embedComposite, encoderCalls } from './composite';
import { decodeCursor, encodeCursor } from './cursor';
import type { MetadataFilter } from './filter';
import { searchShards } from './shards';

export type SearchQuery =
  | { kind: 'text'; text: string }
  | QueryImage
  | { kind: 'composite'; composite: CompositeQuery };

export interface SearchRequest {
  query: SearchQuery;
  k: number;
  minScore?: number;
  filter?: MetadataFilter;
  cursor?: string;
  /** A page marked partial rather than 503 when a search shard does not answer. */
  allowPartial?: boolean;
}

/** The validated fields of GET (query string), POST JSON (composite parts too) or POST multipart. */
export type SearchInput = Partial<SearchBody> & Pick<SearchBody, 'k'> & { q?: string; image?: File };

/**
 * Checks that exactly one query is given (400 `invalid_request` otherwise: a text, an image, or
 * composite parts) and builds the request; query images are decoded and checked here.
 */
export async function searchRequestFrom(fields: SearchInput): Promise<SearchRequest> {
  const composite = await compositeFrom(fields);
  const text = fields.text ?? fields.q;
  const image = composite ? undefined : await queryImageFrom(fields, fields.image);
  if (!composite && (text === undefined) === (image === undefined)) {
    throw new ApiError(
      400,
      'invalid_request',
      'give exactly one of text, image_id, image_url or an image upload, or composite positive parts',
    );
  }
  return {
    query: composite ? { kind: 'composite', composite } : (image ?? { kind: 'text', text: text as string }),
    k: fields.k,
    ...(fields.min_score === undefined ? {} : { minScore: fields.min_score }),
    ...(fields.filter ? { filter: fields.filter } : {}),
    ...(fields.cursor ? { cursor: fields.cursor } : {}),
    ...(fields.allow_partial ? { allowPartial: true } : {}),
  };
}

/**
 * The response body, which ranking path answered (for the route's `x-koclip-search-path`: the
 * shards' path when they agree, else every path once, comma-separated) and how many shards.
 */
export async function runSearch(ctx: QueryContext, request: SearchRequest) {
  const { model, store } = ctx;
  const catalogue = await guardIndex(() => store.catalogue());
  if (!catalogue || catalogue.count === 0) {
    throw new ApiError(
      404,
      'index_empty',
      `the ${ctx.collection} collection of the ${model.id}@${model.version} image index is empty; ` +
        'index images first (npm run index, PUT /v1/images/{id} or POST /v1/webhooks/index)',
    );
  }
  const { vector, identity, description, exclude } = await embedQuery(ctx, request.query);
  const cursorIdentity = {
    model: model.id,
    version: model.version,
    collection: ctx.collection,
    source: identity,
    minScore: request.minScore,
    filter: request.filter,
  };
  let offset = 0;
  if (request.cursor) {
    const check = await decodeCursor(request.cursor, catalogue.generation, cursorIdentity);
    if (!check.ok && check.reason === 'stale')
      throw new ApiError(409, 'cursor_stale', 'the index changed since this cursor was issued; search again');
    if (!check.ok && check.reason === 'moved')
      throw new ApiError(409, 'cursor_stale', 'the collection now reads another model; search again');
    if (!check.ok)
      throw new ApiError(
        400,
        'invalid_cursor',
        check.reason === 'malformed' ? 'the cursor is malformed' : 'the cursor belongs to another query',
      );
    offset = check.offset;
  }
  const sharded = await guardIndex(() =>
    searchShards(ctx.env, store.index, catalogue, vector, {
      k: request.k,
      offset,
      ...(request.minScore === undefined ? {} : { minScore: request.minScore }),
      ...(request.filter ? { filter: request.filter } : {}),
      ...(exclude ? { exclude } : {}),
    }),
  );
  const { page, missing } = sharded;
  const partial = missing.shards.length > 0;
  if (partial && !request.allowPartial) {
    throw new ApiError(
      503,
      'shards_unavailable',
      `${missing.shards.length} of ${sharded.shards} index shards did not answer in time; ` +
        'try again, or set allow_partial to get the page of the shards that answered',
    );
  }
  const body = {
    object: 'search_results' as const,
    model: model.id,
    version: model.version,
    query: description,
    results: page.hits,
    // A partial page has no cursor: the next page could not continue it consistently.
    next_cursor:
      page.nextOffset === null || partial
        ? null
        : await encodeCursor(page.nextOffset, catalogue.generation, cursorIdentity),
    ...(partial
      ? {
          partial: { missing_shards: missing.shards.length, missing_share: Number(missing.share.toFixed(4)) },
        }
      : {}),
  };
  return { body, path: [...new Set(sharded.paths)].join(','), shards: sharded.shards };
}

/** Encoder calls a request makes (query images fetched or decoded): the units it is charged. */
export function encoderCallsOf(request: SearchRequest): number {
  const { query } = request;
  if (query.kind === 'composite') return encoderCalls(query.composite);
  return query.kind === 'image' || query.kind === 'image_url' ? 1 : 0;
}

interface EmbeddedQuery {
  vector: Float32Array;
  /** What identifies the query in its cursors. */
  identity: string;
  description: SearchResponse['query'];
  /** Ids never answered: the indexed images the query was made of. */
  exclude?: ReadonlySet<string>;
}

/** The query's vector (text tower, stored vector or encoder, or a composite of them). */
async function embedQuery(ctx: QueryContext, query: SearchQuery): Promise<EmbeddedQuery> {
  const { model, store } = ctx;
  if (query.kind === 'composite') return embedComposite(ctx, query.composite);
  if (query.kind === 'text') {
    const texts = await embedQueryTexts(ctx.env, model, [query.text]);
    return {
      vector: texts.embeddings[0] as Float32Array,
      identity: `text:${query.text}`,
      description: { kind: 'text', truncated: texts.truncated[0] ?? false },
    };
  }
  const image = await guardIndex(() =>
    embedQueryImage(query, { store, model: model.space, encoder: ctx.encoder }),
  );
  return {
    vector: image.vector,
    identity: image.identity,
    description: { kind: query.kind },
    ...(query.kind === 'image_id' ? { exclude: new Set([query.id]) } : {}),
  };
}
