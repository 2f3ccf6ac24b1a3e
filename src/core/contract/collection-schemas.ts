/**
 * The collections API (admin): a collection's current model (the alias every route without
 * `model` reads and writes) and its migrations from one model to another. Shared by the Worker's
 * routes (src/edge/collections/), the OpenAPI document and the bulk CLI (`npm run migrate`).
 * Plain zod: runtime-free. How a migration runs: docs/models.md ("Move a collection to a new
 * model").
 */
import { z } from 'zod';
import { ModelIdSchema } from './ids';

/** An embedding space as the API names it. */
export const ModelRefSchema = z.object({ model: z.string(), version: z.string() });
export type ModelRef = z.infer<typeof ModelRefSchema>;

/**
 * Where a migration stands:
 * - `copying`: the images of the old index are being accepted into the new one and re-embedded;
 *   reads stay on the old model, writes go to both;
 * - `switched`: every image is settled in the new index and the collection reads the new model;
 *   writes still go to both until `rollback_until`, so a rollback loses nothing;
 * - `rolled_back`: back on the old model (the new index is kept, no longer written);
 * - `retired`: the grace period ended; the old index was deleted;
 * - `failed`: stopped with `error` (the collection stays on the old model).
 */
export const MigrationStateSchema = z.enum(['copying', 'switched', 'rolled_back', 'retired', 'failed']);
export type MigrationState = z.infer<typeof MigrationStateSchema>;

export const MigrationSchema = z.object({
  id: z.string(),
  collection: z.string(),
  from: ModelRefSchema,
  to: ModelRefSchema,
  state: MigrationStateSchema,
  /** Images of the old index to move (known once the old index has been read through). */
  total: z.number().int().nullable(),
  /** Images of the old index accepted into the new one so far. */
  copied: z.number().int(),
  /** Images of the new index: indexed, pending and failed (live writes during the migration included). */
  indexed: z.number().int(),
  pending: z.number().int(),
  failed: z.number().int(),
  /** Up to 20 failures of the new index, with the encoder's reason. */
  failures: z.array(z.object({ id: z.string(), code: z.string(), message: z.string() })),
  /** Images indexed in the new index per second since the migration started. */
  images_per_s: z.number(),
  /** Seconds until every image is settled at that rate (null when unknown or done). */
  eta_s: z.number().nullable(),
  started_at: z.string(),
  switched_at: z.string().nullable(),
  /** Until when `POST .../rollback` returns to the old model (after a switch). */
  rollback_until: z.string().nullable(),
  finished_at: z.string().nullable(),
  error: z.string().nullable(),
});
export type Migration = z.infer<typeof MigrationSchema>;

/** GET|PUT /v1/collections/{collection} */
export const CollectionSchema = z.object({
  collection: z.string(),
  /** The model routes without `model` read and write; the Worker's DEFAULT_MODEL until set. */
  model: z.string(),
  /** Whether the model was set for this collection (false: the default applies). */
  pinned: z.boolean(),
  /** The migration running or in its rollback period, if any. */
  migration: MigrationSchema.nullable(),
});
export type Collection = z.infer<typeof CollectionSchema>;

/** PUT /v1/collections/{collection}: point the collection at a model (no migration). */
export const SetModelBodySchema = z.object({ model: ModelIdSchema }).strict();

/** POST /v1/collections/{collection}/migrations */
export const StartMigrationBodySchema = z.object({ to: ModelIdSchema }).strict();
