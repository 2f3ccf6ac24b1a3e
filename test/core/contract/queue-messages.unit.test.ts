import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  enqueueUpserts,
  type UpsertMessage,
  UpsertMessageSchema,
} from '../../../src/core/contract/queue-messages';
import { manifest } from '../../edge/support/search-fixtures';

/** Metadata near its 4 KiB limit: four values of 1000 characters. */
const LARGE = { a: 'x'.repeat(1000), b: 'y'.repeat(1000), c: 'z'.repeat(1000), d: 'w'.repeat(1000) };
const message = (i: number, large = false): UpsertMessage => ({
  v: 1,
  type: 'upsert',
  collection: 'enqueue-test',
  model: manifest.id,
  version: manifest.version,
  id: `e-${i}`,
  seq: i,
  source: { image_url: `https://images.test/e-${i}.png` },
  metadata: large ? LARGE : {},
  accepted_at: new Date().toISOString(),
});

/** The real local queue, with every sendBatch call recorded (count and bytes) on the way through. */
function recordingQueue() {
  const batches: { count: number; bytes: number }[] = [];
  const queue = {
    send: (body: unknown, options?: QueueSendOptions) => env.INDEX_QUEUE.send(body, options),
    sendBatch: (messages: Iterable<MessageSendRequest>, options?: QueueSendBatchOptions) => {
      const list = [...messages];
      const bytes = list.reduce((n, m) => n + new TextEncoder().encode(JSON.stringify(m.body)).length, 0);
      batches.push({ count: list.length, bytes });
      return env.INDEX_QUEUE.sendBatch(list, options);
    },
  } as unknown as Queue;
  return { queue, batches };
}

describe('upsert messages', () => {
  it('are checked by their schema (a message as ingest builds it parses unchanged)', () => {
    const m = { ...message(1, true), caption: '빨간 원', content_sha256: 'a'.repeat(64) };
    expect(UpsertMessageSchema.parse(m)).toEqual(m);
    expect(UpsertMessageSchema.safeParse({ ...m, v: 2 }).success).toBe(false);
    expect(UpsertMessageSchema.safeParse({ ...m, seq: -1 }).success).toBe(false);
    expect(UpsertMessageSchema.safeParse({ ...m, content_sha256: 'xyz' }).success).toBe(false);
    expect(UpsertMessageSchema.safeParse({ ...m, extra: 1 }).success).toBe(false);
  });

  it('are sent in batches within the platform limits: 100 messages and 256 KB per sendBatch', async () => {
    const small = recordingQueue();
    await enqueueUpserts(
      small.queue,
      Array.from({ length: 150 }, (_, i) => message(i)),
    );
    expect(small.batches.map((b) => b.count)).toEqual([100, 50]);

    const large = recordingQueue();
    const big = Array.from({ length: 90 }, (_, i) => message(1000 + i, true));
    await enqueueUpserts(large.queue, big);
    expect(large.batches.reduce((n, b) => n + b.count, 0)).toBe(90);
    expect(large.batches.length).toBeGreaterThan(1);
    for (const b of large.batches) expect(b.bytes).toBeLessThanOrEqual(256 * 1024);
  });

  it('sends nothing for no messages', async () => {
    const q = recordingQueue();
    await enqueueUpserts(q.queue, []);
    expect(q.batches).toEqual([]);
  });
});
