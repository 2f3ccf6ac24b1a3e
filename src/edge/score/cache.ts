/**
 * The edge cache of caption scores (query/edge-cache.ts: the isolate's recent answers, then the
 * Cache API, then KV), under a key made of the model version, the text tower that embedded the
 * captions, the image's identity, the captions and the prompt template.
 */

import { sha256Hex } from '../../core/hash';
import { SCORE_ANSWER_CACHE_BYTES } from '../isolate-memory';
import { type CacheKeys, EdgeCache } from '../query/edge-cache';
import { IsolateCache } from '../query/isolate-cache';
import { scoreCacheKvKey, scoreCacheUrl, type TextTowerKey } from '../storage-keys';

/** The isolate's recent answers (shared by every ScoreCache of the isolate; keys carry the tower). */
export const isolateScores = new IsolateCache<unknown>(SCORE_ANSWER_CACHE_BYTES);

/** How long a cached score lives (the key already changes with the text tower). */
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

/**
 * The score cache. Every answer is kept under the text tower that embedded its captions
 * (storage-keys.ts TextTowerKey): looked up under the tower that will answer, stored under the one
 * that did (they differ once, when a `function` model's encoder has just switched towers).
 */
export class ScoreCache {
  private readonly cache: EdgeCache;

  constructor(kv: KVNamespace, cache?: Cache) {
    this.cache = new EdgeCache(kv, SCORE_CACHE_TTL_S, cache, isolateScores);
  }

  get<T>(tower: TextTowerKey, digest: string) {
    return this.cache.get<T>(keys(tower, digest));
  }

  put(tower: TextTowerKey, digest: string, value: unknown): Promise<void> {
    return this.cache.put(keys(tower, digest), value);
  }
}

function keys(tower: TextTowerKey, digest: string): CacheKeys {
  return { kv: scoreCacheKvKey(tower, digest), url: scoreCacheUrl(tower, digest) };
}
