/**
 * The one place that builds storage keys. Every key carries the key-layout version and the
 * model id; index and cache keys also carry the model version, because new weights are a new
 * embedding space and vectors of two spaces must never mix. Index keys also carry the collection.
 */
import type { EmbeddingSpace, IndexKey } from '../core/contract/spaces';

/** Bump when the layout of anything stored under these keys changes incompatibly. */
export const STORAGE_KEY_VERSION = 'v2';

/** What a cache key names of an embedding space: the model id and version (not the dim). */
type Space = Pick<EmbeddingSpace, 'model' | 'version'>;

const part = (s: string) => encodeURIComponent(s);

/** Name of the Durable Object that writes one index (`idFromName`). */
export function writerName(index: IndexKey): string {
  return `writer:${STORAGE_KEY_VERSION}:${part(index.collection)}:${part(index.model)}:${part(index.version)}`;
}

/** R2 prefix of everything one index keeps in INDEX_BUCKET. */
export function indexObjectPrefix(index: IndexKey): string {
  return `index/${STORAGE_KEY_VERSION}/${part(index.collection)}/${part(index.model)}/${part(index.version)}/`;
}

/** R2 key of one immutable index segment. */
export function segmentObjectKey(index: IndexKey, segmentId: string): string {
  return `${indexObjectPrefix(index)}segments/${part(segmentId)}.kseg`;
}

/**
 * R2 key of the original of an uploaded image in IMAGES_BUCKET. Originals do not depend on the
 * model: a later re-embed under a new model reads the same object.
 */
export function imageObjectKey(collection: string, id: string): string {
  return `images/${STORAGE_KEY_VERSION}/${part(collection)}/${part(id)}`;
}

/** KV key of a cached caption-scoring answer. */
export function scoreCacheKvKey(space: Space, digest: string): string {
  return `score:${STORAGE_KEY_VERSION}:${part(space.model)}:${part(space.version)}:${digest}`;
}

/** Cache API request URL of a cached caption-scoring answer (a synthetic, never-fetched host). */
export function scoreCacheUrl(space: Space, digest: string): string {
  return `https://score-cache.koclip.internal/${STORAGE_KEY_VERSION}/${part(space.model)}/${part(space.version)}/${digest}`;
}

/** KV key of a cached query embedding (a `function`-placed text tower's answer for one text). */
export function queryEmbeddingKvKey(space: Space, digest: string): string {
  return `qemb:${STORAGE_KEY_VERSION}:${part(space.model)}:${part(space.version)}:${digest}`;
}

/** Cache API request URL of a cached query embedding (a synthetic, never-fetched host). */
export function queryEmbeddingUrl(space: Space, digest: string): string {
  return `https://query-cache.koclip.internal/${STORAGE_KEY_VERSION}/${part(space.model)}/${part(space.version)}/${digest}`;
}
