/**
 * The messages of the `koclip-index` queue that ingest writes and the consumer reads: one upsert
 * already accepted by its index's writer (so it carries the seq the writer gave it). Deletes never
 * travel through the queue (the writer applies them when accepted). The same queue also carries
 * R2 event notifications in the platform's shape (parsed in src/edge/queue/r2-events.ts).
 */
import { z } from 'zod';
import { CollectionSchema, ImageIdSchema, ModelIdSchema } from '../../core/contract/ids';
import { ImageMetadataSchema } from '../../core/contract/ingest-schemas';
import { INGEST_LIMITS } from '../../core/contract/limits';
import type { IndexKey } from '../../core/contract/spaces';
import { ImageSourceRefSchema } from '../index-writer/contract';

export const Sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

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

/** Platform limits of one `sendBatch` call (Cloudflare Queues). */
const BATCH_MESSAGES = 100;
const BATCH_BYTES = 256 * 1024;
/** Per-message overhead counted by the platform against the batch size (generous). */
const MESSAGE_OVERHEAD = 100;

/**
 * Sends the messages in as few `sendBatch` calls as the platform's limits allow (100 messages,
 * 256 KB). Resolves once every message is durably queued; rejects if any call fails (callers
 * answer 503 and the sender retries: a retried upsert gets a newer seq, the older one goes stale).
 */
export async function enqueueUpserts(
  queue: Queue,
  messages: UpsertMessage[],
  options: { delaySeconds?: number } = {},
): Promise<void> {
  let batch: MessageSendRequest<UpsertMessage>[] = [];
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
