/**
 * Request ids and the request log (src/edge/http/request-log.ts) on the real app: X-Request-Id on
 * every answer (kept when well-formed), carried to the encoder with the query lane and the client,
 * one JSON log line per request with the encoder's time, error counts for the admin, and the id
 * in the queue messages of what a request sent and on the consumer's encoder calls.
 */
import { env, exports } from 'cloudflare:workers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UpsertMessageSchema, upsertMessage } from '../../src/core/contract/queue-messages';
import type { RequestLogLine } from '../../src/edge/http/request-log';
import type { StandIn } from './support/encoder-stand-in';
import { accepted, consume, png, stored, uniq } from './support/queue-fixtures';
import { demoImages, installDemoEncoder } from './support/search-fixtures';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const base64 = (buffer: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)));

let standIn: StandIn;
let logs: string[] = [];
beforeAll(async () => {
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());
const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
  logs.push(args.map(String).join(' '));
});
afterEach(() => {
  logs = [];
});
afterAll(() => spy.mockRestore());

const lines = () =>
  logs.filter((l) => l.startsWith('{"msg":"request"')).map((l) => JSON.parse(l) as RequestLogLine);

const call = (path: string, init: RequestInit = {}) =>
  exports.default.fetch(new Request(`http://worker.test${path}`, init));

describe('X-Request-Id', () => {
  it('keeps a well-formed id and replaces any other, on answers and errors alike', async () => {
    for (const path of ['/v1/models', '/healthz', '/v1/nothing-here']) {
      const kept = await call(path, { headers: { 'X-Request-Id': 'abc_DEF-123=' } });
      expect(kept.headers.get('X-Request-Id')).toBe('abc_DEF-123=');
      await kept.arrayBuffer();
      for (const bad of ['with space', 'a'.repeat(129), 'dots.and:colons', '']) {
        const res = await call(path, { headers: { 'X-Request-Id': bad } });
        expect(res.headers.get('X-Request-Id')).toMatch(UUID);
        await res.arrayBuffer();
      }
    }
  });

  it('goes to the encoder with the query lane and the client, and into the log line', async () => {
    const res = await call('/v1/patches', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'X-Request-Id': 'patch-req-1',
        'CF-Connecting-IP': '203.0.113.7',
      },
      body: JSON.stringify({
        image_base64: base64(demoImages['demo-0013'] as ArrayBuffer),
        text: '빨간 원',
        rows: 2,
        cols: 3,
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('X-Request-Id')).toBe('patch-req-1');
    const sent = standIn.calls.at(-1);
    expect(sent).toMatchObject({ requestId: 'patch-req-1', lane: 'query', client: 'ip:203.0.113.7' });

    const line = lines().find((l) => l.request_id === 'patch-req-1');
    expect(line).toMatchObject({
      method: 'POST',
      route: '/v1/patches',
      status: 200,
      key_id: null,
      encoder_calls: 1,
      error: null,
    });
    expect(line?.encoder_ms).toBeGreaterThanOrEqual(0);
    expect(line?.ms).toBeGreaterThanOrEqual(0);
  });

  it('logs the route pattern, the collection and the model, and the error code of a refusal', async () => {
    await (
      await call('/v1/search?q=%EA%B3%A0%EC%96%91%EC%9D%B4&model=no-such-model&collection=c1')
    ).arrayBuffer();
    const [line] = lines();
    expect(line).toMatchObject({ route: '/v1/search', collection: 'c1', model: 'no-such-model' });
    expect(line?.status).toBeGreaterThanOrEqual(400);
    expect(line?.error).toEqual(expect.any(String));
    expect(line?.encoder_ms).toBeNull();
  });
});

describe('error counts for the admin', () => {
  it('counts error answers by code in the isolate, for the admin only', async () => {
    const before = await call('/v1/admin/errors', { headers: { authorization: 'Bearer test-admin-token' } });
    expect(before.status).toBe(200);
    const start = ((await before.json()) as { counts: Record<string, number> }).counts.not_found ?? 0;
    await (await call('/v1/also-not-a-route')).arrayBuffer();
    await (await call('/v1/not-a-route')).arrayBuffer();
    const after = await call('/v1/admin/errors', { headers: { authorization: 'Bearer test-admin-token' } });
    const body = (await after.json()) as { scope: string; since: string; counts: Record<string, number> };
    expect(body.scope).toBe('isolate');
    expect(body.counts.not_found).toBe(start + 2);

    const anonymous = await call('/v1/admin/errors');
    expect(anonymous.status).toBe(401);
    const wrong = await call('/v1/admin/errors', { headers: { authorization: 'Bearer wrong-token' } });
    expect(wrong.status).toBe(401);
  });
});

describe('queue messages', () => {
  it('carry the request id; messages without one stay readable', () => {
    const index = { collection: 'c', model: 'koclip-tiny', version: 'v1' };
    const fields = { id: 'a', source: { r2_key: 'k' }, metadata: {} };
    const old = upsertMessage(index, fields, 1, new Date().toISOString());
    expect(old).not.toHaveProperty('request_id');
    expect(UpsertMessageSchema.parse(old)).toEqual(old);
    const carried = upsertMessage(index, fields, 1, new Date().toISOString(), 'req-9');
    expect(UpsertMessageSchema.parse(carried).request_id).toBe('req-9');
    expect(UpsertMessageSchema.safeParse({ ...carried, request_id: 'bad id' }).success).toBe(false);
  });

  it('an upload queues its message with the request id', async () => {
    const sent = vi.spyOn(env.INDEX_QUEUE, 'sendBatch');
    try {
      const form = new FormData();
      form.append('image', new Blob([png('demo-0001')], { type: 'image/png' }), 'a.png');
      const res = await call(`/v1/images/${uniq('upload')}?collection=reqids`, {
        method: 'PUT',
        headers: { authorization: 'Bearer test-admin-token', 'X-Request-Id': 'upload-req-7' },
        body: form,
      });
      expect(res.status).toBeLessThan(300);
      const bodies = sent.mock.calls.flatMap(([batch]) => [...batch].map((m) => m.body));
      expect(bodies.length).toBeGreaterThan(0);
      for (const body of bodies) expect(body).toMatchObject({ request_id: 'upload-req-7' });
    } finally {
      sent.mockRestore();
    }
  });

  it("the consumer calls the encoder on the index lane under the messages' request id", async () => {
    const collection = uniq('lane');
    const ids = [uniq('img'), uniq('img')];
    const messages = await Promise.all(
      ids.map(async (id) => ({
        ...(await accepted(collection, id, await stored(`${collection}/${id}`, png('demo-0002')))),
        request_id: 'hook-req-3',
      })),
    );
    const before = standIn.calls.length;
    const { acked } = await consume(messages);
    expect(acked).toEqual(['m0', 'm1']);
    const calls = standIn.calls.slice(before).filter((c) => c.url.includes('/v1/embed/image'));
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c).toMatchObject({ requestId: 'hook-req-3', lane: 'index', client: null });
  });
});
