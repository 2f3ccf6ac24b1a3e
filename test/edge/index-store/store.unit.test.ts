import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { cosine } from '../../../src/core/vector';
import {
  catalogueKey,
  recordKey,
  STORAGE_KEY_VERSION,
  scoreCacheKvKey,
  scoreCacheUrl,
  segmentObjectKey,
} from '../../../src/edge/index-store/keys';
import { clearSegmentCache, segmentCacheStats } from '../../../src/edge/index-store/segment-cache';
import { IndexCorruptError, IndexStore } from '../../../src/edge/index-store/store';
import { demo, manifest, space } from '../support/search-fixtures';

// Storage persists across the tests of a run, so every test works in an embedding space of its own.
let spaceCount = 0;
function freshStore(): IndexStore {
  return new IndexStore(
    { bucket: env.INDEX_BUCKET, kv: env.INDEX_KV },
    { model: 'store-test', version: `v${Date.now()}-${spaceCount++}` },
  );
}
const dim = manifest.projection_dim;

beforeEach(() => clearSegmentCache());

describe('storage keys', () => {
  it('all carry the key version, the model id and the model version', () => {
    const keys = [
      catalogueKey(space),
      recordKey(space, 'demo-0001'),
      segmentObjectKey(space, 'g1-s0'),
      scoreCacheKvKey(space, 'abc'),
      scoreCacheUrl(space, 'abc'),
    ];
    for (const key of keys) {
      expect(key).toContain(STORAGE_KEY_VERSION);
      expect(key).toContain(space.model);
      expect(key).toContain(encodeURIComponent(space.version));
    }
  });
  it('escape ids so that no id can reach into another space', () => {
    expect(recordKey(space, 'a:b/c')).toMatch(/record:a%3Ab%2Fc$/);
    expect(recordKey({ model: 'm', version: '1' }, 'x')).not.toBe(
      recordKey({ model: 'm', version: '2' }, 'x'),
    );
  });
});

describe('IndexStore with the real local R2 and KV', () => {
  it('has no index before anything is written', async () => {
    const store = freshStore();
    expect(await store.load()).toBeNull();
    expect(await store.vector('demo-0001')).toBeNull();
  });

  it('writes the demo set in segments and reads every vector back', async () => {
    const store = freshStore();
    const catalogue = await store.replace(demo.items, { dim, segmentSize: 128 });
    expect(catalogue).toMatchObject({
      ...store.space,
      dim,
      encoding: 'fp16',
      generation: 1,
      count: 300,
      retired: [],
    });
    expect(catalogue.segments.map((s) => s.count)).toEqual([128, 128, 44]);
    const loaded = await store.load();
    expect(loaded?.segments.map((s) => s.count)).toEqual([128, 128, 44]);
    for (const row of [0, 150, 299]) {
      const item = demo.items[row];
      const stored = await store.vector(item?.id as string);
      expect(stored?.record).toMatchObject({
        id: item?.id,
        metadata: item?.metadata,
        caption: item?.caption,
      });
      expect(cosine(stored?.vector as Float32Array, item?.vector as Float32Array)).toBeGreaterThan(0.99999);
    }
    const objects = await env.INDEX_BUCKET.list({
      prefix: `index/${STORAGE_KEY_VERSION}/store-test/${store.space.version}/`,
    });
    expect(objects.objects.map((o) => o.key).sort()).toEqual(catalogue.segments.map((s) => s.key).sort());
  });

  it('serves segments from the isolate cache after the first load', async () => {
    const store = freshStore();
    await store.replace(demo.items, { dim, segmentSize: 100 });
    await store.load();
    expect(segmentCacheStats()).toMatchObject({ misses: 3, hits: 0, entries: 3 });
    await store.load();
    expect(segmentCacheStats()).toMatchObject({ misses: 3, hits: 3 });
  });

  it('replaces the index: new generation, stale records removed, old segments deleted a generation late', async () => {
    const store = freshStore();
    const first = await store.replace(demo.items, { dim, segmentSize: 100 });
    const second = await store.replace(demo.items.slice(0, 10), { dim, encoding: 'int8' });
    expect(second).toMatchObject({ generation: 2, count: 10, encoding: 'int8', retired: first.segments });
    const prefix = `index/${STORAGE_KEY_VERSION}/store-test/${store.space.version}/`;
    const keys = async () => (await env.INDEX_BUCKET.list({ prefix })).objects.map((o) => o.key).sort();
    expect(await keys()).toEqual([...first.segments, ...second.segments].map((s) => s.key).sort());
    expect(await store.record('demo-0009')).not.toBeNull();
    expect(await store.record('demo-0010')).toBeNull();
    expect((await store.load())?.segments[0]?.ids).toHaveLength(10);
    const third = await store.replace(demo.items.slice(0, 5), { dim });
    expect(await keys()).toEqual([...second.segments, ...third.segments].map((s) => s.key).sort());
  });

  it('finds a vector whose record was written by a later generation', async () => {
    const store = freshStore();
    await store.replace(demo.items.slice(0, 20), { dim });
    const record = await store.record('demo-0005');
    // A concurrent write left the record pointing at a segment this catalogue does not list.
    await env.INDEX_KV.put(
      recordKey(store.space, 'demo-0005'),
      JSON.stringify({ ...record, segment: 'g9-s0', generation: 9 }),
    );
    const found = await store.vector('demo-0005');
    expect(found?.record).toMatchObject({ id: 'demo-0005', row: 5, generation: 1 });
    expect(cosine(found?.vector as Float32Array, demo.items[5]?.vector as Float32Array)).toBeGreaterThan(
      0.9999,
    );
  });

  it('refuses ids too long for a KV key, and finds none by such an id', async () => {
    const store = freshStore();
    const long = '가'.repeat(200);
    await expect(
      store.replace([{ id: long, vector: demo.items[0]?.vector as Float32Array }], { dim }),
    ).rejects.toThrow(/too long/);
    expect(await store.record(long)).toBeNull();
  });

  it('keeps two embedding spaces apart', async () => {
    const a = freshStore();
    const b = new IndexStore(
      { bucket: env.INDEX_BUCKET, kv: env.INDEX_KV },
      { model: a.space.model, version: `${a.space.version}-other` },
    );
    await a.replace(demo.items, { dim });
    expect(await b.load()).toBeNull();
    await b.replace(demo.items.slice(0, 3), { dim });
    expect((await b.load())?.catalogue.count).toBe(3);
    expect((await a.load())?.catalogue.count).toBe(300);
    expect(await b.record('demo-0100')).toBeNull();
    expect(await b.vector('demo-0100')).toBeNull();
  });

  it('reports a corrupted or missing segment as IndexCorruptError', async () => {
    const store = freshStore();
    const catalogue = await store.replace(demo.items, { dim, segmentSize: 200 });
    const key = catalogue.segments[1]?.key as string;
    const bytes = new Uint8Array(await ((await env.INDEX_BUCKET.get(key)) as R2ObjectBody).arrayBuffer());
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0xff;
    await env.INDEX_BUCKET.put(key, bytes);
    await expect(store.load()).rejects.toThrow(/checksum/);
    await env.INDEX_BUCKET.delete(key);
    await expect(store.load()).rejects.toBeInstanceOf(IndexCorruptError);
  });

  it('reports an invalid catalogue as IndexCorruptError', async () => {
    const store = freshStore();
    await env.INDEX_KV.put(
      catalogueKey(store.space),
      JSON.stringify({ schema: 1, model: store.space.model }),
    );
    await expect(store.load()).rejects.toBeInstanceOf(IndexCorruptError);
  });
});
