/**
 * The collections API and the migration's steps on the real Durable Objects, queue and R2 of
 * miniflare: who may call it, bad input, the alias a read follows, and a migration driven step by
 * step (`step` at a chosen clock, the way the collection's alarm runs it) through copy, verify,
 * switch, rollback and retirement. The consumer's embedding is stood in by applying the old
 * index's vectors to the new one, so every step is visible; the whole path with the real encoder
 * is test/e2e/migration.e2e.test.ts.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import textInt8 from '../../../models/koclip-tiny/text-int8.onnx';
import tokenizerJson from '../../../models/koclip-tiny/tokenizer.json';
import type { Collection, Migration } from '../../../src/core/contract/collection-schemas';
import { sha256Hex } from '../../../src/core/hash';
import { parseManifest } from '../../../src/core/manifest';
import { type CollectionManager, collectionFor } from '../../../src/edge/collections';
import { step } from '../../../src/edge/collections/migration';
import { writerFor } from '../../../src/edge/index';
import { modelFileKey, modelManifestKey } from '../../../src/edge/inference/model-registry';
import { ADMIN, admin, call, errorOf } from '../support/ingest-fixtures';
import { demo, seedDemo } from '../support/search-fixtures';

const tiny = parseManifest(manifestJson);
const OTHER = 'koclip-tiny-other';
const _space = (model: string) => ({ model, version: tiny.version, dim: tiny.projection_dim });

beforeAll(async () => {
  const tokenizerBytes = new TextEncoder().encode(JSON.stringify(tokenizerJson));
  const manifest = structuredClone(tiny);
  manifest.id = OTHER;
  manifest.files['tokenizer.json'] = {
    sha256: await sha256Hex(tokenizerBytes),
    bytes: tokenizerBytes.length,
  };
  await env.MODELS_BUCKET.put(modelManifestKey(OTHER), JSON.stringify(manifest));
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'tokenizer.json'), tokenizerBytes);
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'text-int8.onnx'), textInt8);
});

const json = (body: unknown) => ({
  method: 'POST',
  headers: { ...ADMIN, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** Indexes demo items `0..n` in `collection` under `model` (accept and apply, no queue). */
async function indexed(collection: string, model: string, n: number) {
  await seedDemo(env, { model, collection, count: n });
}

/** Pending records of an index with their seqs (what the consumer's messages would carry). */
function pendingOf(collection: string, model: string) {
  const writer = writerFor(env, { collection, model, version: tiny.version });
  return runInDurableObject(
    writer,
    (instance: {
      catalogueStore: { duePending(now: number, limit: number): { id: string; seq: number }[] };
    }) =>
      instance.catalogueStore.duePending(Number.MAX_SAFE_INTEGER, 500).map((r) => ({ id: r.id, seq: r.seq })),
  );
}

/** The consumer's part, stood in: every pending image of the new index gets its demo vector. */
async function embedPending(collection: string, model: string) {
  const writer = writerFor(env, { collection, model, version: tiny.version });
  const pending = await pendingOf(collection, model);
  await writer.apply(
    pending.map(({ id, seq }) => {
      const item = demo.items.find((d) => d.id === id);
      return item
        ? { id, seq, vector: Array.from(item.vector), content_sha256: 'b'.repeat(64) }
        : { id, seq, error: { code: 'not_an_image', message: 'not an image' } };
    }),
  );
}

/** Runs the collection's migration step at `now` (the alarm's clock). */
function stepAt(collection: string, now: number) {
  return runInDurableObject(collectionFor(env, collection), async (instance: CollectionManager) => {
    const active = (await instance.routing()).migration;
    if (!active) return null;
    return step(instance, env, collection, active, now);
  });
}

describe('collections API: access and bad input', () => {
  it('needs the admin token on every route', async () => {
    for (const [method, path] of [
      ['GET', '/v1/collections/c1'],
      ['PUT', '/v1/collections/c1'],
      ['POST', '/v1/collections/c1/migrations'],
      ['GET', '/v1/collections/c1/migrations/m1-00000000'],
      ['POST', '/v1/collections/c1/migrations/m1-00000000/rollback'],
    ] as const) {
      const response = await call(path, { method });
      expect(response.status, `${method} ${path}`).toBe(401);
    }
  });

  it('refuses a bad collection name, body or migration id (400), an unknown model (404)', async () => {
    expect((await errorOf(await admin('/v1/collections/Bad Name'))).status).toBe(400);
    expect((await errorOf(await admin('/v1/collections/c1/migrations', json({ to: 'Nope!' })))).status).toBe(
      400,
    );
    expect(
      (await errorOf(await admin('/v1/collections/c1/migrations', json({ to: 'x', extra: 1 })))).status,
    ).toBe(400);
    expect((await errorOf(await admin('/v1/collections/c1/migrations/../x'))).status).toBeGreaterThanOrEqual(
      400,
    );
    expect(await errorOf(await admin('/v1/collections/c1/migrations/not-an-id'))).toMatchObject({
      status: 400,
    });
    expect(
      await errorOf(await admin('/v1/collections/c1/migrations', json({ to: 'no-such-model' }))),
    ).toMatchObject({
      status: 404,
      code: 'unknown_model',
    });
    expect(
      await errorOf(
        await admin('/v1/collections/c1', { ...json({ model: 'no-such-model' }), method: 'PUT' }),
      ),
    ).toMatchObject({ status: 404, code: 'unknown_model' });
    expect(await errorOf(await admin('/v1/collections/c1/migrations/m1-00000000'))).toMatchObject({
      status: 404,
      code: 'migration_not_found',
    });
    expect(await errorOf(await admin('/v1/collections/c1/migrations', json({ to: tiny.id })))).toMatchObject({
      status: 409,
      code: 'same_model',
    });
  });
});

describe('a collection pinned to a model', () => {
  it('reads and writes the pinned model when a request names none', async () => {
    const before = (await (await admin('/v1/collections/pinned')).json()) as Collection;
    expect(before).toEqual({ collection: 'pinned', model: tiny.id, pinned: false, migration: null });
    await indexed('pinned', OTHER, 3);
    const put = await admin('/v1/collections/pinned', { ...json({ model: OTHER }), method: 'PUT' });
    expect(put.status).toBe(200);
    expect(((await put.json()) as Collection).model).toBe(OTHER);
    const stats = await admin('/v1/index/stats?collection=pinned');
    expect((await stats.json()) as { model: string; counts: { indexed: number } }).toMatchObject({
      model: OTHER,
      counts: { indexed: 3 },
    });
    const search = await call(`/v1/search?q=${encodeURIComponent('빨간 원')}&collection=pinned&k=2`);
    expect(((await search.json()) as { model: string }).model).toBe(OTHER);
    // An explicit model still reads that model's index.
    const explicit = await call(`/v1/search?q=x&collection=pinned&model=${tiny.id}`);
    expect(await errorOf(explicit)).toMatchObject({ status: 404, code: 'index_empty' });
  });
});

describe('a migration, step by step', () => {
  it('copies, verifies, switches in one step, rolls back, and refuses what its state forbids', async () => {
    const c = 'moving';
    await indexed(c, tiny.id, 6);
    const start = await admin(`/v1/collections/${c}/migrations`, json({ to: OTHER }));
    const started = (await start.json()) as Migration;
    expect(start.status, JSON.stringify(started)).toBe(202);
    expect(started).toMatchObject({
      state: 'copying',
      total: 6,
      copied: 0,
      from: { model: tiny.id },
      to: { model: OTHER },
    });
    expect((await errorOf(await admin(`/v1/collections/${c}/migrations`, json({ to: OTHER })))).code).toBe(
      'migration_running',
    );
    expect(
      (await errorOf(await admin(`/v1/collections/${c}`, { ...json({ model: OTHER }), method: 'PUT' }))).code,
    ).toBe('migration_running');
    expect(
      (await errorOf(await admin(`/v1/collections/${c}/migrations/${started.id}/rollback`, json({})))).code,
    ).toBe('rollback_closed');
    const t0 = Date.parse(started.started_at);
    // The first step empties the new index; before the settle time nothing is copied; then a page is.
    expect(await stepAt(c, t0)).toEqual({ nextAt: expect.any(Number) });
    expect(await stepAt(c, t0)).toEqual({ nextAt: expect.any(Number) });
    expect(
      ((await (await admin(`/v1/collections/${c}/migrations/${started.id}`)).json()) as Migration).copied,
    ).toBe(0);
    await stepAt(c, t0 + 60_000);
    // A write during the migration goes to both indexes; a delete too (and the copy never brings it back).
    const upsert = await call('/v1/images/late-1?collection=moving', {
      method: 'PUT',
      headers: { ...ADMIN, 'content-type': 'image/png' },
      body: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]),
    });
    expect(upsert.status).toBe(202);
    const first = demo.items[0]?.id as string;
    expect((await admin(`/v1/images/${first}?collection=moving`, { method: 'DELETE' })).status).toBe(200);
    let progress = (await (await admin(`/v1/collections/${c}/migrations/${started.id}`)).json()) as Migration;
    expect(progress.copied).toBe(6);
    // Reads stay on the old model while copying.
    const collection = (await (await admin(`/v1/collections/${c}`)).json()) as Collection;
    expect(collection).toMatchObject({ model: tiny.id, migration: { id: started.id, state: 'copying' } });

    // Verify waits for the copies to settle, then switches.
    expect((await stepAt(c, t0 + 61_000))?.nextAt).toBeGreaterThan(0);
    await embedPending(c, OTHER);
    const other = writerFor(env, { collection: c, model: OTHER, version: tiny.version });
    for (
      let k = 0;
      k < 6 && ((await (await admin(`/v1/collections/${c}`)).json()) as Collection).model === tiny.id;
      k++
    ) {
      await stepAt(c, t0 + 62_000 + k * 1000);
    }
    progress = (await (await admin(`/v1/collections/${c}/migrations/${started.id}`)).json()) as Migration;
    expect(progress).toMatchObject({ state: 'switched', indexed: 5, failed: 1, pending: 0 });
    expect(progress.failures).toEqual([{ id: 'late-1', code: 'not_an_image', message: 'not an image' }]);
    expect(Date.parse(progress.rollback_until ?? '') - Date.parse(progress.switched_at ?? '')).toBe(
      86_400_000,
    );
    expect(await other.record(first)).toBeNull();
    const search = await call(`/v1/search?q=${encodeURIComponent('빨간 원')}&collection=${c}&k=10`);
    const page = (await search.json()) as { model: string; results: { id: string }[] };
    expect(page.model).toBe(OTHER);
    expect(page.results.map((r) => r.id)).not.toContain(first);

    // Rollback within the period: reads return to the old model; then it is closed.
    const rolled = await admin(`/v1/collections/${c}/migrations/${started.id}/rollback`, json({}));
    expect(rolled.status).toBe(200);
    expect(((await rolled.json()) as Migration).state).toBe('rolled_back');
    expect((await (await admin(`/v1/collections/${c}`)).json()) as Collection).toMatchObject({
      model: tiny.id,
      pinned: true,
      migration: null,
    });
    expect(
      (await errorOf(await admin(`/v1/collections/${c}/migrations/${started.id}/rollback`, json({})))).code,
    ).toBe('rollback_closed');
  });

  it('deletes the old index when the rollback period ends', async () => {
    const c = 'retiring';
    await indexed(c, tiny.id, 2);
    const started = (await (
      await admin(`/v1/collections/${c}/migrations`, json({ to: OTHER }))
    ).json()) as Migration;
    const t0 = Date.parse(started.started_at);
    await stepAt(c, t0);
    await stepAt(c, t0 + 60_000);
    await embedPending(c, OTHER);
    for (let k = 0; k < 4; k++) await stepAt(c, t0 + 61_000 + k * 1000);
    const switched = (await (
      await admin(`/v1/collections/${c}/migrations/${started.id}`)
    ).json()) as Migration;
    expect(switched.state).toBe('switched');
    const until = Date.parse(switched.rollback_until ?? '');
    expect(await stepAt(c, until - 1000)).toEqual({ nextAt: until });
    expect(await stepAt(c, until + 1000)).toEqual({ nextAt: null });
    const retired = (await (
      await admin(`/v1/collections/${c}/migrations/${started.id}`)
    ).json()) as Migration;
    expect(retired.state).toBe('retired');
    const old = writerFor(env, { collection: c, model: tiny.id, version: tiny.version });
    expect(await old.stats()).toBeNull();
    expect((await env.INDEX_BUCKET.list({ prefix: `index/v2/${c}/${tiny.id}/` })).objects).toEqual([]);
    expect(
      (await errorOf(await admin(`/v1/collections/${c}/migrations/${started.id}/rollback`, json({})))).code,
    ).toBe('rollback_closed');
  });

  it('starts a new migration from an empty new index: what a rolled-back one left there is stale', async () => {
    const c = 'again';
    await indexed(c, tiny.id, 3);
    const run = async () => {
      const m = (await (
        await admin(`/v1/collections/${c}/migrations`, json({ to: OTHER }))
      ).json()) as Migration;
      const t0 = Date.parse(m.started_at);
      await stepAt(c, t0);
      await stepAt(c, t0 + 60_000);
      await embedPending(c, OTHER);
      for (let k = 0; k < 4; k++) await stepAt(c, t0 + 61_000 + k * 1000);
      return m;
    };
    const first = await run();
    expect((await await admin(`/v1/collections/${c}/migrations/${first.id}/rollback`, json({}))).status).toBe(
      200,
    );
    // Back on the old model alone: a delete reaches only its index.
    const gone = demo.items[1]?.id as string;
    expect((await admin(`/v1/images/${gone}?collection=${c}`, { method: 'DELETE' })).status).toBe(200);
    const other = writerFor(env, { collection: c, model: OTHER, version: tiny.version });
    expect((await other.record(gone))?.state).toBe('indexed');
    const second = await run();
    expect(
      (await (await admin(`/v1/collections/${c}/migrations/${second.id}`)).json()) as Migration,
    ).toMatchObject({
      state: 'switched',
      indexed: 2,
    });
    expect(await other.record(gone)).toBeNull();
  });
});
