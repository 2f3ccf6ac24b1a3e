/**
 * A tiered edge cache of JSON answers: optionally the isolate's own memory first (no I/O at all;
 * ./isolate-cache.ts), then the Cache API of the colo (fast, per colo, only on a custom domain in
 * production), KV behind it (global, eventually consistent). The caller gives the keys
 * (src/edge/storage-keys.ts builds them, with the model version in each; the isolate tier
 * uses the KV key). A hit in a lower tier fills the tiers above it. Values read from the isolate
 * tier are shared: callers must not mutate them. Used by caption scores and by query embeddings
 * of `function`-placed text towers.
 */
import type { IsolateCache } from './isolate-cache';

export type CacheTier = 'isolate' | 'cache-api' | 'kv';

export interface CacheKeys {
  kv: string;
  url: string;
}

export class EdgeCache {
  constructor(
    private readonly kv: KVNamespace,
    private readonly ttlSeconds: number,
    private readonly cache: Cache | undefined = typeof caches === 'undefined' ? undefined : caches.default,
    private readonly isolate?: IsolateCache<unknown>,
  ) {}

  /** The cached answer and the tier it came from, or null; a hit fills the tiers above its own. */
  async get<T>(keys: CacheKeys): Promise<{ value: T; tier: CacheTier } | null> {
    const held = this.isolate?.get(keys.kv);
    if (held !== undefined) return { value: held as T, tier: 'isolate' };
    const hit = await this.cache?.match(keys.url);
    if (hit) {
      const text = await hit.text();
      return { value: this.hold(keys, JSON.parse(text), text) as T, tier: 'cache-api' };
    }
    const text = await this.kv.get(keys.kv, 'text');
    if (text === null) return null;
    await this.cache?.put(keys.url, this.response(text));
    return { value: this.hold(keys, JSON.parse(text), text) as T, tier: 'kv' };
  }

  async put(keys: CacheKeys, value: unknown): Promise<void> {
    const text = JSON.stringify(value);
    await Promise.all([
      this.kv.put(keys.kv, text, { expirationTtl: this.ttlSeconds }),
      this.cache?.put(keys.url, this.response(text)),
    ]);
    this.hold(keys, value, text);
  }

  /** Keeps `value` in the isolate tier (its JSON text's UTF-16 size as the memory estimate). */
  private hold(keys: CacheKeys, value: unknown, text: string): unknown {
    this.isolate?.set(keys.kv, value, 2 * text.length + 2 * keys.kv.length + 64);
    return value;
  }

  private response(text: string): Response {
    return new Response(text, {
      headers: { 'content-type': 'application/json', 'cache-control': `public, max-age=${this.ttlSeconds}` },
    });
  }
}
