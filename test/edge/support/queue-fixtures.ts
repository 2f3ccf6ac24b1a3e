/**
 * Driving the queue consumer in tests: upserts accepted by their real writer as ingest does,
 * objects in the real IMAGES_BUCKET, R2 event notifications in the platform's shape, and batches
 * made with `createMessageBatch` run through the Worker's own queue handler.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { ImageSourceRef } from '../../../src/core/contract/ingest-schemas';
import type { UpsertMessage } from '../../../src/core/contract/queue-messages';
import { writerFor } from '../../../src/edge/index';
import worker from '../../../src/edge/worker';
import { demoImages, manifest } from './search-fixtures';

export const space = { model: manifest.id, version: manifest.version, dim: manifest.projection_dim };
export const writer = (collection: string) =>
  writerFor(env, { collection, model: space.model, version: space.version });
export const png = (id: keyof typeof demoImages) => new Uint8Array(demoImages[id] as ArrayBuffer);
let counter = 0;
export const uniq = (prefix: string) => `${prefix}-${++counter}`;

/** Accepts an upsert with its writer (as ingest does) and answers its queue message. */
export async function accepted(
  collection: string,
  id: string,
  source: ImageSourceRef,
  extra: Partial<Pick<UpsertMessage, 'metadata' | 'caption' | 'content_sha256'>> = {},
): Promise<UpsertMessage> {
  const metadata = extra.metadata ?? {};
  const [result] = await writer(collection).accept({ collection, ...space }, [
    { op: 'upsert', id, source, metadata, ...extra },
  ]);
  return {
    v: 1,
    type: 'upsert',
    collection,
    model: space.model,
    version: space.version,
    id,
    seq: result?.seq as number,
    source,
    metadata,
    ...extra,
    accepted_at: new Date().toISOString(),
  };
}

/** Puts `bytes` into IMAGES_BUCKET and answers an r2 source for it. */
export async function stored(
  key: string,
  bytes: Uint8Array,
  custom?: Record<string, string>,
): Promise<ImageSourceRef> {
  await env.IMAGES_BUCKET.put(key, bytes, {
    httpMetadata: { contentType: 'image/png' },
    customMetadata: custom,
  });
  return { r2_key: key };
}

/** Runs the Worker's queue handler on `bodies` (ids m0, m1, ...) and answers its acks and retries. */
export async function consume(
  bodies: unknown[],
  options: { attempts?: number; queue?: string; env?: Env } = {},
) {
  const batch = createMessageBatch(
    options.queue ?? 'koclip-index',
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: options.attempts ?? 1, body })),
  );
  // getQueueResult does not report delays: the retry options are read from the messages' calls.
  const delays = new Map<string, number | undefined>();
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (opts?: QueueRetryOptions) => {
      delays.set(m.id, opts?.delaySeconds);
      retry(opts);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env);
  const result = await getQueueResult(batch, ctx);
  const retried = result.retryMessages.map((r) => ({ msgId: r.msgId, delaySeconds: delays.get(r.msgId) }));
  return { acked: [...result.explicitAcks].sort(), retried };
}

export const ids = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);
export const record = (collection: string, id: string) => writer(collection).record(id);

/** An R2 event notification in the platform's shape. */
export const r2Event = (action: string, key: string, size = 100) => ({
  account: 'test-account',
  action,
  bucket: 'koclip-images',
  object: { key, size, eTag: 'e0' },
  eventTime: new Date().toISOString(),
});
