/**
 * Query text embeddings for every route, whatever the model's text placement: `edge` runs the
 * text tower here (../inference/text-tower.ts, onnxruntime-web) and keeps each text's embedding
 * in the isolate (a repeated query runs no tower); `function` asks the encoder function
 * (../inference/encoder-text.ts) and keeps each text's embedding in the edge cache (Cache API +
 * KV, keyed by model version and text), so a repeated query costs no encoder call.
 */
import { sha256Hex } from '../../core/hash';
import type { Env } from '../env';
import { encoderConfigFromEnv } from '../inference/encoder-client';
import { embedTextsRemote } from '../inference/encoder-text';
import type { LoadedModel } from '../inference/loaded-model';
import { embedTexts, type TextEmbeddings } from '../inference/text-tower';
import { EDGE_QUERY_CACHE_BYTES } from '../isolate-memory';
import { queryEmbeddingKvKey, queryEmbeddingUrl } from '../storage-keys';
import { EdgeCache } from './edge-cache';
import { IsolateCache } from './isolate-cache';

/** How long a cached query embedding lives (the key changes with the model version). */
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
  };
}

interface CachedText {
  embedding: number[];
  truncated: boolean;
}

export interface QueryTextEmbeddings extends TextEmbeddings {
  /** How many of the texts came from a cache (the isolate's for `edge`, the edge cache for `function`). */
  cached: number;
}

/** Embeds query texts with the model's text tower, wherever it is placed. */
export async function embedQueryTexts(
  env: Env,
  model: LoadedModel,
  texts: readonly string[],
): Promise<QueryTextEmbeddings> {
  if (model.manifest.text.placement === 'edge') return embedAtEdge(env, model, texts);
  const { space } = model;
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
      space,
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
  const tokenizer = await model.tokenizer(env);
  return {
    model: model.manifest,
    embeddings: results.map((r) => Float32Array.from(r.embedding)),
    truncated: results.map((r) => r.truncated),
    tokenCounts: texts.map((t) => tokenizer.encode(t).ids.length),
    cached: texts.length - missing.length,
  };
}
