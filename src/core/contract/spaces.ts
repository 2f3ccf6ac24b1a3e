/**
 * The two shapes that name where vectors belong, one name each, shared by the Worker, the
 * encoder's contract and the queue's messages:
 * - an embedding space: a model id, the version of its weights and their dimension (vectors of
 *   two spaces never mix; an encoder answer must come from the space the Worker expects);
 * - an index: one collection in one embedding space (its writer, its storage keys).
 */

/** A model id, the version of its weights, and the dimension of its vectors. */
export interface EmbeddingSpace {
  model: string;
  version: string;
  dim: number;
}

/** One index: a collection in one embedding space (the dimension is the writer's to keep). */
export interface IndexKey {
  collection: string;
  model: string;
  version: string;
}

/** The index of `collection` in `space`. */
export const indexKey = (space: Pick<EmbeddingSpace, 'model' | 'version'>, collection: string): IndexKey => ({
  collection,
  model: space.model,
  version: space.version,
});
