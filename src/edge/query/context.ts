/**
 * The query layer the features share: the model a request names (or the default), resolved once
 * into the handle every layer below uses (../inference/loaded-model.ts), the index of its
 * embedding space, the encoder settings, and the rule that index failures are the service's
 * fault (503), never the client's.
 */
import { DEFAULT_COLLECTION } from '../../core/contract/ids';
import { indexKey } from '../../core/contract/spaces';
import { readModelOf } from '../collections';
import type { Env } from '../env';
import { ApiError } from '../http/errors';
import { IndexCorruptError, IndexReader } from '../index';
import { type EncoderClientConfig, encoderConfigFromEnv } from '../inference/encoder-client';
import type { LoadedModel } from '../inference/loaded-model';
import { loadModel } from '../inference/model-registry';

export interface QueryContext {
  env: Env;
  /** The request's model, looked up once here. */
  model: LoadedModel;
  /** The collection the request names (`default` when it names none). */
  collection: string;
  store: IndexReader;
  /** The encoder settings, read when a feature first needs the encoder (503 when missing). */
  encoder: () => EncoderClientConfig;
}

/**
 * Resolves the model a request names (else the collection's current model: its alias, or the
 * Worker's default) and the index of that collection in its space.
 */
export async function queryContext(
  env: Env,
  modelId: string | undefined,
  collection: string = DEFAULT_COLLECTION,
): Promise<QueryContext> {
  const model = await loadModel(env, modelId ?? (await readModelOf(env, collection)));
  const store = new IndexReader(env, indexKey(model.space, collection));
  return { env, model, collection, store, encoder: () => encoderConfigFromEnv(env) };
}

/** Runs index work, turning an unreadable index into 503 `index_unavailable`. */
export async function guardIndex<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof IndexCorruptError)
      throw new ApiError(503, 'index_unavailable', 'the image index is unreadable', { cause: error });
    throw error;
  }
}
