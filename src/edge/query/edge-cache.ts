/**
 * A two-tier edge cache of JSON answers: the Cache API of the colo first (fast, per colo, only
 * on a custom domain in production), KV behind it (global, eventually consistent). The caller
 * gives both keys (src/edge/index-store/keys.ts builds them, with the model version in each).
 * Used by caption scores and by query embeddings of `function`-placed text towers.
 */

export type CacheTier = 'cache-api' | 'kv';

export interface CacheKeys {
  kv: string;
  url: string;
}

export class EdgeCache {
  constructor(
    private readonly kv: KVNamespace,
    private readonly ttlSeconds: number,
    private readonly cache: Cache | undefined = typeof caches === 'undefined' ? undefined : caches.default,
  ) {}

  /** The cached answer and the tier it came from, or null; a KV hit warms the Cache API. */
  async get<T>(keys: CacheKeys): Promise<{ value: T; tier: CacheTier } | null> {
    const hit = await this.cache?.match(keys.url);
    if (hit) return { value: (await hit.json()) as T, tier: 'cache-api' };
    const stored = await this.kv.get(keys.kv, 'json');
    if (stored === null) return null;
    await this.cache?.put(keys.url, this.response(stored));
    return { value: stored as T, tier: 'kv' };
  }

  async put(keys: CacheKeys, value: unknown): Promise<void> {
    await Promise.all([
      this.kv.put(keys.kv, JSON.stringify(value), { expirationTtl: this.ttlSeconds }),
      this.cache?.put(keys.url, this.response(value)),
    ]);
  }

  private response(value: unknown): Response {
    return new Response(JSON.stringify(value), {
      headers: { 'content-type': 'application/json', 'cache-control': `public, max-age=${this.ttlSeconds}` },
    });
  }
}
