/** The signed webhook end to end: 202 once queued, then the real local queue feeds the consumer. */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { INGEST_LIMITS } from '../../../src/core/contract/limits';
import { SIGNATURE_HEADER, signWebhook } from '../../../src/core/contract/webhook-signature';
import { app } from '../../../src/edge/app';
import type { StandIn } from '../support/encoder-stand-in';
import { errorOf, imageStatus, stats, WEBHOOK_SECRETS, webhook } from '../support/ingest-fixtures';
import { demoUrl, installDemoEncoder, manifest } from '../support/search-fixtures';

let standIn: StandIn;
beforeEach(async () => {
  standIn = await installDemoEncoder();
});
afterEach(() => standIn.restore());

interface Accepted {
  accepted: number;
  events: { id: string; op: string; seq: number; collection: string }[];
}

/** Waits until the image has left `pending` (the queue consumer runs in the background). */
async function settled(id: string, collection = 'default') {
  return vi.waitFor(
    async () => {
      const { status, body } = await imageStatus(id, collection);
      if (status !== 200 || body.state === 'pending')
        throw new Error(`${id} is still ${body.state ?? status}`);
      return body;
    },
    { timeout: 20_000, interval: 200 },
  );
}

describe('POST /v1/webhooks/index', () => {
  it('answers 202 with each event, its seq and its collection (default when omitted)', async () => {
    const response = await webhook({
      events: [
        { op: 'upsert', id: 'wh-1', image_url: demoUrl('demo-0001'), metadata: { colour: 'red' } },
        { op: 'upsert', id: 'wh-2', collection: 'shop', image_url: demoUrl('demo-0002'), caption: '파란 원' },
        { op: 'delete', id: 'wh-unknown' },
      ],
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as Accepted;
    expect(body.accepted).toBe(3);
    expect(body.events.map(({ id, op, collection }) => ({ id, op, collection }))).toEqual([
      { id: 'wh-1', op: 'upsert', collection: 'default' },
      { id: 'wh-2', op: 'upsert', collection: 'shop' },
      { id: 'wh-unknown', op: 'delete', collection: 'default' },
    ]);
    for (const e of body.events) expect(Number.isInteger(e.seq)).toBe(true);
  });

  it('indexes the upserts through the queue: status ends indexed with metadata, caption and hash', async () => {
    await webhook({
      events: [
        { op: 'upsert', id: 'wh-3', image_url: demoUrl('demo-0003'), metadata: { n: 3 }, caption: '세모' },
      ],
    });
    const record = await settled('wh-3');
    expect(record).toMatchObject({
      id: 'wh-3',
      collection: 'default',
      state: 'indexed',
      metadata: { n: 3 },
      caption: '세모',
      content_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(record).not.toHaveProperty('location');
    const s = (await stats()) as { model: string; counts: { indexed: number } };
    expect(s.model).toBe(manifest.id);
    expect(s.counts.indexed).toBeGreaterThanOrEqual(1);
  });

  it('ends an image the encoder cannot fetch failed, with the reason', async () => {
    standIn.urlErrors.set('https://images.test/gone.png', {
      status: 502,
      code: 'upstream_status',
      message: 'the image URL answered HTTP 404',
    });
    await webhook({ events: [{ op: 'upsert', id: 'wh-404', image_url: 'https://images.test/gone.png' }] });
    expect(await settled('wh-404')).toMatchObject({
      state: 'failed',
      error: { code: 'upstream_status', message: 'the image URL answered HTTP 404' },
    });
  });

  it('applies a delete before answering: the image is gone at once', async () => {
    await webhook({ events: [{ op: 'upsert', id: 'wh-del', image_url: demoUrl('demo-0004') }] });
    expect((await settled('wh-del')).state).toBe('indexed');
    expect((await webhook({ events: [{ op: 'delete', id: 'wh-del' }] })).status).toBe(202);
    expect((await imageStatus('wh-del')).status).toBe(404);
  });

  it('queues a body at the size limit (more than one queue batch of messages) and answers 202', async () => {
    const events = Array.from({ length: 60 }, (_, i) => ({
      op: 'upsert',
      id: `wh-big-${i}`,
      collection: 'big',
      image_url: demoUrl(`demo-${String(i).padStart(4, '0')}`),
      // Four values of 1000 characters: just under the 4 KiB of metadata an image may have.
      metadata: { a: 'x'.repeat(1000), b: 'y'.repeat(1000), c: 'z'.repeat(1000), d: 'w'.repeat(1000) },
    }));
    const raw = JSON.stringify({ events });
    expect(raw.length).toBeGreaterThan(240 * 1024);
    expect(raw.length).toBeLessThan(INGEST_LIMITS.bodyBytes);
    const response = await webhook(raw);
    expect(response.status).toBe(202);
    expect(((await response.json()) as Accepted).accepted).toBe(60);
    expect((await settled('wh-big-59', 'big')).state).toBe('indexed');
  });

  it('accepts a delivery signed with the previous secret (rotation)', async () => {
    const response = await webhook({ events: [{ op: 'delete', id: 'rot' }] }, { secret: WEBHOOK_SECRETS[1] });
    expect(response.status).toBe(202);
  });

  it('answers 503 when the queue refuses the messages, and the same delivery can be retried', async () => {
    const raw = JSON.stringify({
      events: [{ op: 'upsert', id: 'wh-retry', image_url: demoUrl('demo-0006') }],
    });
    const signature = await signWebhook(WEBHOOK_SECRETS[0], raw);
    const request = () =>
      new Request('http://worker.test/v1/webhooks/index', {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
        body: raw,
      });
    // Fault injection at the binding: a queue that is down (every other binding is the real one).
    const down = async () => {
      throw new Error('queue unavailable');
    };
    const refusing = { ...env, INDEX_QUEUE: { send: down, sendBatch: down } as unknown as Queue };
    const failed = await app.fetch(request(), refusing);
    expect(await errorOf(failed)).toMatchObject({ status: 503, code: 'queue_unavailable' });
    const retried = await app.fetch(request(), env);
    expect(retried.status).toBe(202);
    expect((await settled('wh-retry')).state).toBe('indexed');
  });

  it('is in the OpenAPI document with its example, beside the admin image routes', async () => {
    const doc = (await (await app.fetch(new Request('http://worker.test/openapi.json'), env)).json()) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { example?: unknown }> } }>
      >;
      components: { securitySchemes?: Record<string, unknown> };
    };
    const post = doc.paths['/v1/webhooks/index']?.post;
    expect(post?.requestBody?.content['application/json']?.example).toMatchObject({
      events: expect.any(Array),
    });
    expect(Object.keys(doc.paths['/v1/images/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'put']);
    expect(doc.paths['/v1/index/stats']?.get).toBeDefined();
    expect(doc.components.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});
