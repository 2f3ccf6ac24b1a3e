/**
 * Puts accepted upserts on the `koclip-index` queue (the message contract is
 * src/core/contract/queue-messages.ts), in as few calls as the platform allows.
 */
import type { UpsertMessage } from '../../core/contract/queue-messages';

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
