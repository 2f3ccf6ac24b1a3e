/**
 * The messages of the `koclip-index` queue that ingest writes (src/edge/ingest/enqueue.ts) and the
 * consumer reads (src/edge/queue/): one upsert already accepted by its index's writer (so it
 * carries the seq the writer gave it). Deletes never travel through the queue (the writer applies
 * them when accepted). The same queue also carries R2 event notifications in the platform's shape
 * (parsed in src/edge/ingest/r2-events.ts).
 */
import { z } from 'zod';
import { CollectionSchema, ImageIdSchema, ModelIdSchema, Sha256HexSchema } from './ids';
import { ImageMetadataSchema, ImageSourceRefSchema } from './ingest-schemas';
import { INGEST_LIMITS } from './limits';
import type { IndexKey } from './spaces';

export const UpsertMessageSchema = z
  .object({
    v: z.literal(1),
    type: z.literal('upsert'),
    collection: CollectionSchema,
    model: ModelIdSchema,
    version: z.string().min(1).max(128),
    id: ImageIdSchema,
    seq: z.number().int().nonnegative(),
    source: ImageSourceRefSchema,
    metadata: ImageMetadataSchema,
    caption: z.string().max(INGEST_LIMITS.captionChars).optional(),
    content_sha256: Sha256HexSchema.optional(),
    /** ISO time the writer accepted the event (queue lag, logs). */
    accepted_at: z.string(),
  })
  .strict();
export type UpsertMessage = z.infer<typeof UpsertMessageSchema>;

/** The index a message belongs to. */
export const indexOf = (m: UpsertMessage): IndexKey => ({
  collection: m.collection,
  model: m.model,
  version: m.version,
});
