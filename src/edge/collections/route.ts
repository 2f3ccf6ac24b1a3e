/**
 * The collections API (admin, bearer ADMIN_TOKEN; contract in core/contract/collection-schemas.ts):
 * a collection's current model, and its migrations to another model with their progress and
 * rollback. Refusals of the collection's Durable Object come back as values and become errors here.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import {
  CollectionSchema as CollectionAnswer,
  type Migration,
  MigrationSchema,
  SetModelBodySchema,
  StartMigrationBodySchema,
} from '../../core/contract/collection-schemas';
import { CollectionSchema } from '../../core/contract/ids';
import { indexKey } from '../../core/contract/spaces';
import { embeddingSpace } from '../../core/manifest';
import { COLLECTIONS } from '../docs/examples';
import { type AppEnv, type Env, readConfig } from '../env';
import { ApiError, validationHook } from '../http/errors';
import { documented, errorResponse } from '../http/openapi';
import { writerFor } from '../index';
import { getModel } from '../inference/model-registry';
import { collectionFor, routingOf } from '.';
import type { Refusal } from './manager';
import { toSpace } from './migration';
import type { MigrationRow } from './schema';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const Params = z.object({
  collection: documented(CollectionSchema, {
    param: { name: 'collection', in: 'path' },
    example: 'products',
  }),
});
const MigrationParams = Params.extend({
  id: documented(z.string().regex(/^m\d+-[0-9a-f]{8}$/, 'a migration id'), {
    param: { name: 'id', in: 'path' },
    example: 'm1-3f9c2a7e',
  }),
});
const Collection = z.object(CollectionAnswer.shape).openapi('Collection');
const MigrationView = z.object(MigrationSchema.shape).openapi('Migration');
// Admin scope, checked by the /v1 gate (../access).
const admin = { security: [{ bearer: [] }] };
const authErrors = {
  401: errorResponse('Missing or wrong admin token'),
  503: errorResponse('ADMIN_TOKEN unset, or an index unavailable'),
};

/** A refusal of the collection's object as the API error it is; the value otherwise. */
function orRefused<T extends object>(value: T): Exclude<T, Refusal> {
  if ('refused' in value) {
    const { refused } = value as Refusal;
    throw new ApiError(refused.status, refused.code, refused.message);
  }
  return value as Exclude<T, Refusal>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A migration's row and the new index's counts, as the API answers it. */
async function migrationView(env: Env, collection: string, row: MigrationRow): Promise<Migration> {
  const target = writerFor(env, indexKey(toSpace(row), collection));
  const [stats, failures] = await Promise.all([target.stats(), target.failures(20)]);
  const counts = stats?.counts ?? { pending: 0, indexed: 0, failed: 0 };
  const seconds = Math.max(
    0.001,
    ((row.switched_at ?? row.finished_at ?? Date.now()) - row.started_at) / 1000,
  );
  const rate = counts.indexed / seconds;
  const left = row.total === null ? null : Math.max(0, row.total - counts.indexed);
  return {
    id: row.id,
    collection,
    from: { model: row.from_model, version: row.from_version },
    to: { model: row.to_model, version: row.to_version },
    state: row.state as Migration['state'],
    total: row.total,
    copied: row.copied,
    indexed: counts.indexed,
    pending: counts.pending,
    failed: counts.failed,
    failures,
    images_per_s: Math.round(rate * 10) / 10,
    eta_s: row.state === 'copying' && left !== null && rate > 0 ? Math.round((left / rate) * 10) / 10 : null,
    started_at: new Date(row.started_at).toISOString(),
    switched_at: iso(row.switched_at),
    rollback_until: iso(row.rollback_until),
    finished_at: iso(row.finished_at),
    error: row.error,
  };
}

async function collectionView(env: Env, collection: string) {
  const routing = await routingOf(env, collection);
  return {
    collection,
    model: routing.model ?? readConfig(env).defaultModel,
    pinned: routing.model !== null,
    migration: routing.migration ? await migrationView(env, collection, routing.migration) : null,
  };
}

app.openapi(
  createRoute({
    method: 'get',
    path: '/v1/collections/{collection}',
    summary: "A collection's current model and migration",
    ...admin,
    request: { params: Params },
    responses: {
      200: {
        description: 'The collection',
        content: { 'application/json': { schema: Collection, example: COLLECTIONS.collection } },
      },
      ...authErrors,
    },
  }),
  async (c) => c.json(await collectionView(c.env, c.req.valid('param').collection), 200),
);

app.openapi(
  createRoute({
    method: 'put',
    path: '/v1/collections/{collection}',
    summary: 'Point a collection at a model (no migration: its index of that model is what reads see)',
    ...admin,
    request: {
      params: Params,
      body: {
        content: { 'application/json': { schema: SetModelBodySchema, example: COLLECTIONS.setModel } },
        required: true,
      },
    },
    responses: {
      200: {
        description: 'The collection',
        content: { 'application/json': { schema: Collection, example: COLLECTIONS.collection } },
      },
      400: errorResponse('Invalid collection or body'),
      404: errorResponse('`unknown_model`'),
      409: errorResponse('`migration_running`'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { collection } = c.req.valid('param');
    const { model } = c.req.valid('json');
    await getModel(c.env, model);
    orRefused(await collectionFor(c.env, collection).setModel(model));
    return c.json(await collectionView(c.env, collection), 200);
  },
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/collections/{collection}/migrations',
    summary: 'Move a collection to another model: re-embed every image, then switch reads in one step',
    description:
      "Copies the images of the current model's index into the new model's index and re-embeds them from the kept " +
      'originals (or their URLs) through the indexing queue; reads stay on the current model and writes go to both ' +
      'until every image is settled, then the collection switches. Rollback is possible for MIGRATION_ROLLBACK_S after ' +
      'the switch (writes still go to both meanwhile); then the old index is deleted.',
    ...admin,
    request: {
      params: Params,
      body: {
        content: { 'application/json': { schema: StartMigrationBodySchema, example: COLLECTIONS.start } },
        required: true,
      },
    },
    responses: {
      202: {
        description: 'Started',
        content: { 'application/json': { schema: MigrationView, example: COLLECTIONS.migration } },
      },
      400: errorResponse('Invalid collection or body'),
      404: errorResponse('`unknown_model`'),
      409: errorResponse('`migration_running` or `same_model`'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { collection } = c.req.valid('param');
    const { to } = c.req.valid('json');
    const routing = await routingOf(c.env, collection);
    const fromId = routing.model ?? readConfig(c.env).defaultModel;
    if (to === fromId) throw new ApiError(409, 'same_model', `collection ${collection} already reads ${to}`);
    const [fromManifest, toManifest] = await Promise.all([getModel(c.env, fromId), getModel(c.env, to)]);
    const from = embeddingSpace(fromManifest);
    const old = await writerFor(c.env, indexKey(from, collection)).stats();
    const total = (old?.counts.indexed ?? 0) + (old?.counts.pending ?? 0);
    const row = orRefused(
      await collectionFor(c.env, collection).startMigration(
        collection,
        from,
        embeddingSpace(toManifest),
        total,
      ),
    );
    return c.json(await migrationView(c.env, collection, row), 202);
  },
);

app.openapi(
  createRoute({
    method: 'get',
    path: '/v1/collections/{collection}/migrations/{id}',
    summary: "A migration's progress",
    ...admin,
    request: { params: MigrationParams },
    responses: {
      200: {
        description: 'The migration',
        content: { 'application/json': { schema: MigrationView, example: COLLECTIONS.migration } },
      },
      400: errorResponse('Invalid collection or id'),
      404: errorResponse('`migration_not_found`'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { collection, id } = c.req.valid('param');
    const row = orRefused(await collectionFor(c.env, collection).migration(id));
    return c.json(await migrationView(c.env, collection, row), 200);
  },
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/collections/{collection}/migrations/{id}/rollback',
    summary: 'Return a switched collection to its old model, within the rollback period',
    ...admin,
    request: { params: MigrationParams },
    responses: {
      200: {
        description: 'Rolled back',
        content: { 'application/json': { schema: MigrationView, example: COLLECTIONS.switched } },
      },
      400: errorResponse('Invalid collection or id'),
      404: errorResponse('`migration_not_found`'),
      409: errorResponse('`rollback_closed`'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { collection, id } = c.req.valid('param');
    const row = orRefused(await collectionFor(c.env, collection).rollback(id));
    return c.json(await migrationView(c.env, collection, row), 200);
  },
);

export default app;
