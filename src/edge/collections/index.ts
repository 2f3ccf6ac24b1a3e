/**
 * Collections, one capability: a collection's current model (the alias every route without
 * `model` reads and writes; the Worker's DEFAULT_MODEL until an admin sets one) and its
 * migrations to another model, with no downtime and never a mixed page (./manager.ts, the
 * Durable Object; ./migration.ts, the copy; ./route.ts, the admin API). Callers outside this
 * folder import from this file only.
 */
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { embeddingSpace } from '../../core/manifest';
import { type Env, readConfig } from '../env';
import { getModel } from '../inference/model-registry';
import { collectionObjectName } from '../storage-keys';
import type { CollectionManager, Routing } from './manager';

export { CollectionManager } from './manager';

/** The Durable Object of one collection. */
export function collectionFor(
  env: Pick<Env, 'COLLECTIONS'>,
  collection: string,
): DurableObjectStub<CollectionManager> {
  const ns = env.COLLECTIONS as unknown as DurableObjectNamespace<CollectionManager>;
  return ns.get(ns.idFromName(collectionObjectName(collection)));
}

/** Where `collection`'s requests go now (one Durable Object call). */
export function routingOf(env: Env, collection: string): Promise<Routing> {
  return collectionFor(env, collection).routing();
}

/** The model a read of `collection` uses when the request names none. */
export async function readModelOf(env: Env, collection: string): Promise<string> {
  return (await routingOf(env, collection)).model ?? readConfig(env).defaultModel;
}

/**
 * The embedding spaces a write to `collection` goes to, the one reads use first: one, or two
 * while a migration copies or is in its rollback period.
 */
export async function writeSpacesOf(env: Env, collection: string): Promise<EmbeddingSpace[]> {
  const routing = await routingOf(env, collection);
  if (routing.writes) return routing.writes;
  return [embeddingSpace(await getModel(env, routing.model ?? readConfig(env).defaultModel))];
}
