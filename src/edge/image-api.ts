/**
 * Domain side of the image-facing routes: search, caption scoring and grid patches. Each takes
 * the Worker's bindings and already validated fields and returns the response body.
 */
import type { ModelManifest } from '../core/manifest';
import { cosine, softmax } from '../core/vector';
import { type EncoderConfig, embedImage, encoderConfigFromEnv } from './encoder-client';
import { type Env, readConfig } from './env';
import { ApiError } from './errors';
import { checkUpload, embedImageInput, type ImageInput, imageIdentity } from './image-query';
import { IndexCorruptError, IndexStore } from './index-store/store';
import { getModel } from './model-registry';
import { applyTemplate, ScoreCache, scoreCacheDigest, scoreCaptions } from './scoring';
import { decodeCursor, encodeCursor, type MetadataFilter, searchSegments } from './search';
import { embedTexts } from './text-tower';

export interface Context {
  env: Env;
  model: ModelManifest;
  store: IndexStore;
  encoder: () => EncoderConfig;
}

/** Resolves the model a request names (or the default) and the stores of its embedding space. */
export async function requestContext(env: Env, modelId: string | undefined): Promise<Context> {
  const model = await getModel(env, modelId ?? readConfig(env).defaultModel);
  const store = new IndexStore(
    { bucket: env.INDEX_BUCKET, kv: env.INDEX_KV },
    { model: model.id, version: model.version },
  );
  return { env, model, store, encoder: () => encoderConfigFromEnv(env) };
}

const expected = (m: ModelManifest) => ({ id: m.id, version: m.version, dim: m.projection_dim });

/** Index failures are the service's fault, never the client's. */
async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof IndexCorruptError)
      throw new ApiError(503, 'index_unavailable', 'the image index is unreadable', { cause: error });
    throw error;
  }
}

export type SearchSource = { kind: 'text'; text: string } | ImageInput;

export interface SearchRequest {
  source: SearchSource;
  k: number;
  minScore?: number;
  filter?: MetadataFilter;
  cursor?: string;
}

export async function runSearch(ctx: Context, request: SearchRequest) {
  const { model, store } = ctx;
  const loaded = await guarded(() => store.load());
  if (!loaded || loaded.catalogue.count === 0) {
    throw new ApiError(
      404,
      'index_empty',
      `the ${model.id}@${model.version} image index is empty; seed it (npm run seed:demo) or index images first`,
    );
  }
  const { source } = request;
  let vector: Float32Array;
  let identity: string;
  let truncated: boolean | undefined;
  if (source.kind === 'text') {
    const texts = await embedTexts(ctx.env, model.id, [source.text]);
    vector = texts.embeddings[0] as Float32Array;
    truncated = texts.truncated[0] ?? false;
    identity = `text:${source.text}`;
  } else {
    const image = await guarded(() =>
      embedImageInput(source, { store, model: expected(model), encoder: ctx.encoder }),
    );
    vector = image.vector;
    identity = image.identity;
  }
  const cursorIdentity = {
    model: model.id,
    version: model.version,
    source: identity,
    minScore: request.minScore,
    filter: request.filter,
  };
  let offset = 0;
  if (request.cursor) {
    const check = await decodeCursor(request.cursor, loaded.catalogue.generation, cursorIdentity);
    if (!check.ok && check.reason === 'stale')
      throw new ApiError(409, 'cursor_stale', 'the index changed since this cursor was issued; search again');
    if (!check.ok)
      throw new ApiError(
        400,
        'invalid_cursor',
        check.reason === 'malformed' ? 'the cursor is malformed' : 'the cursor belongs to another query',
      );
    offset = check.offset;
  }
  const page = searchSegments(loaded.segments, vector, {
    k: request.k,
    offset,
    ...(request.minScore === undefined ? {} : { minScore: request.minScore }),
    ...(request.filter ? { filter: request.filter } : {}),
    ...(source.kind === 'image_id' ? { exclude: new Set([source.id]) } : {}),
  });
  return {
    object: 'search_results' as const,
    model: model.id,
    version: model.version,
    query: { kind: source.kind, ...(truncated === undefined ? {} : { truncated }) },
    results: page.hits,
    next_cursor:
      page.nextOffset === null
        ? null
        : await encodeCursor(page.nextOffset, loaded.catalogue.generation, cursorIdentity),
  };
}

export interface ScoreRequest {
  image: ImageInput;
  captions: string[];
  template?: string;
}

/** Scores captions against an image; `cache` tells whether the answer came from a cache. */
export async function runScore(ctx: Context, request: ScoreRequest) {
  const { model, store } = ctx;
  if (request.image.kind === 'image') checkUpload(request.image.bytes, request.image.contentType);
  const cache = new ScoreCache(ctx.env.SCORE_CACHE, { model: model.id, version: model.version });
  const digest = await scoreCacheDigest(
    await guarded(() => imageIdentity(request.image, store)),
    request.captions,
    request.template,
  );
  const hit = await cache.get<ScoreBody>(digest);
  if (hit) return { body: hit.value, cache: 'HIT' as const, tier: hit.tier };
  const texts = applyTemplate(request.captions, request.template);
  const image = await guarded(() =>
    embedImageInput(request.image, { store, model: expected(model), encoder: ctx.encoder }),
  );
  const embedded = await embedTexts(ctx.env, model.id, texts);
  const scores = scoreCaptions(image.vector, embedded.embeddings, model.logit_scale);
  const body: ScoreBody = {
    object: 'caption_scores',
    model: model.id,
    version: model.version,
    image: {
      kind: request.image.kind,
      ...(image.id ? { id: image.id } : {}),
      ...(image.sha256 ? { sha256: image.sha256 } : {}),
    },
    prompt_template: request.template ?? null,
    logit_scale: model.logit_scale,
    results: request.captions.map((caption, i) => ({
      caption,
      text: texts[i] as string,
      logit: scores.logits[i] as number,
      prob: scores.probs[i] as number,
      truncated: embedded.truncated[i] ?? false,
    })),
    probs: scores.probs,
    logits: scores.logits,
    best: scores.best,
  };
  await cache.put(digest, body);
  return { body, cache: 'MISS' as const, tier: null };
}

export interface ScoreBody {
  object: 'caption_scores';
  model: string;
  version: string;
  image: { kind: ImageInput['kind']; id?: string; sha256?: string };
  prompt_template: string | null;
  logit_scale: number;
  results: { caption: string; text: string; logit: number; prob: number; truncated: boolean }[];
  probs: number[];
  logits: number[];
  best: number;
}

export interface PatchesRequest {
  image: Exclude<ImageInput, { kind: 'image_id' }>;
  text: string;
  rows: number;
  cols: number;
  template?: string;
}

/** Scores every cell of a rows x cols grid over the image against one text (Text->Patch). */
export async function runPatches(ctx: Context, request: PatchesRequest) {
  const { model } = ctx;
  const { rows, cols } = request;
  const source =
    request.image.kind === 'image'
      ? {
          kind: 'bytes' as const,
          bytes: request.image.bytes,
          contentType: checkUpload(request.image.bytes, request.image.contentType),
        }
      : { kind: 'url' as const, url: request.image.url };
  const [text] = applyTemplate([request.text], request.template);
  const [cells, embedded] = await Promise.all([
    embedImage(ctx.encoder(), expected(model), source, { grid: { rows, cols } }),
    embedTexts(ctx.env, model.id, [text as string]),
  ]);
  const query = embedded.embeddings[0] as Float32Array;
  const flat = cells.map((cell) => cosine(cell.embedding, query));
  const probs = softmax(flat.map((s) => Math.exp(model.logit_scale) * s));
  let best = 0;
  flat.forEach((s, i) => {
    if (s > (flat[best] as number)) best = i;
  });
  const grid = (values: number[]) =>
    Array.from({ length: rows }, (_, r) => values.slice(r * cols, (r + 1) * cols));
  return {
    object: 'patch_scores' as const,
    model: model.id,
    version: model.version,
    text: text as string,
    truncated: embedded.truncated[0] ?? false,
    rows,
    cols,
    scores: grid(flat),
    probs: grid(probs),
    best: { row: Math.floor(best / cols), col: best % cols, score: flat[best] as number },
  };
}
