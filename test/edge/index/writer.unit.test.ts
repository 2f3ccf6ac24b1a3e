import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { textTowerIdentity } from '../../../src/core/manifest';
import { cosine } from '../../../src/core/vector';
import {
  IndexCorruptError,
  IndexReader,
  type IndexWriter,
  type WriterEvent,
  writerFor,
} from '../../../src/edge/index';
import { clearSegmentCache, segmentCacheStats } from '../../../src/edge/index/segment-cache';
import {
  imageObjectKey,
  indexObjectPrefix,
  STORAGE_KEY_VERSION,
  scoreCacheKvKey,
  scoreCacheUrl,
  segmentObjectKey,
  writerName,
} from '../../../src/edge/storage-keys';
import { demo, manifest } from '../support/search-fixtures';

// Storage persists across the tests of a file, so every test writes an index of its own.
let indexCount = 0;
function freshIndex() {
  const index = { collection: `c${indexCount++}`, model: 'writer-test', version: `v${Date.now()}` };
  return { index, writer: writerFor(env, index), reader: new IndexReader(env, index) };
}
const dim = manifest.projection_dim;
const upsert = (i: number, metadata = demo.items[i]?.metadata ?? {}): WriterEvent => ({
  op: 'upsert',
  id: demo.items[i]?.id as string,
  source: { r2_key: `test/${i}` },
  metadata,
});
const vectorOf = (i: number) => Array.from(demo.items[i]?.vector as Float32Array);

/** Accepts and applies the demo items `from..to` in one call each. */
async function indexDemo(w: ReturnType<typeof freshIndex>, from: number, to: number, segmentRows?: number) {
  const rows = Array.from({ length: to - from }, (_, k) => from + k);
  const accepted = await w.writer.accept(
    { ...w.index, dim, ...(segmentRows ? { segment_rows: segmentRows } : {}) },
    rows.map((i) => upsert(i)),
  );
  return w.writer.apply(
    accepted.map((a, k) => ({
      id: a.id,
      seq: a.seq,
      vector: vectorOf(rows[k] as number),
      content_sha256: `sha-${rows[k]}`,
    })),
  );
}

beforeEach(() => clearSegmentCache());

describe('storage keys', () => {
  const index = { collection: 'default', model: manifest.id, version: manifest.version };
  it('all carry the key version, the model id and the model version; index keys the collection', () => {
    for (const key of [writerName(index), segmentObjectKey(index, 's1'), indexObjectPrefix(index)]) {
      expect(key).toContain(STORAGE_KEY_VERSION);
      expect(key).toContain(index.model);
      expect(key).toContain(encodeURIComponent(index.version));
      expect(key).toContain(index.collection);
    }
    const tower = { ...index, tower: textTowerIdentity(manifest) };
    for (const key of [scoreCacheKvKey(tower, 'abc'), scoreCacheUrl(tower, 'abc')]) {
      expect(key).toContain(STORAGE_KEY_VERSION);
      expect(key).toContain(index.model);
    }
    expect(imageObjectKey('default', 'a')).toContain(STORAGE_KEY_VERSION);
  });
  it('escape names so that no id or collection can reach into another index', () => {
    expect(imageObjectKey('c', 'a/../b')).toMatch(/c\/a%2F\.\.%2Fb$/);
    expect(writerName({ ...index, collection: 'a:b' })).not.toBe(writerName({ ...index, collection: 'a' }));
    expect(segmentObjectKey({ ...index, version: '1' }, 'x')).not.toBe(
      segmentObjectKey({ ...index, version: '2' }, 'x'),
    );
  });
});

describe('the index writer with the real local Durable Object and R2', () => {
  it('has no index before anything is written', async () => {
    const w = freshIndex();
    expect(await w.reader.load()).toBeNull();
    expect(await w.reader.vector('demo-0001')).toBeNull();
    expect(await w.writer.stats()).toBeNull();
  });

  it('writes the demo set in segments and reads every vector back', async () => {
    const w = freshIndex();
    // Three applies of at most 128 rows each: three segments.
    for (const [from, to] of [
      [0, 128],
      [128, 256],
      [256, 300],
    ] as const)
      await indexDemo(w, from, to, 128);
    const loaded = await w.reader.load();
    expect(loaded?.catalogue).toMatchObject({ ...w.index, dim, encoding: 'fp16', generation: 3, count: 300 });
    expect(loaded?.segments.map((s) => s.count)).toEqual([128, 128, 44]);
    for (const row of [0, 150, 299]) {
      const item = demo.items[row];
      const stored = await w.reader.vector(item?.id as string);
      expect(stored?.record).toMatchObject({ id: item?.id, state: 'indexed', metadata: item?.metadata });
      expect(cosine(stored?.vector as Float32Array, item?.vector as Float32Array)).toBeGreaterThan(0.99999);
    }
    const objects = await env.INDEX_BUCKET.list({ prefix: indexObjectPrefix(w.index) });
    expect(objects.objects.map((o) => o.key).sort()).toEqual(
      loaded?.catalogue.segments.map((s) => s.key).sort(),
    );
  });

  it('serves segments from the isolate cache after the first load', async () => {
    const w = freshIndex();
    for (const [from, to] of [
      [0, 100],
      [100, 200],
      [200, 300],
    ] as const)
      await indexDemo(w, from, to);
    clearSegmentCache();
    await w.reader.load();
    expect(segmentCacheStats()).toMatchObject({ misses: 3, hits: 0, entries: 3 });
    await w.reader.load();
    expect(segmentCacheStats()).toMatchObject({ misses: 3, hits: 3 });
  });

  it('applies upserts and deletes in arrival order; an older result never overwrites a newer event', async () => {
    const w = freshIndex();
    await indexDemo(w, 0, 10);
    const [older] = await w.writer.accept({ ...w.index, dim }, [upsert(3, { v: 1 })]);
    const [newer] = await w.writer.accept({ ...w.index, dim }, [upsert(3, { v: 2 })]);
    expect((newer?.seq ?? 0) > (older?.seq ?? 0)).toBe(true);
    expect(await w.writer.plan([{ id: 'demo-0003', seq: older?.seq as number }])).toEqual([
      { id: 'demo-0003', seq: older?.seq, action: 'stale' },
    ]);
    // The newer result arrives first, then the older one: the newer metadata stays.
    await w.writer.apply([
      { id: 'demo-0003', seq: newer?.seq as number, vector: vectorOf(4), content_sha256: 'b' },
    ]);
    const late = await w.writer.apply([
      { id: 'demo-0003', seq: older?.seq as number, vector: vectorOf(3), content_sha256: 'a' },
    ]);
    expect(late).toEqual({ applied: 0, stale: 1, failed: 0 });
    const found = await w.reader.vector('demo-0003');
    expect(found?.record).toMatchObject({ state: 'indexed', metadata: { v: 2 }, content_sha256: 'b' });
    expect(cosine(found?.vector as Float32Array, demo.items[4]?.vector as Float32Array)).toBeGreaterThan(
      0.9999,
    );
    // A delete is applied when accepted: the image leaves the catalogue at once.
    await w.writer.accept({ ...w.index, dim }, [{ op: 'delete', id: 'demo-0005' }]);
    expect(await w.writer.record('demo-0005')).toBeNull();
    const loaded = await w.reader.load();
    expect(loaded?.catalogue.count).toBe(9);
    const live = loaded?.segments.flatMap((s, i) => s.ids.filter((_, row) => !loaded.dead[i]?.has(row)));
    expect(live?.filter((id) => id === 'demo-0003')).toHaveLength(1);
    expect(live).not.toContain('demo-0005');
  });

  it('reuses the stored vector for the same bytes and takes the new metadata', async () => {
    const w = freshIndex();
    await indexDemo(w, 0, 5);
    const event = { ...upsert(2, { colour: 'changed' }), content_sha256: 'sha-2' } as WriterEvent;
    const [accepted] = await w.writer.accept({ ...w.index, dim }, [event]);
    const [plan] = await w.writer.plan([{ id: 'demo-0002', seq: accepted?.seq as number }]);
    expect(plan?.action).toBe('reuse');
    await w.writer.apply([
      { id: 'demo-0002', seq: accepted?.seq as number, reuse: true, content_sha256: 'sha-2' },
    ]);
    const found = await w.reader.vector('demo-0002');
    expect(found?.record).toMatchObject({ state: 'indexed', metadata: { colour: 'changed' }, attempts: 1 });
    expect(cosine(found?.vector as Float32Array, demo.items[2]?.vector as Float32Array)).toBeGreaterThan(
      0.9999,
    );
  });

  it('ends a permanent failure failed with its reason, and the old vector leaves the index', async () => {
    const w = freshIndex();
    await indexDemo(w, 0, 3);
    const [accepted] = await w.writer.accept({ ...w.index, dim }, [upsert(1)]);
    const error = { code: 'not_an_image', message: 'not a PNG, JPEG, GIF or WebP' };
    expect(await w.writer.apply([{ id: 'demo-0001', seq: accepted?.seq as number, error }])).toEqual({
      applied: 0,
      stale: 0,
      failed: 1,
    });
    expect(await w.writer.record('demo-0001')).toMatchObject({ state: 'failed', error });
    expect((await w.reader.load())?.catalogue.count).toBe(2);
    expect(await w.writer.stats()).toMatchObject({ counts: { indexed: 2, failed: 1, pending: 0 } });
  });

  it('compacts small segments into one and retires the old ones after the grace period', async () => {
    const w = freshIndex();
    for (let i = 0; i < 10; i++) await indexDemo(w, i * 10, i * 10 + 10);
    await w.writer.accept({ ...w.index, dim }, [{ op: 'delete', id: 'demo-0004' }]);
    const before = await w.reader.load();
    expect(before?.segments).toHaveLength(10);
    expect(await runDurableObjectAlarm(w.writer)).toBe(true);
    const after = await w.reader.load();
    expect(after?.segments).toHaveLength(1);
    expect(after?.catalogue.count).toBe(99);
    expect(after?.segments[0]?.ids).not.toContain('demo-0004');
    expect(after?.catalogue.generation).toBeGreaterThan(before?.catalogue.generation as number);
    for (const id of ['demo-0000', 'demo-0055', 'demo-0099']) {
      const found = await w.reader.vector(id);
      const item = demo.items.find((d) => d.id === id);
      expect(cosine(found?.vector as Float32Array, item?.vector as Float32Array)).toBeGreaterThan(0.9999);
    }
    // The retired segments stay in R2 for readers that still hold the older catalogue.
    const objects = await env.INDEX_BUCKET.list({ prefix: indexObjectPrefix(w.index) });
    expect(objects.objects).toHaveLength(11);
    expect(await w.writer.stats()).toMatchObject({ segments: 1, retired_segments: 10 });
  });

  it('keeps two indexes apart (collections and model versions)', async () => {
    const a = freshIndex();
    const b = { ...a, index: { ...a.index, collection: `${a.index.collection}-other` } };
    b.writer = writerFor(env, b.index);
    b.reader = new IndexReader(env, b.index);
    await indexDemo(a, 0, 300);
    expect(await b.reader.load()).toBeNull();
    await indexDemo(b, 0, 3);
    expect((await b.reader.load())?.catalogue.count).toBe(3);
    expect((await a.reader.load())?.catalogue.count).toBe(300);
    expect(await b.reader.vector('demo-0100')).toBeNull();
    // A writer refuses to be used for another index than its own (inside the object: no RPC rejection).
    await runInDurableObject(b.writer, (instance: IndexWriter) => {
      expect(() => instance.catalogueStore.init({ ...a.index, dim })).toThrow(/was called for/);
    });
  });

  it('reports a corrupted or missing segment as IndexCorruptError', async () => {
    const w = freshIndex();
    await indexDemo(w, 0, 200);
    await indexDemo(w, 200, 300);
    const key = (await w.reader.catalogue())?.segments[1]?.key as string;
    const bytes = new Uint8Array(await ((await env.INDEX_BUCKET.get(key)) as R2ObjectBody).arrayBuffer());
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0xff;
    await env.INDEX_BUCKET.put(key, bytes);
    clearSegmentCache();
    await expect(w.reader.load()).rejects.toThrow(/checksum/);
    await env.INDEX_BUCKET.delete(key);
    await expect(w.reader.load()).rejects.toBeInstanceOf(IndexCorruptError);
  });
});
