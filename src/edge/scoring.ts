/**
 * Caption scoring (KoCLIP's Image->Text): logits = exp(logit_scale) * cosine(image, caption),
 * probabilities = softmax over the captions. Answers are cached in two tiers, the Cache API of
 * the colo first and KV behind it, under a key made of the model version, the image's identity,
 * the captions and the prompt template.
 */
import { cosine, softmax } from '../core/vector';
import type { IndexSpace } from './index-store/keys';
import { scoreCacheKvKey, scoreCacheUrl } from './index-store/keys';

/** How long a cached score lives (the key already changes with the model version). */
export const SCORE_CACHE_TTL_S = 7 * 24 * 3600;

export interface CaptionScores {
  logits: number[];
  probs: number[];
  best: number;
}

/** Applies a `{}` template to every caption (no template: the captions as given). */
export function applyTemplate(captions: readonly string[], template: string | undefined): string[] {
  return template ? captions.map((c) => template.replace('{}', c)) : [...captions];
}

/** Logits and softmax probabilities of one image against several caption embeddings. */
export function scoreCaptions(
  image: Float32Array,
  captions: readonly Float32Array[],
  logitScale: number,
): CaptionScores {
  const scale = Math.exp(logitScale);
  const logits = captions.map((c) => scale * cosine(image, c));
  const probs = softmax(logits);
  let best = 0;
  probs.forEach((p, i) => {
    if (p > (probs[best] as number)) best = i;
  });
  return { logits, probs, best };
}

/** Hex SHA-256 of the request parts that decide a score (order of captions matters). */
export async function scoreCacheDigest(
  imageIdentity: string,
  captions: readonly string[],
  template: string | undefined,
): Promise<string> {
  const text = JSON.stringify({ image: imageIdentity, captions, template: template ?? null });
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
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
