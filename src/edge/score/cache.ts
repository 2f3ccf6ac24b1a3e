/**
 * The edge cache of caption scores (query/edge-cache.ts: the isolate's recent answers, then the
 * Cache API, then KV), under a key made of the model version, the image's identity, the captions
 * and the prompt template.
 */

import type { EmbeddingSpace } from '../../core/contract/spaces';
import { sha256Hex } from '../../core/hash';
import { SCORE_ANSWER_CACHE_BYTES } from '../isolate-memory';
import { type CacheKeys, EdgeCache } from '../query/edge-cache';
import { IsolateCache } from '../query/isolate-cache';
import { scoreCacheKvKey, scoreCacheUrl } from '../storage-keys';

/** The isolate's recent answers (shared by every ScoreCache of the isolate; keys carry the space). */
export const isolateScores = new IsolateCache<unknown>(SCORE_ANSWER_CACHE_BYTES);

/** How long a cached score lives (the key already changes with the model version). */
export const SCORE_CACHE_TTL_S = 7 * 24 * 3600;

/** Hex SHA-256 of the request parts that decide a score (order of captions matters). */
export async function scoreCacheDigest(
  imageIdentity: string,
  captions: readonly string[],
  template: string | undefined,
): Promise<string> {
  const text = JSON.stringify({ image: imageIdentity, captions, template: template ?? null });
  return sha256Hex(text);
}

/** The score cache of one embedding space. */
export class ScoreCache {
  private readonly cache: EdgeCache;

  constructor(
    kv: KVNamespace,
    private readonly space: Pick<EmbeddingSpace, 'model' | 'version'>,
    cache?: Cache,
  ) {
    this.cache = new EdgeCache(kv, SCORE_CACHE_TTL_S, cache, isolateScores);
  }

  get<T>(digest: string) {
    return this.cache.get<T>(this.keys(digest));
  }

  put(digest: string, value: unknown): Promise<void> {
    return this.cache.put(this.keys(digest), value);
  }

  private keys(digest: string): CacheKeys {
    return { kv: scoreCacheKvKey(this.space, digest), url: scoreCacheUrl(this.space, digest) };
  }
}
