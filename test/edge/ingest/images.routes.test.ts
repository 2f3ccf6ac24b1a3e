/** The admin image API: uploads (raw and multipart), status, deletes and stats, on the real bindings. */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../../src/core/contract/limits';
import { app } from '../../../src/edge/app';
import { imageObjectKey } from '../../../src/edge/storage-keys';
import { type StandIn, sha256Hex } from '../support/encoder-stand-in';
import { admin, call, errorOf, imageStatus, stats } from '../support/ingest-fixtures';
import { demoImages, installDemoEncoder } from '../support/search-fixtures';

let standIn: StandIn;
beforeEach(async () => {
  standIn = await installDemoEncoder();
});
afterEach(() => standIn.restore());

const png = (id: keyof typeof demoImages) => new Uint8Array(demoImages[id] as ArrayBuffer);
const putRaw = (id: string, bytes: Uint8Array, type = 'image/png', query = '') =>
  admin(`/v1/images/${encodeURIComponent(id)}${query}`, {
    method: 'PUT',
    headers: { 'content-type': type },
    body: bytes,
  });
function putForm(
  id: string,
  fields: { image?: Uint8Array; metadata?: string; caption?: string },
  query = '',
) {
  const form = new FormData();
  if (fields.image) form.set('image', new File([fields.image], 'x.png', { type: 'image/png' }));
  if (fields.metadata !== undefined) form.set('metadata', fields.metadata);
  if (fields.caption !== undefined) form.set('caption', fields.caption);
  return admin(`/v1/images/${encodeURIComponent(id)}${query}`, { method: 'PUT', body: form });
}

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

describe('admin token', () => {
  const routes: [string, string][] = [
    ['PUT', '/v1/images/a'],
    ['GET', '/v1/images/a'],
    ['DELETE', '/v1/images/a'],
    ['GET', '/v1/index/stats'],
  ];

  it('is required by every route: 401 unauthorized without it or with a wrong one', async () => {
    for (const [method, path] of routes) {
      expect(await errorOf(await call(path, { method }))).toMatchObject({
        status: 401,
        code: 'unauthorized',
      });
      const wrong = await call(path, { method, headers: { authorization: 'Bearer test-admin-tokeN' } });
      expect(await errorOf(wrong)).toMatchObject({ status: 401, code: 'unauthorized' });
    }
  });

  it('answers a malformed header like a wrong token: 401 unauthorized with WWW-Authenticate: Bearer', async () => {
    for (const authorization of [
      undefined,
      'Basic test-admin-token',
      'Bearer ',
      'Bearer test admin token',
      'test-admin-token',
    ]) {
      const response = await call('/v1/index/stats', authorization ? { headers: { authorization } } : {});
      expect(response.headers.get('www-authenticate'), authorization).toBe('Bearer');
      expect(await errorOf(response), authorization).toMatchObject({ status: 401, code: 'unauthorized' });
    }
  });

  it('closes the routes with 503 admin_not_configured when ADMIN_TOKEN cannot be sent as a bearer token', async () => {
    const request = new Request('http://worker.test/v1/index/stats', {
      headers: { authorization: 'Bearer pass word' },
    });
    const response = await app.fetch(request, { ...env, ADMIN_TOKEN: 'pass word' });
    expect(await errorOf(response)).toMatchObject({ status: 503, code: 'admin_not_configured' });
  });

  it('closes the routes with 503 admin_not_configured when ADMIN_TOKEN is unset', async () => {
    for (const [method, path] of routes) {
      const request = new Request(`http://worker.test${path}`, {
        method,
        headers: { authorization: 'Bearer x' },
      });
      const response = await app.fetch(request, { ...env, ADMIN_TOKEN: '' });
      expect(await errorOf(response)).toMatchObject({ status: 503, code: 'admin_not_configured' });
    }
  });
});

describe('PUT /v1/images/:id', () => {
  it('keeps the original with its sha256, answers 202 pending, and the queue indexes it', async () => {
    const bytes = png('demo-0001');
    const response = await putRaw('up-1', bytes);
    expect(response.status).toBe(202);
    const sha = await sha256Hex(bytes);
    expect(await response.json()).toMatchObject({
      id: 'up-1',
      collection: 'default',
      state: 'pending',
      content_sha256: sha,
      metadata: {},
      attempts: 0,
    });
    const original = await env.IMAGES_BUCKET.get(imageObjectKey('default', 'up-1'));
    expect(original?.customMetadata).toEqual({ sha256: sha });
    expect(original?.httpMetadata?.contentType).toBe('image/png');
    expect(await settled('up-1')).toMatchObject({ state: 'indexed', content_sha256: sha, attempts: 1 });
  });

  it('takes multipart with metadata JSON and a caption, into the collection asked for', async () => {
    const response = await putForm(
      'up-2',
      { image: png('demo-0005'), metadata: JSON.stringify({ shop: 'a', price: 3 }), caption: '분홍색 원' },
      '?collection=shop',
    );
    expect(response.status).toBe(202);
    expect(await settled('up-2', 'shop')).toMatchObject({
      collection: 'shop',
      state: 'indexed',
      metadata: { shop: 'a', price: 3 },
      caption: '분홍색 원',
    });
    expect((await imageStatus('up-2')).status).toBe(404);
  });

  it('does not embed the same bytes again: only the metadata changes', async () => {
    await putRaw('up-3', png('demo-0013'));
    await settled('up-3');
    const embedded = standIn.items.length;
    await putForm('up-3', { image: png('demo-0013'), metadata: JSON.stringify({ v: 2 }) });
    await vi.waitFor(
      async () =>
        expect((await imageStatus('up-3')).body).toMatchObject({ state: 'indexed', metadata: { v: 2 } }),
      {
        timeout: 20_000,
        interval: 200,
      },
    );
    expect(standIn.items.length).toBe(embedded);
  });

  it('ends bytes the encoder cannot decode failed, with its reason', async () => {
    const fake = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
    expect((await putRaw('up-bad', fake)).status).toBe(202);
    expect(await settled('up-bad')).toMatchObject({ state: 'failed', error: { code: 'not_an_image' } });
  });

  it('refuses bad uploads with a 4xx envelope and changes nothing', async () => {
    const before = await stats();
    const cases: [() => Promise<Response>, number, string][] = [
      [() => putRaw('r1', new TextEncoder().encode('hello, not an image')), 422, 'unsupported_format'],
      [() => putRaw('r2', new Uint8Array()), 400, 'empty_image'],
      [() => putRaw('r3', png('demo-0001'), 'text/plain'), 415, 'unsupported_media_type'],
      [() => putRaw('r4', new Uint8Array(LIMITS.imageBytes + 1)), 413, 'image_too_large'],
      [() => putRaw('r5', new Uint8Array(LIMITS.bodyBytes + 1)), 413, 'payload_too_large'],
      [() => putRaw('x'.repeat(LIMITS.idChars + 1), png('demo-0001')), 400, 'invalid_param'],
      [() => putRaw('r6', png('demo-0001'), 'image/png', '?collection=Bad%20Name'), 400, 'invalid_query'],
      [() => putForm('r7', { metadata: '{}' }), 400, 'invalid_request'],
      [() => putForm('r8', { image: png('demo-0001'), metadata: '{not json' }), 400, 'invalid_request'],
      [() => putForm('r9', { image: png('demo-0001'), metadata: '{"a":{"b":1}}' }), 400, 'invalid_request'],
    ];
    for (const [send, status, code] of cases) {
      expect(await errorOf(await send()), code).toMatchObject({ status, code });
    }
    expect(await stats()).toEqual(before);
    expect(await env.IMAGES_BUCKET.head(imageObjectKey('default', 'r1'))).toBeNull();
  });
});

describe('GET and DELETE /v1/images/:id, GET /v1/index/stats', () => {
  it('GET answers 404 image_not_found for an unknown id, 404 unknown_model for an unknown model', async () => {
    expect(await errorOf(await admin('/v1/images/nobody'))).toMatchObject({
      status: 404,
      code: 'image_not_found',
    });
    const model = await admin('/v1/images/nobody?model=no-such-model');
    expect(await errorOf(model)).toMatchObject({ status: 404, code: 'unknown_model' });
  });

  it('DELETE removes the image at once and its original; a second DELETE is 404', async () => {
    await putRaw('del-1', png('demo-0005'), 'image/png', '?collection=del');
    await settled('del-1', 'del');
    const response = await admin('/v1/images/del-1?collection=del', { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 'del-1', collection: 'del', deleted: true });
    expect((await imageStatus('del-1', 'del')).status).toBe(404);
    expect(await env.IMAGES_BUCKET.head(imageObjectKey('del', 'del-1'))).toBeNull();
    const again = await admin('/v1/images/del-1?collection=del', { method: 'DELETE' });
    expect(await errorOf(again)).toMatchObject({ status: 404, code: 'image_not_found' });
  });

  it('stats count by state per collection; an unwritten collection has zeros', async () => {
    expect(await stats('never-written')).toMatchObject({
      collection: 'never-written',
      counts: { pending: 0, indexed: 0, failed: 0 },
      segments: 0,
      queue_lag_s: 0,
    });
    await putRaw('st-1', png('demo-0001'), 'image/png', '?collection=st');
    await putRaw('st-2', new Uint8Array([0xff, 0xd8, 0xff, 0, 0, 0]), 'image/jpeg', '?collection=st');
    await settled('st-1', 'st');
    await settled('st-2', 'st');
    expect(await stats('st')).toMatchObject({
      collection: 'st',
      counts: { pending: 0, indexed: 1, failed: 1 },
    });
  });
});
