/**
 * The exact contract (issue 21, item 6) on miniflare's real bindings: 405 with `Allow`, wrong types
 * and reserved names refused with 400s that say what is supported, the webhook signed over the raw
 * bytes, and an OpenAPI document whose patterns, responses and examples hold.
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, signWebhook } from '../../../src/core/contract/webhook-signature';
import { ADMIN, call, WEBHOOK_SECRETS } from '../support/ingest-fixtures';
import { installDemoEncoder } from '../support/search-fixtures';

/** A 1x1 PNG. */
const TINY_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

const json = (path: string, body: unknown, init: RequestInit = {}) =>
  call(path, {
    method: 'POST',
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    body: JSON.stringify(body),
  });
const errorOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;

async function signedWebhook(bytes: Uint8Array, signedOver: Uint8Array | string = bytes): Promise<Response> {
  return call('/v1/webhooks/index', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [SIGNATURE_HEADER]: await signWebhook(WEBHOOK_SECRETS[0], signedOver),
    },
    body: bytes,
  });
}

describe('405 for a known path with another method', () => {
  it('answers 405 method_not_allowed with Allow, and 404 for an unknown path', async () => {
    const wrong = await call('/v1/search', { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST');
    expect((await errorOf(wrong)).code).toBe('method_not_allowed');
    const images = await call('/v1/images/demo-0001', { method: 'POST' });
    expect(images.status).toBe(405);
    expect(images.headers.get('allow')).toBe('DELETE, GET, HEAD, PUT');
    const health = await call('/healthz', { method: 'PATCH' });
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET, HEAD');
    // The debug probes give no hint of themselves, whatever the method.
    expect((await call('/debug/tower/run', { method: 'GET' })).status).toBe(404);
    const unknown = await call('/v1/nothing-here', { method: 'DELETE' });
    expect(unknown.status).toBe(404);
    expect((await errorOf(unknown)).code).toBe('not_found');
  });
});

describe('wrong types and reserved names are 400s', () => {
  it('refuses captions given as a string in JSON (a list is required)', async () => {
    const response = await json('/v1/score', { image_id: 'demo-0191', captions: 'AAA' });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatchObject({
      code: 'invalid_request',
      message: expect.stringContaining('captions'),
    });
  });

  it('refuses an empty embeddings input list', async () => {
    const response = await json('/v1/embeddings', { input: [] });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe('invalid_request');
  });

  it('refuses $-prefixed filter keys, naming the supported operators; $or gets its own message', async () => {
    const where = await json('/v1/search', { text: '빨간 원', filter: { $where: 'this.a == 1' } });
    expect(where.status).toBe(400);
    const whereError = await errorOf(where);
    expect(whereError.message).toContain('filter.$where');
    expect(whereError.message).toContain('$eq $ne $in $nin $lt $lte $gt $gte');
    const or = await call(`/v1/search?q=x&filter=${encodeURIComponent('{"$or":[{"a":1},{"b":2}]}')}`);
    expect(or.status).toBe(400);
    expect((await errorOf(or)).message).toMatch(/\$or is not supported.*\$in/);
    const proto = await json('/v1/search', { text: '빨간 원', filter: JSON.parse('{"__proto__":{"a":1}}') });
    expect(proto.status).toBe(400);
    expect((await errorOf(proto)).message).toContain('__proto__');
  });

  it('refuses reserved metadata keys in a webhook and in an upload instead of dropping them', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype', '$set']) {
      const body = `{"events":[{"op":"upsert","id":"reserved-key","r2_key":"uploads/x.png","metadata":{"${key}":"x","ok":1}}]}`;
      const response = await signedWebhook(new TextEncoder().encode(body));
      expect(response.status, key).toBe(400);
      expect((await errorOf(response)).message, key).toContain(`metadata.${key}`);
    }
    const form = new FormData();
    form.set(
      'image',
      new Blob([Uint8Array.from(atob(TINY_PNG), (c) => c.charCodeAt(0))], { type: 'image/png' }),
      'x.png',
    );
    form.set('metadata', '{"__proto__":{"admin":true}}');
    const upload = await call('/v1/images/reserved-key', { method: 'PUT', headers: ADMIN, body: form });
    expect(upload.status).toBe(400);
    expect((await errorOf(upload)).message).toContain('metadata.__proto__');
  });
});

describe("a caller's image URL that cannot be fetched", () => {
  it('answers 422 image_fetch_failed with the reason, not 502', async () => {
    const standIn = await installDemoEncoder();
    try {
      const response = await json('/v1/score', {
        image_url: 'https://images.test/gone.png',
        captions: ['원'],
      });
      expect(response.status).toBe(422);
      expect(await errorOf(response)).toMatchObject({
        code: 'image_fetch_failed',
        message: expect.stringContaining('fetch_failed'),
      });
    } finally {
      standIn.restore();
    }
  });
});

describe('the webhook signature covers the raw request bytes', () => {
  const events = '{"events":[{"op":"delete","id":"raw-bytes-check"}]}';

  it('accepts a body with a BOM signed over its bytes', async () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(events)]);
    const response = await signedWebhook(bytes);
    expect(response.status, await response.clone().text()).toBe(202);
  });

  it('refuses invalid UTF-8 signed over its bytes with 400, and signed over its replaced text with 401', async () => {
    const text = '{"events":[{"op":"delete","id":"bad-\uFFFD"}]}';
    const bytes = new TextEncoder().encode(text);
    const at = bytes.indexOf(0xef);
    const invalid = new Uint8Array([...bytes.subarray(0, at), 0xff, ...bytes.subarray(at + 3)]);
    const overBytes = await signedWebhook(invalid);
    expect(overBytes.status).toBe(400);
    expect(await errorOf(overBytes)).toMatchObject({
      code: 'invalid_request',
      message: 'the body is not valid UTF-8',
    });
    const overText = await signedWebhook(invalid, text);
    expect(overText.status).toBe(401);
  });
});

interface Operation {
  parameters?: { in: string; name: string; schema?: { pattern?: string } }[];
  requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> };
  responses: Record<string, unknown>;
}

describe('the OpenAPI document', () => {
  const load = async () =>
    (await (await exports.default.fetch('http://worker.test/openapi.json')).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };

  it('has patterns that are plain ECMA regexes (no flags) and id patterns that match real ids', async () => {
    const doc = await load();
    const text = JSON.stringify(doc);
    const patterns = [...text.matchAll(/"pattern":("(?:[^"\\]|\\.)*")/g)].map(
      (m) => JSON.parse(m[1] as string) as string,
    );
    expect(patterns.length).toBeGreaterThan(10);
    for (const p of patterns) {
      expect(p, p).not.toMatch(/\/[a-z]*$/);
      expect(() => new RegExp(p), p).not.toThrow();
    }
    const imageId = doc.paths['/v1/images/{id}']?.get?.parameters?.find((p) => p.name === 'id')?.schema
      ?.pattern;
    expect(imageId).toBeDefined();
    for (const id of ['demo-0191', 'sku-1042', '사진/2024-05.jpg'])
      expect(new RegExp(imageId as string).test(id), id).toBe(true);
    expect(new RegExp(imageId as string).test('a b')).toBe(false);
  });

  it('lists 400 for every operation that takes input, and 413 for every /v1 body', async () => {
    const missing: string[] = [];
    for (const [path, item] of Object.entries((await load()).paths)) {
      for (const [method, op] of Object.entries(item)) {
        if ((op.parameters?.length || op.requestBody) && !op.responses['400'])
          missing.push(`${method} ${path} 400`);
        if (path.startsWith('/v1/') && op.requestBody && !op.responses['413'])
          missing.push(`${method} ${path} 413`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('lists 415 for every body but the webhook, and a body of another media type gets it', async () => {
    const doc = await load();
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item))
        if (op.requestBody && path !== '/v1/webhooks/index' && !op.responses['415'])
          missing.push(`${method} ${path}`);
    expect(missing).toEqual([]);
    for (const [path, method] of [
      ['/v1/embeddings', 'POST'],
      ['/v1/score', 'POST'],
      ['/v1/collections/default', 'PUT'],
    ] as const) {
      const response = await call(path, {
        method,
        headers: { ...ADMIN, 'content-type': 'text/plain' },
        body: 'x',
      });
      expect(response.status, `${method} ${path}`).toBe(415);
    }
  });

  it('has request examples that are local (no http(s) image URL) and carry no cursor', async () => {
    const doc = await load();
    const values: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      if (path === '/v1/webhooks/index') continue; // signed: a replay without the secret is a 401
      for (const op of Object.values(item))
        for (const media of Object.values(op.requestBody?.content ?? {}))
          for (const example of Object.values(media.examples ?? {}))
            values.push(JSON.stringify(example.value));
    }
    expect(values.length).toBeGreaterThan(4);
    for (const v of values) {
      expect(v).not.toMatch(/"image_url":"https?:/);
      expect(v).not.toContain('"cursor"');
    }
  });
});
