/**
 * Isolate-level cache of decoded segments, keyed by R2 key and etag so that a replaced object is
 * never served stale. Least recently used entries go first once the byte budget is exceeded.
 */
import type { Segment } from '../../core/index-format/segment';
import { SEGMENT_CACHE_BYTES } from '../isolate-memory';

const entries = new Map<string, { segment: Segment; bytes: number }>();
let totalBytes = 0;
const stats = { hits: 0, misses: 0 };

const cacheKey = (key: string, etag: string) => `${key}#${etag}`;

/** The cached segment for this key and etag, if any (and marks it recently used). */
export function getCachedSegment(key: string, etag: string): Segment | undefined {
  const k = cacheKey(key, etag);
  const entry = entries.get(k);
  if (!entry) {
    stats.misses++;
    return undefined;
  }
  stats.hits++;
  entries.delete(k);
  entries.set(k, entry);
  return entry.segment;
}

/** Stores a decoded segment, evicting the least recently used ones beyond the budget. */
export function putCachedSegment(
  key: string,
  etag: string,
  segment: Segment,
  bytes: number,
  budget = SEGMENT_CACHE_BYTES,
): void {
  const k = cacheKey(key, etag);
  const old = entries.get(k);
  if (old) {
    totalBytes -= old.bytes;
    entries.delete(k);
  }
  entries.set(k, { segment, bytes });
  totalBytes += bytes;
  for (const [victim, entry] of entries) {
    if (totalBytes <= budget || victim === k) break;
    entries.delete(victim);
    totalBytes -= entry.bytes;
  }
}

/** Hit/miss counters and size, for tests and /healthz-style reporting. */
export function segmentCacheStats(): { hits: number; misses: number; entries: number; bytes: number } {
  return { ...stats, entries: entries.size, bytes: totalBytes };
}

/** Empties the cache and resets the counters. */
export function clearSegmentCache(): void {
  entries.clear();
  totalBytes = 0;
  stats.hits = 0;
  stats.misses = 0;
}
