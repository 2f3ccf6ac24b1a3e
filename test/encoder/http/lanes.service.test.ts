/**
 * The query lane of the real encoder process (src/encoder/inference/lanes.ts): the lower pixel
 * limit of query images, the per-client cap answered with 429 `rate_limited` and `Retry-After`,
 * and request ids (kept when well-formed, answered back and logged on the request's own line).
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENCODER_HEADERS,
  ErrorAnswerSchema,
  ImageAnswerSchema,
} from '../../../src/core/contract/encoder-api';
import type { RunningEncoder } from '../support/service-process';
import { startEncoder } from '../support/service-process';

let encoder: RunningEncoder;
let image = Buffer.alloc(0);
beforeAll(async () => {
  encoder = await startEncoder({
    ENCODER_MAX_PIXELS: '1000000',
    ENCODER_MAX_QUERY_PIXELS: '10000',
    ENCODER_QUERY_SLOTS: '1',
    ENCODER_QUERY_PER_CLIENT: '1',
  });
  // 200 x 100 = 20,000 pixels: over the query limit, under the index limit.
  image = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#3366aa' } })
    .png()
    .toBuffer();
});
afterAll(() => encoder.stop());

const post = (headers: Record<string, string>, body: Uint8Array = new Uint8Array(image)) =>
  encoder.call('/v1/embed/image', {
    method: 'POST',
    headers: { 'content-type': 'image/png', ...headers },
    body,
  });

/** The encoder's JSON log lines of requests. */
const logLines = () =>
  encoder
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{"msg":"encoder_request"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('pixel limits per lane', () => {
  it('refuses a query image over the query limit that indexing accepts', async () => {
    const query = await post({ [ENCODER_HEADERS.lane]: 'query' });
    expect(query.status).toBe(413);
    const refused = ErrorAnswerSchema.parse(await query.json());
    expect(refused.error.code).toBe('too_many_pixels');
    expect(refused.error.message).toContain('the limit is 10000');

    for (const headers of [{ [ENCODER_HEADERS.lane]: 'index' }, {} as Record<string, string>]) {
      const index = await post(headers);
      expect(index.status).toBe(200);
      const answer = ImageAnswerSchema.parse(await index.json());
      expect(answer.data[0]).toMatchObject({ width: 200, height: 100 });
    }
  });

  it('refuses a lane it does not know', async () => {
    const res = await post({ [ENCODER_HEADERS.lane]: 'fast' });
    expect(res.status).toBe(400);
    expect(ErrorAnswerSchema.parse(await res.json()).error.code).toBe('bad_lane');
  });
});

describe('per-client cap of query requests', () => {
  it('answers 429 with Retry-After to a client over its cap, and serves others', async () => {
    const small = await sharp({ create: { width: 50, height: 50, channels: 3, background: '#aa3366' } })
      .png()
      .toBuffer();
    // Client A's first request stays in the encoder until its body is finished.
    let finish: () => void = () => {};
    const held = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(small.subarray(0, 10)));
        finish = () => {
          controller.enqueue(new Uint8Array(small.subarray(10)));
          controller.close();
        };
      },
    });
    const query = (client: string) => ({ [ENCODER_HEADERS.lane]: 'query', [ENCODER_HEADERS.client]: client });
    const first = encoder.call('/v1/embed/image', {
      method: 'POST',
      headers: { 'content-type': 'image/png', ...query('key:a') },
      body: held,
      duplex: 'half',
    } as RequestInit);
    // Wait until the encoder counts it (its log line comes only at the end, so poll the cap).
    let second: Response | undefined;
    for (let i = 0; i < 50; i++) {
      second = await post(query('key:a'), new Uint8Array(small));
      if (second.status === 429) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(second?.status).toBe(429);
    expect(second?.headers.get('retry-after')).toBe('1');
    expect(ErrorAnswerSchema.parse(await second?.json()).error.code).toBe('rate_limited');

    // Another client, and indexing, are served meanwhile.
    expect((await post(query('key:b'), new Uint8Array(small))).status).toBe(200);
    expect((await post({ [ENCODER_HEADERS.lane]: 'index' }, new Uint8Array(small))).status).toBe(200);

    finish();
    expect((await first).status).toBe(200);
    // Once it is done, client A may query again.
    expect((await post(query('key:a'), new Uint8Array(small))).status).toBe(200);
  });
});

describe('request ids', () => {
  it('keeps a well-formed id, replaces any other, and logs it with the lane', async () => {
    const kept = await post({ [ENCODER_HEADERS.requestId]: 'req_Abc-123=', [ENCODER_HEADERS.lane]: 'index' });
    expect(kept.headers.get('x-request-id')).toBe('req_Abc-123=');
    await kept.arrayBuffer();

    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon']) {
      const res = await post({ [ENCODER_HEADERS.requestId]: bad });
      const id = res.headers.get('x-request-id') ?? '';
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      await res.arrayBuffer();
    }

    const line = logLines().find((l) => l.request_id === 'req_Abc-123=');
    expect(line).toMatchObject({
      path: '/v1/embed/image',
      method: 'POST',
      lane: 'index',
      client: null,
      images: 1,
      status: 200,
    });
    expect(typeof line?.ms).toBe('number');
    const refused = logLines().find((l) => l.status === 429);
    expect(refused).toMatchObject({ lane: 'query', client: 'key:a' });
  });
});
