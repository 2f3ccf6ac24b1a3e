/**
 * The edge cache of caption scores, in two tiers: the Cache API of the colo first and KV behind
 * it, under a key made of the model version, the image's identity, the captions and the prompt
 * template.
 */
import { sha256Hex } from '../../core/hash';
import type { IndexSpace } from '../index-store/keys';
import { scoreCacheKvKey, scoreCacheUrl } from '../index-store/keys';

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

export type CacheTier = 'cache-api' | 'kv';

/** Two-tier cache of JSON answers for one embedding space. */
export class ScoreCache {
  constructor(
    private readonly kv: KVNamespace,
    private readonly space: IndexSpace,
    private readonly cache: Cache | undefined = typeof caches === 'undefined' ? undefined : caches.default,
  ) {}

  /** The cached answer and the tier it came from, or null. */
  async get<T>(digest: string): Promise<{ value: T; tier: CacheTier } | null> {
    const url = scoreCacheUrl(this.space, digest);
    const hit = await this.cache?.match(url);
    if (hit) return { value: (await hit.json()) as T, tier: 'cache-api' };
    const stored = await this.kv.get(scoreCacheKvKey(this.space, digest), 'json');
    if (stored === null) return null;
    await this.cache?.put(url, this.response(stored));
    return { value: stored as T, tier: 'kv' };
  }

  async put(digest: string, value: unknown): Promise<void> {
    await Promise.all([
      this.kv.put(scoreCacheKvKey(this.space, digest), JSON.stringify(value), {
        expirationTtl: SCORE_CACHE_TTL_S,
      }),
      this.cache?.put(scoreCacheUrl(this.space, digest), this.response(value)),
    ]);
  }

  private response(value: unknown): Response {
    return new Response(JSON.stringify(value), {
      headers: {
        'content-type': 'application/json',
        'cache-control': `public, max-age=${SCORE_CACHE_TTL_S}`,
      },
    });
  }
}
