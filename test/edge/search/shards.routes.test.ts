/**
 * /v1/search over search shards (src/edge/search/shards) on miniflare's real Durable Objects and
 * R2: the page equals the JS loop's (referencePage over every segment of the catalogue) page for
 * page, at one shard, at three, and at ten (two levels: group leaders), through every filter
 * operator, `min_score`, cursors, exact ties across shards and deletes; a split while the index
 * grows keeps read-your-writes; a shard made to fail or hang gives 503 `shards_unavailable`, or
 * with `allow_partial` a page marked partial with its missing share, never a short page
 * presented as complete.
 */
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { IndexKey } from '../../../src/core/contract/spaces';
import { type CatalogueView, IndexReader, writerFor } from '../../../src/edge/index';
import { shardsNeeded } from '../../../src/edge/index/shard-plan';
import { loadModel } from '../../../src/edge/inference/model-registry';
import { embedTexts } from '../../../src/edge/inference/text-tower';
import type { MetadataFilter } from '../../../src/edge/search/filter';
import { referencePage } from '../../../src/edge/search/reference-ranking';
import { shardName, shardStub } from '../../../src/edge/search/shards';
import { manifest, space, writeVectors } from '../support/search-fixtures';

const dim = manifest.projection_dim;
const COLOURS = ['red', 'blue', 'green', 'yellow'];
const TEXTS = ['빨간 원', '파란 사각형 두 개', '작은 노란 별'];

interface Body {
  results: { id: string; score: number }[];
  next_cursor: string | null;
  partial?: { missing_shards: number; missing_share: number };
  error?: { code: string };
}

/** Seeded unit vectors; every 10th row from 200 on repeats row i - 200 exactly (ties across shards). */
function makeItems(n: number, seed: number, prefix: string) {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const vectors: Float32Array[] = [];
  return Array.from({ length: n }, (_, i) => {
    let vector: Float32Array;
    if (i >= 200 && i % 10 === 0) vector = vectors[i - 200] as Float32Array;
    else {
      vector = Float32Array.from({ length: dim }, next);
      const norm = Math.hypot(...vector);
      for (let d = 0; d < dim; d++) vector[d] = (vector[d] as number) / norm;
    }
    vectors.push(vector);
    const metadata: Record<string, string | number | boolean | null> = { colour: COLOURS[i % 4] as string };
    if (i % 6 !== 0) metadata.count = i % 5;
    if (i % 3 !== 0) metadata.taken = `20${10 + (i % 12)}-0${1 + (i % 9)}-1${i % 10}`;
    metadata.flag = i % 7 === 0 ? null : i % 2 === 0;
    return { id: `${prefix}-${i}`, vector, metadata };
  });
}

type Item = ReturnType<typeof makeItems>[number];

/**
 * Writes through the index writer in chunks of 96 rows: whole 16-row segments, so that no two
 * under-full segments invite a compaction (5 s after a write) that would reorder the catalogue
 * between a search and its reference.
 */
async function upsert(index: IndexKey, items: Item[], sizes: { segment_rows: number; shard_rows: number }) {
  for (let i = 0; i < items.length; i += 96) await writeVectors(env, index, items.slice(i, i + 96), sizes);
}

async function remove(index: IndexKey, ids: string[]) {
  await writerFor(env, index).accept(
    { ...index, dim },
    ids.map((id) => ({ op: 'delete' as const, id })),
  );
}

async function search(collection: string, params: Record<string, string>) {
  const query = new URLSearchParams({ collection, ...params });
  const response = await exports.default.fetch(new Request(`http://worker.test/v1/search?${query}`));
  return {
    status: response.status,
    shards: Number(response.headers.get('x-koclip-shards')),
    path: response.headers.get('x-koclip-search-path'),
    body: (await response.json()) as Body,
  };
}

const queryVectors = new Map<string, Float32Array>();
async function queryVector(text: string): Promise<Float32Array> {
  let vector = queryVectors.get(text);
  if (!vector) {
    const model = await loadModel(env, manifest.id);
    vector = (await embedTexts(env, model, [text])).embeddings[0] as Float32Array;
    queryVectors.set(text, vector);
  }
  return vector;
}

interface Asked {
  k: number;
  offset: number;
  filter?: MetadataFilter;
  minScore?: number;
}

/** The JS loop's page over the catalogue's segments (those `keep` admits), read now. */
async function reference(index: IndexKey, text: string, asked: Asked, keep?: (shard: number) => boolean) {
  const reader = new IndexReader(env, index);
  const catalogue = (await reader.catalogue()) as CatalogueView;
  const refs = catalogue.segments.filter((s) => !keep || keep(s.shard));
  const segments = await reader.segments(catalogue, refs);
  const page = referencePage(segments, await queryVector(text), {
    ...asked,
    dead: refs.map((s) => new Set(s.dead)),
  });
  return page.hits.map((h) => ({ id: h.id, score: h.score }));
}

const pick = (body: Body) => body.results.map((h) => ({ id: h.id, score: h.score }));

const OPTIONS: { name: string; k: number; filter?: MetadataFilter; minScore?: number }[] = [
  { name: 'no filter', k: 10 },
  { name: '$eq', k: 25, filter: { colour: 'red' } },
  { name: '$in', k: 10, filter: { count: [1, 3] } },
  { name: '$ne', k: 10, filter: { count: { $ne: 2 } } },
  { name: '$nin', k: 10, filter: { colour: { $nin: ['red', 'blue'] } } },
  { name: 'number range', k: 10, filter: { count: { $gte: 2, $lt: 4 } } },
  { name: 'ISO date range', k: 10, filter: { taken: { $gt: '2014-01-01', $lte: '2019-12-31T00:00:00Z' } } },
  { name: 'boolean and null', k: 10, filter: { flag: true } },
  { name: 'null', k: 10, filter: { flag: null } },
  { name: 'min_score', k: 40, minScore: 0.02 },
  { name: 'k 100', k: 100 },
];

/** Every option's first three pages (through the cursors) equal the JS loop's pages. */
async function expectSamePages(index: IndexKey, shards: number) {
  for (const text of TEXTS) {
    for (const option of OPTIONS) {
      let cursor: string | null = null;
      for (let page = 0; page < 3; page++) {
        const got = await search(index.collection, {
          text,
          k: String(option.k),
          ...(option.filter ? { filter: JSON.stringify(option.filter) } : {}),
          ...(option.minScore === undefined ? {} : { min_score: String(option.minScore) }),
          ...(cursor ? { cursor } : {}),
        });
        expect(got.status, `${text} / ${option.name}: ${JSON.stringify(got.body)}`).toBe(200);
        expect(got.shards).toBe(shards);
        const want = await reference(index, text, {
          k: option.k,
          offset: page * option.k,
          ...(option.filter ? { filter: option.filter } : {}),
          ...(option.minScore === undefined ? {} : { minScore: option.minScore }),
        });
        expect(pick(got.body), `${text} / ${option.name} / page ${page + 1}`).toEqual(want);
        cursor = got.body.next_cursor;
        if (!cursor) break;
      }
    }
  }
}

async function shardsOf(index: IndexKey): Promise<Map<number, number>> {
  const catalogue = (await new IndexReader(env, index).catalogue()) as CatalogueView;
  const rows = new Map<number, number>();
  for (const s of catalogue.segments) rows.set(s.shard, (rows.get(s.shard) ?? 0) + s.count);
  return rows;
}

const indexOf = (collection: string): IndexKey => ({ collection, ...space });

describe('sharded search equals one exact search over the whole index', () => {
  for (const [shardRows, shards] of [
    [100_000, 1],
    [160, 3],
    [48, 10],
  ] as const) {
    it(`at ${shards} shard(s): every filter operator, min_score, ties, cursors, deletes`, async () => {
      const index = indexOf(`shards-${shards}`);
      const items = makeItems(480, 11, `s${shards}`);
      await upsert(index, items, { segment_rows: 16, shard_rows: shardRows });
      const placed = await shardsOf(index);
      expect(placed.size).toBe(shards);
      expect(shards).toBe(shardsNeeded(480, shardRows));
      for (const rows of placed.values()) expect(rows).toBeLessThanOrEqual(shardRows + 16);
      await expectSamePages(index, shards);

      // Deletes (some rows of every shard, and both rows of a tie) apply at once on every shard.
      const gone = items.filter((_, i) => i % 9 === 0 || i === 5 || i === 205).map((item) => item.id);
      await remove(index, gone);
      const after = await search(index.collection, { text: TEXTS[0] as string, k: '100' });
      expect(after.body.results.map((h) => h.id).filter((id) => gone.includes(id))).toEqual([]);
      await expectSamePages(index, shards);
    });
  }
});

describe('a growing index', () => {
  it('splits into more shards as it grows and sees every write at once (read-your-writes)', async () => {
    const index = indexOf('shards-growing');
    const sizes = { segment_rows: 16, shard_rows: 64 };
    const items = makeItems(256, 5, 'g');
    await upsert(index, items.slice(0, 48), sizes);
    expect((await shardsOf(index)).size).toBe(1);
    await expectSamePages(index, 1);

    await upsert(index, items.slice(48), sizes);
    const shards = (await shardsOf(index)).size;
    expect(shards).toBe(shardsNeeded(256, 64));
    await expectSamePages(index, shards);

    // An image written is found by the very next search; a deleted one is never returned.
    const text = TEXTS[1] as string;
    await upsert(index, [{ id: 'query-itself', vector: await queryVector(text), metadata: {} }], sizes);
    const found = await search(index.collection, { text, k: '5' });
    expect(found.body.results[0]?.id).toBe('query-itself');
    await remove(index, ['query-itself']);
    const after = await search(index.collection, { text, k: '5' });
    expect(after.body.results.map((h) => h.id)).not.toContain('query-itself');
    expect(pick(after.body)).toEqual(await reference(index, text, { k: 5, offset: 0 }));
  });
});

describe('a shard that does not answer', () => {
  it('fails the search with 503 shards_unavailable, or marks the page partial when asked', async () => {
    const index = indexOf('shards-fault');
    await upsert(index, makeItems(300, 3, 'f'), { segment_rows: 16, shard_rows: 100 });
    const placed = await shardsOf(index);
    expect(placed.size).toBe(3);
    const text = TEXTS[0] as string;
    const healthy = await search(index.collection, { text, k: '10' });
    expect(healthy.status).toBe(200);
    expect(healthy.body.partial).toBeUndefined();

    const stub = shardStub(env, shardName({ index }, 1));
    await stub.debugFault(60_000, 'error');
    const failed = await search(index.collection, { text, k: '10' });
    expect(failed.status).toBe(503);
    expect(failed.body.error?.code).toBe('shards_unavailable');

    const partial = await search(index.collection, { text, k: '10', allow_partial: 'true' });
    expect(partial.status).toBe(200);
    const total = [...placed.values()].reduce((a, b) => a + b, 0);
    expect(partial.body.partial).toEqual({
      missing_shards: 1,
      missing_share: Number(((placed.get(1) as number) / total).toFixed(4)),
    });
    expect(partial.body.next_cursor).toBeNull();
    // The page of the shards that answered, exactly.
    expect(pick(partial.body)).toEqual(await reference(index, text, { k: 10, offset: 0 }, (s) => s !== 1));

    await stub.debugFault(0);
    const again = await search(index.collection, { text, k: '10' });
    expect(again.status).toBe(200);
    expect(pick(again.body)).toEqual(pick(healthy.body));
  });

  it('replaces a group leader that hangs: only its own share is missing', async () => {
    const index = indexOf('shards-hang');
    await upsert(index, makeItems(480, 17, 'h'), { segment_rows: 16, shard_rows: 48 });
    const placed = await shardsOf(index);
    expect(placed.size).toBe(10);
    const text = TEXTS[2] as string;
    expect((await search(index.collection, { text, k: '10' })).status).toBe(200);
    // Ten shards in groups of two: shard 2 leads the second group.
    await shardStub(env, shardName({ index }, 2)).debugFault(13_000, 'hang');
    const partial = await search(index.collection, { text, k: '10', allow_partial: '1' });
    expect(partial.status, JSON.stringify(partial.body)).toBe(200);
    const total = [...placed.values()].reduce((a, b) => a + b, 0);
    expect(partial.body.partial).toEqual({
      missing_shards: 1,
      missing_share: Number(((placed.get(2) as number) / total).toFixed(4)),
    });
    expect(pick(partial.body)).toEqual(await reference(index, text, { k: 10, offset: 0 }, (s) => s !== 2));
  }, 60_000);
});
