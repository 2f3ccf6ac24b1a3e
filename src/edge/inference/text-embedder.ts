/**
 * Query text embeddings for every route, whatever the model's text placement: `edge` runs the
 * text tower here (./text-tower.ts, onnxruntime-web); `function` asks the encoder function
 * (./encoder-text.ts) and keeps each text's embedding in the edge cache (Cache API + KV, keyed
 * by model version and text), so a repeated query costs no encoder call.
 */
import { sha256Hex } from '../../core/hash';
import type { Env } from '../env';
import { queryEmbeddingKvKey, queryEmbeddingUrl } from '../index-store/keys';
import { EdgeCache } from '../query/edge-cache';
import { encoderConfigFromEnv } from './encoder-client';
import { embedTextsRemote } from './encoder-text';
import { getModel, getTokenizer } from './model-registry';
import { embedTexts, type TextEmbeddings } from './text-tower';

/** How long a cached query embedding lives (the key changes with the model version). */
export const QUERY_CACHE_TTL_S = 30 * 24 * 3600;

interface CachedText {
  embedding: number[];
  truncated: boolean;
}

export interface QueryTextEmbeddings extends TextEmbeddings {
  /** How many of the texts came from the edge cache (always 0 for `edge` placement). */
  cached: number;
}

/** Embeds query texts with the model's text tower, wherever it is placed. */
export async function embedQueryTexts(
  env: Env,
  modelId: string,
  texts: readonly string[],
): Promise<QueryTextEmbeddings> {
  const model = await getModel(env, modelId);
  if (model.text.placement === 'edge') return { ...(await embedTexts(env, modelId, texts)), cached: 0 };
  const space = { model: model.id, version: model.version };
  const cache = new EdgeCache(env.EDGE_CACHE, QUERY_CACHE_TTL_S);
  const keys = await Promise.all(
    texts.map(async (text) => {
      const digest = await sha256Hex(text);
      return { kv: queryEmbeddingKvKey(space, digest), url: queryEmbeddingUrl(space, digest) };
    }),
  );
  const found = await Promise.all(keys.map((k) => cache.get<CachedText>(k)));
  const missing = texts.flatMap((text, i) => (found[i] ? [] : [{ text, i }]));
  const results: CachedText[] = found.map((hit) => hit?.value ?? { embedding: [], truncated: false });
  if (missing.length > 0) {
    const remote = await embedTextsRemote(
      encoderConfigFromEnv(env),
      { id: model.id, version: model.version, dim: model.projection_dim },
      missing.map((m) => m.text),
    );
    await Promise.all(
      missing.map(({ i }, j) => {
        const item = remote[j] as { embedding: Float32Array; truncated: boolean };
        const value = { embedding: Array.from(item.embedding), truncated: item.truncated };
        results[i] = value;
        return cache.put(keys[i] as { kv: string; url: string }, value);
      }),
    );
  }
  // Token counts for usage reporting come from the package's tokenizer, read at the edge.
  const tokenizer = await getTokenizer(env, modelId);
  return {
    model,
    embeddings: results.map((r) => Float32Array.from(r.embedding)),
    truncated: results.map((r) => r.truncated),
    tokenCounts: texts.map((t) => tokenizer.encode(t).ids.length),
    cached: texts.length - missing.length,
  };
}
