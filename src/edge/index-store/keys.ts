/**
 * The one place that builds storage keys. Every key carries the key-layout version and the
 * model id; index and cache keys also carry the model version, because new weights are a new
 * embedding space and vectors of two spaces must never mix.
 */

/** Bump when the layout of anything stored under these keys changes incompatibly. */
export const STORAGE_KEY_VERSION = 'v1';

/** An embedding space: a model id and the version of its weights. */
export interface IndexSpace {
  model: string;
  version: string;
}

const part = (s: string) => encodeURIComponent(s);

/** KV prefix for everything belonging to one index space (records and catalogue). */
export function indexKvPrefix(space: IndexSpace): string {
  return `index:${STORAGE_KEY_VERSION}:${part(space.model)}:${part(space.version)}:`;
}

/** KV key of the index catalogue (the list of segments). */
export function catalogueKey(space: IndexSpace): string {
  return `${indexKvPrefix(space)}catalogue`;
}

/** KV prefix under which the per-image records of an index live. */
export function recordPrefix(space: IndexSpace): string {
  return `${indexKvPrefix(space)}record:`;
}

/** Workers KV refuses keys longer than this many bytes. */
export const KV_MAX_KEY_BYTES = 512;

/** Whether a key is short enough for KV (a longer one cannot exist there). */
export function fitsKv(key: string): boolean {
  return new TextEncoder().encode(key).length <= KV_MAX_KEY_BYTES;
}

/** KV key of one image's record (segment, row, metadata). */
export function recordKey(space: IndexSpace, id: string): string {
  return `${recordPrefix(space)}${part(id)}`;
}

/** R2 key of one immutable index segment. */
export function segmentObjectKey(space: IndexSpace, segmentId: string): string {
  return `index/${STORAGE_KEY_VERSION}/${part(space.model)}/${part(space.version)}/segments/${part(segmentId)}.kseg`;
}

/** KV key of a cached caption-scoring answer. */
export function scoreCacheKvKey(space: IndexSpace, digest: string): string {
  return `score:${STORAGE_KEY_VERSION}:${part(space.model)}:${part(space.version)}:${digest}`;
}

/** Cache API request URL of a cached caption-scoring answer (a synthetic, never-fetched host). */
export function scoreCacheUrl(space: IndexSpace, digest: string): string {
  return `https://score-cache.koclip.internal/${STORAGE_KEY_VERSION}/${part(space.model)}/${part(space.version)}/${digest}`;
}
