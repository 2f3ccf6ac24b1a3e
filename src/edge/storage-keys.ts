/**
 * The one place that builds storage keys. Every key carries the key-layout version and the
 * model id; index and cache keys also carry the model version, because new weights are a new
 * embedding space and vectors of two spaces must never mix. Index keys also carry the collection;
 * cache keys the text tower whose numbers they hold (another tower of the same version answers
 * slightly differently: see TextTowerKey).
 */
import type { IndexKey } from '../core/contract/spaces';

/** Bump when the layout of anything stored under these keys changes incompatibly. */
export const STORAGE_KEY_VERSION = 'v2';

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

/**
 * What a cache key names of the text tower whose numbers it holds: the model id and version, and
 * the tower's identity (core/manifest.ts `textTowerIdentity`: `<id>@<version>#<sha256 prefix of
 * the tower's files>:<variant>`; an `edge` tower's is `LoadedModel.identity`, a `function`
 * tower's the one the encoder names). A student republished under the same version, or the
 * encoder switched to another variant, is another tower: its answers never meet the old ones.
 */
export interface TextTowerKey {
  model: string;
  version: string;
  tower: string;
}

/** The tower's part of a key: its identity after `<id>@<version>#` (files and variant). */
function towerPart(key: TextTowerKey): string {
  const prefix = `${key.model}@${key.version}#`;
  if (!key.tower.startsWith(prefix))
    throw new Error(`text tower ${key.tower} is not one of ${key.model}@${key.version}`);
  return part(key.tower.slice(prefix.length));
}

const cacheKey = (kind: string, key: TextTowerKey, digest: string) =>
  `${kind}:${STORAGE_KEY_VERSION}:${part(key.model)}:${part(key.version)}:${towerPart(key)}:${digest}`;
const cacheUrl = (host: string, key: TextTowerKey, digest: string) =>
  `https://${host}/${STORAGE_KEY_VERSION}/${part(key.model)}/${part(key.version)}/${towerPart(key)}/${digest}`;

/** KV key of a cached caption-scoring answer (its captions embedded by `key`'s tower). */
export function scoreCacheKvKey(key: TextTowerKey, digest: string): string {
  return cacheKey('score', key, digest);
}

/** Cache API request URL of a cached caption-scoring answer (a synthetic, never-fetched host). */
export function scoreCacheUrl(key: TextTowerKey, digest: string): string {
  return cacheUrl('score-cache.koclip.internal', key, digest);
}

/** KV key of a cached query embedding (a `function`-placed text tower's answer for one text). */
export function queryEmbeddingKvKey(key: TextTowerKey, digest: string): string {
  return cacheKey('qemb', key, digest);
}

/** Cache API request URL of a cached query embedding (a synthetic, never-fetched host). */
export function queryEmbeddingUrl(key: TextTowerKey, digest: string): string {
  return cacheUrl('query-cache.koclip.internal', key, digest);
}

/** Name of the Durable Object that keeps one collection's model and migrations (`idFromName`). */
export function collectionObjectName(collection: string): string {
  return `collection:${STORAGE_KEY_VERSION}:${part(collection)}`;
}
