/**
 * The body of POST /v1/webhooks/index and the metadata of an image, shared by the Worker (which
 * validates with them) and the bulk CLI (which builds them). Plain zod: runtime-free.
 */
import { z } from 'zod';
import { CollectionSchema, ImageIdSchema } from './ids';
import { INGEST_LIMITS, LIMITS } from './limits';
import { metadataFieldProblem, withCheckedKeys } from './metadata-filter';

const MetadataValue = z.union([z.string().max(1024), z.number().finite(), z.boolean(), z.null()]);

/**
 * Flat metadata: string, number, boolean or null values; at most 32 fields and 4 KiB as JSON. A
 * reserved field name (`__proto__`, `constructor`, `prototype`, or `$...`) is a 400, not dropped.
 */
export const ImageMetadataSchema = withCheckedKeys(
  z
    .record(z.string().min(1).max(64), MetadataValue)
    .refine(
      (m) => Object.keys(m).length <= INGEST_LIMITS.metadataFields,
      `at most ${INGEST_LIMITS.metadataFields} metadata fields`,
    )
    .refine(
      (m) => new TextEncoder().encode(JSON.stringify(m)).length <= INGEST_LIMITS.metadataBytes,
      `metadata may be at most ${INGEST_LIMITS.metadataBytes} bytes as JSON`,
    ),
  metadataFieldProblem,
);
export type ImageMetadata = z.infer<typeof ImageMetadataSchema>;

const ImageUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(LIMITS.urlChars);
const R2Key = z
  .string()
  .min(1)
  .max(1024)
  .refine((k) => !k.startsWith('/') && !k.split('/').includes('..'), 'must be a key inside the bucket');

/** Where the image of an accepted upsert comes from: a URL the encoder fetches, or an object in IMAGES_BUCKET. */
export const ImageSourceRefSchema = z.union([
  z.object({ image_url: z.string().min(1) }).strict(),
  z.object({ r2_key: z.string().min(1) }).strict(),
]);
export type ImageSourceRef = z.infer<typeof ImageSourceRefSchema>;

const UpsertEvent = z
  .object({
    op: z.literal('upsert'),
    id: ImageIdSchema,
    collection: CollectionSchema.optional(),
    image_url: ImageUrl.optional(),
    r2_key: R2Key.optional(),
    metadata: ImageMetadataSchema.optional(),
    caption: z.string().max(INGEST_LIMITS.captionChars).optional(),
  })
  .strict()
  .refine((e) => (e.image_url === undefined) !== (e.r2_key === undefined), {
    message: 'an upsert has exactly one of image_url or r2_key',
  });

const DeleteEvent = z
  .object({ op: z.literal('delete'), id: ImageIdSchema, collection: CollectionSchema.optional() })
  .strict();

export const WebhookEventSchema = z.discriminatedUnion('op', [UpsertEvent, DeleteEvent]);
export type WebhookEvent = z.infer<typeof WebhookEventSchema>;

export const WebhookBodySchema = z
  .object({
    events: z
      .array(WebhookEventSchema)
      .min(1, 'give at least one event')
      .max(INGEST_LIMITS.events, `at most ${INGEST_LIMITS.events} events per call`),
  })
  .strict();
export type WebhookBody = z.infer<typeof WebhookBodySchema>;

/** Where an accepted image stands: `pending` until embedded, then `indexed` or `failed`. */
export const RecordStateSchema = z.enum(['pending', 'indexed', 'failed']);
export type RecordState = z.infer<typeof RecordStateSchema>;

/** GET /v1/images/:id */
export const ImageStatusSchema = z.object({
  id: z.string(),
  collection: z.string(),
  state: RecordStateSchema,
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  caption: z.string().optional(),
  content_sha256: z.string().nullable(),
  attempts: z.number().int(),
  updated_at: z.string(),
});
export type ImageStatus = z.infer<typeof ImageStatusSchema>;

/** GET /v1/index/stats: one index (a collection in one model's embedding space). */
export const IndexStatsSchema = z.object({
  collection: z.string(),
  model: z.string(),
  version: z.string(),
  counts: z.object({ pending: z.number().int(), indexed: z.number().int(), failed: z.number().int() }),
  segments: z.number().int(),
  retired_segments: z.number().int(),
  bytes: z.number().int(),
  generation: z.number().int(),
  last_write: z.string().nullable(),
  /** Age in seconds of the oldest pending record (0 when none). */
  queue_lag_s: z.number(),
  /**
   * The writer's reconciler: pending records it sent to the queue again because nothing had
   * happened to them, and records it ended `failed` (`not_processed`) after its last try.
   */
  reconciler: z.object({ reenqueued: z.number().int(), failed: z.number().int() }),
});
export type IndexStats = z.infer<typeof IndexStatsSchema>;
