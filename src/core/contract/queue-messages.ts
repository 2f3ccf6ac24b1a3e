/**
 * The messages of the `koclip-index` queue and how they are sent: one upsert already accepted by
 * its index's writer (so it carries the seq the writer gave it), written by ingest
 * (src/edge/ingest/ingest.ts) and by the writer's reconciler (src/edge/index/writer/reconciler.ts),
 * read by the consumer (src/edge/queue/). Deletes never travel through the queue (the writer
 * applies them when accepted). The same queue also carries R2 event notifications in the
 * platform's shape (parsed in src/edge/ingest/r2-events.ts). Runtime-free: the queue is any object
 * with the platform's `sendBatch`.
 */
import { z } from 'zod';
import { CollectionSchema, ImageIdSchema, ModelIdSchema, Sha256HexSchema } from './ids';
import type { ImageMetadata, ImageSourceRef } from './ingest-schemas';
import { ImageMetadataSchema, ImageSourceRefSchema } from './ingest-schemas';
import { INGEST_LIMITS } from './limits';
import { REQUEST_ID_PATTERN } from './request-id';
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
    /**
     * X-Request-Id of the request that sent the event (./request-id.ts): the consumer sends it to
     * the encoder with the image. Absent on messages from before request ids, and on re-sends
     * of the reconciler and copies of a migration (no request made them).
     */
    request_id: z.string().regex(REQUEST_ID_PATTERN).optional(),
  })
  .strict();
export type UpsertMessage = z.infer<typeof UpsertMessageSchema>;

/** The index a message belongs to. */
export const indexOf = (m: UpsertMessage): IndexKey => ({
  collection: m.collection,
  model: m.model,
  version: m.version,
});

/** What an upsert message says of its image, besides its index and seq. */
export interface UpsertFields {
  id: string;
  source: ImageSourceRef;
  metadata: ImageMetadata;
  caption?: string;
  content_sha256?: string;
}

/**
 * The message of an upsert the writer of `index` accepted with `seq` at `acceptedAt` (ISO), sent
 * on behalf of the request `requestId` when a request sent it.
 */
export function upsertMessage(
  index: IndexKey,
  fields: UpsertFields,
  seq: number,
  acceptedAt: string,
  requestId?: string,
): UpsertMessage {
  return {
    v: 1,
    type: 'upsert',
    collection: index.collection,
    model: index.model,
    version: index.version,
    id: fields.id,
    seq,
    source: fields.source,
    metadata: fields.metadata,
    ...(fields.caption === undefined ? {} : { caption: fields.caption }),
    ...(fields.content_sha256 === undefined ? {} : { content_sha256: fields.content_sha256 }),
    accepted_at: acceptedAt,
    ...(requestId === undefined ? {} : { request_id: requestId }),
  };
}

/** The part of a Cloudflare Queue that sends: `sendBatch` of JSON messages. */
export interface UpsertQueue {
  sendBatch(
    messages: Iterable<{ body: UpsertMessage; contentType: 'json' }>,
    options?: { delaySeconds?: number },
  ): Promise<unknown>;
}

/** Platform limits of one `sendBatch` call (Cloudflare Queues). */
const BATCH_MESSAGES = 100;
const BATCH_BYTES = 256 * 1024;
/** Per-message overhead counted by the platform against the batch size (generous). */
const MESSAGE_OVERHEAD = 100;

/**
 * Sends the messages in as few `sendBatch` calls as the platform's limits allow (100 messages,
 * 256 KB). Resolves once every message is durably queued; rejects if any call fails (callers
 * answer 503 and the sender retries: a retried upsert gets a newer seq, the older one goes stale;
 * a message the reconciler could not send is tried again at its next check).
 */
export async function enqueueUpserts(
  queue: UpsertQueue,
  messages: readonly UpsertMessage[],
  options: { delaySeconds?: number } = {},
): Promise<void> {
  let batch: { body: UpsertMessage; contentType: 'json' }[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length > 0) await queue.sendBatch(batch, options);
    batch = [];
    bytes = 0;
  };
  for (const body of messages) {
    const size = new TextEncoder().encode(JSON.stringify(body)).length + MESSAGE_OVERHEAD;
    if (batch.length >= BATCH_MESSAGES || bytes + size > BATCH_BYTES) await flush();
    batch.push({ body, contentType: 'json' });
    bytes += size;
  }
  await flush();
}
