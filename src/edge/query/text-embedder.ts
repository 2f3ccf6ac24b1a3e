/**
 * Query text embeddings for every route, whatever the model's text placement: `edge` runs the
 * text tower here (../inference/text-tower.ts, onnxruntime-web) and keeps each text's embedding
 * in the isolate (a repeated query runs no tower); `function` asks the encoder function
 * (../inference/encoder-text.ts) and keeps each text's embedding in the edge cache (Cache API +
 * KV), so a repeated query costs no encoder call. Both are keyed by the text tower that made the
 * numbers (its identity: model, version, files and variant), never by the version alone: a
 * student republished under its version, or the encoder switched to another variant, is another
 * tower, and every answer says which tower it comes from (`tower`).
 *
 * A caller may name the text variant (`/v1/score`'s `text_variant`). The edge runs one variant of
 * an `edge` model, its manifest's default (the one `model:publish` ships and `model:fit` sized
 * for the isolate); any other variant is asked of the encoder function, which holds the whole
 * package (it already embeds the model's images), with `?text_variant=`. A `function` model's
 * named variant goes to the encoder the same way; unnamed, the encoder runs its default. Either
 * way the numbers are kept under the tower that made them.
 */
import { sha256Hex } from '../../core/hash';
import type { TextVariant } from '../../core/manifest';
import type { Env } from '../env';
import { ApiError } from '../http/errors';
import { encoderConfigFromEnv } from '../inference/encoder-client';
import { embedTextsRemote, encoderTextTower } from '../inference/encoder-text';
import type { LoadedModel } from '../inference/loaded-model';
import { embedTexts, type TextEmbeddings } from '../inference/text-tower';
import { EDGE_QUERY_CACHE_BYTES } from '../isolate-memory';
import { queryEmbeddingKvKey, queryEmbeddingUrl, type TextTowerKey } from '../storage-keys';
import { EdgeCache } from './edge-cache';
import { IsolateCache } from './isolate-cache';

/** How long a cached query embedding lives (the key changes with the text tower). */
export const QUERY_CACHE_TTL_S = 30 * 24 * 3600;

interface EdgeEmbedding {
  embedding: Float32Array;
  truncated: boolean;
  tokens: number;
}

const edgeQueries = new IsolateCache<EdgeEmbedding>(EDGE_QUERY_CACHE_BYTES);

/** The edge tower's embeddings of `texts`, each text run at most once per isolate and tower. */
async function embedAtEdge(
  env: Env,
  model: LoadedModel,
  texts: readonly string[],
): Promise<QueryTextEmbeddings> {
  // Keyed by the tower, not only the version: a student republished under its version is new.
  const prefix = `${model.identity}\u0000`;
  const have = new Map<string, EdgeEmbedding>();
  for (const text of texts) {
    const hit = edgeQueries.get(prefix + text);
    if (hit) have.set(text, hit);
  }
  const missing = [...new Set(texts.filter((t) => !have.has(t)))];
  if (missing.length > 0) {
    const run = await embedTexts(env, model, missing);
    missing.forEach((text, j) => {
      const value = {
        embedding: run.embeddings[j] as Float32Array,
        truncated: run.truncated[j] ?? false,
        tokens: run.tokenCounts[j] ?? 0,
      };
      have.set(text, value);
      edgeQueries.set(prefix + text, value, value.embedding.byteLength + 2 * text.length + 64);
    });
  }
  const found = texts.map((t) => have.get(t) as EdgeEmbedding);
  return {
    model: model.manifest,
    // Copies: a caller may not reach into the cache.
    embeddings: found.map((f) => f.embedding.slice()),
    truncated: found.map((f) => f.truncated),
    tokenCounts: found.map((f) => f.tokens),
    cached: texts.length - missing.length,
    tower: model.identity,
  };
}

interface CachedText {
  embedding: number[];
  truncated: boolean;
}

export interface QueryTextEmbeddings extends TextEmbeddings {
  /** How many of the texts came from a cache (the isolate's for `edge`, the edge cache for `function`). */
  cached: number;
  /** The text tower whose numbers they all are (core/manifest.ts textTowerIdentity). */
  tower: string;
}

/** Whether the edge itself embeds `model`'s texts in `variant` (else the encoder does). */
function atEdge(model: LoadedModel, variant: TextVariant | undefined): boolean {
  return model.manifest.text.placement === 'edge' && (variant === undefined || variant === model.variant);
}

/**
 * The text tower that will answer `model`'s query texts (in `variant`, else the placement's
 * default), as far as the Worker can tell before asking: the edge tower's own identity, or the
 * tower the encoder runs (../inference/encoder-text.ts). Caches of its numbers are looked up under it.
 */
export async function queryTextTower(env: Env, model: LoadedModel, variant?: TextVariant): Promise<string> {
  if (atEdge(model, variant)) return model.identity;
  return encoderTextTower(encoderConfigFromEnv(env), model.manifest, variant);
}

/** What the storage keys of `model`'s caches name of `tower` (src/edge/storage-keys.ts). */
export function textTowerKey(model: LoadedModel, tower: string): TextTowerKey {
  return { model: model.id, version: model.version, tower };
}

/**
 * Embeds query texts with the model's text tower, wherever it is placed: in `variant` when given
 * (the caller has checked that the package ships it), else the placement's default.
 */
export async function embedQueryTexts(
  env: Env,
  model: LoadedModel,
  texts: readonly string[],
  variant?: TextVariant,
): Promise<QueryTextEmbeddings> {
  if (atEdge(model, variant)) return embedAtEdge(env, model, texts);
  const results = await embedOnEncoder(env, model, texts, variant);
  // Token counts for usage reporting come from the package's tokenizer, read at the edge.
  const tokenizer = await model.tokenizer(env);
  return {
    model: model.manifest,
    embeddings: results.values.map((r) => Float32Array.from(r.embedding)),
    truncated: results.values.map((r) => r.truncated),
    tokenCounts: texts.map((t) => tokenizer.encode(t).ids.length),
    cached: results.cached,
    tower: results.tower,
  };
}

/**
 * A `function` tower's embeddings of `texts`, from the edge cache under the tower the encoder runs
 * (as this isolate knows it) or from the encoder, each kept under the tower that made it. One
 * answer is one tower's: when the encoder answers the misses with another tower than the one the
 * hits were cached under (it switched), the hits are embedded again by it.
 */
async function embedOnEncoder(
  env: Env,
  model: LoadedModel,
  texts: readonly string[],
  variant: TextVariant | undefined,
) {
  const config = encoderConfigFromEnv(env);
  const cache = new EdgeCache(env.EDGE_CACHE, QUERY_CACHE_TTL_S);
  const digests = await Promise.all(texts.map((text) => sha256Hex(text)));
  const keys = (tower: string, i: number) => {
    const key = textTowerKey(model, tower);
    return {
      kv: queryEmbeddingKvKey(key, digests[i] as string),
      url: queryEmbeddingUrl(key, digests[i] as string),
    };
  };
  const expected = await encoderTextTower(config, model.manifest, variant);
  const found = await Promise.all(texts.map((_, i) => cache.get<CachedText>(keys(expected, i))));
  const values = found.map((hit) => hit?.value);
  const indicesWhere = (missing: boolean) =>
    texts.flatMap((_, i) => ((values[i] === undefined) === missing ? [i] : []));
  const missing = indicesWhere(true);
  const hits = indicesWhere(false);
  let tower = expected;
  let embedded = 0;
  /** Embeds the texts at `indices` on the encoder and keeps each under the tower that answered. */
  const embed = async (indices: number[]) => {
    const remote = await embedTextsRemote(
      config,
      model.space,
      indices.map((i) => texts[i] as string),
      variant,
    );
    await Promise.all(
      indices.map((i, j) => {
        const item = remote.items[j] as { embedding: Float32Array; truncated: boolean };
        const value = { embedding: Array.from(item.embedding), truncated: item.truncated };
        values[i] = value;
        return cache.put(keys(remote.tower, i), value);
      }),
    );
    return remote.tower;
  };
  if (missing.length > 0) {
    tower = await embed(missing);
    embedded = missing.length;
    if (tower !== expected && hits.length > 0) {
      // The encoder switched towers: the cached texts are the old tower's numbers.
      if ((await embed(hits)) !== tower) {
        throw new ApiError(
          502,
          'encoder_tower_changed',
          'the encoder switched text towers within one request; try again',
        );
      }
      embedded = texts.length;
    }
  }
  return { values: values as CachedText[], cached: texts.length - embedded, tower };
}
