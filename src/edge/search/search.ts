/**
 * One search request, checked in one place and run: exactly one query (a text, an indexed image,
 * an image URL or an upload), the index of the model's embedding space, the cursor, and the
 * ranking of the index's catalogue (catalogue-search.ts: the search kernel, or the JS loop).
 */
import type { SearchFields } from '../../core/contract/api-schemas';
import { ApiError } from '../http/errors';
import { guardIndex, type QueryContext } from '../query/context';
import { embedQueryImage, type QueryImage, queryImageFrom } from '../query/image';
import { embedQueryTexts } from '../query/text-embedder';
import { decodeCursor, encodeCursor } from './cursor';
import type { MetadataFilter } from './filter';
import { searchShards } from './shards';

export type SearchQuery = { kind: 'text'; text: string } | QueryImage;

export interface SearchRequest {
  query: SearchQuery;
  k: number;
  minScore?: number;
  filter?: MetadataFilter;
  cursor?: string;
  /** A page marked partial rather than 503 when a search shard does not answer. */
  allowPartial?: boolean;
}

/** The validated fields of GET (query string), POST JSON or POST multipart. */
export type SearchInput = SearchFields & { q?: string; image?: File };

/** Checks that exactly one query is given (400 `invalid_request` otherwise) and builds the request. */
export async function searchRequestFrom(fields: SearchInput): Promise<SearchRequest> {
  const text = fields.text ?? fields.q;
  const image = await queryImageFrom(fields, fields.image);
  if ((text === undefined) === (image === undefined)) {
    throw new ApiError(
      400,
      'invalid_request',
      'give exactly one of text, image_id, image_url or an image upload',
    );
  }
  return {
    query: image ?? { kind: 'text', text: text as string },
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
  const { query } = request;
  let vector: Float32Array;
  let identity: string;
  let truncated: boolean | undefined;
  if (query.kind === 'text') {
    const texts = await embedQueryTexts(ctx.env, model, [query.text]);
    vector = texts.embeddings[0] as Float32Array;
    truncated = texts.truncated[0] ?? false;
    identity = `text:${query.text}`;
  } else {
    const image = await guardIndex(() =>
      embedQueryImage(query, { store, model: model.space, encoder: ctx.encoder }),
    );
    vector = image.vector;
    identity = image.identity;
  }
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
      ...(query.kind === 'image_id' ? { exclude: new Set([query.id]) } : {}),
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
    query: { kind: query.kind, ...(truncated === undefined ? {} : { truncated }) },
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
