/**
 * The writer places segments on search shards (src/edge/index/shard-plan.ts) and its catalogue
 * says where: shards added as the index grows, given back as it shrinks, and an index written
 * before shards (every segment on shard 0) placed when its writer starts.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { type CatalogueView, IndexReader, IndexWriter, writerFor } from '../../../src/edge/index';
import { shardsNeeded } from '../../../src/edge/index/shard-plan';
import { demo, manifest, writeVectors } from '../support/search-fixtures';

const dim = manifest.projection_dim;
const SIZES = { segment_rows: 10, shard_rows: 30 };

async function write(collection: string, count: number) {
  const index = { collection, model: 'shard-test', version: `v${Date.now()}` };
  const items = demo.items
    .slice(0, count)
    .map((item) => ({ id: item.id, vector: item.vector as Float32Array }));
  await writeVectors(env, index, items, SIZES);
  return { index, writer: writerFor(env, index), items };
}

function loads(catalogue: CatalogueView): Map<number, number> {
  const rows = new Map<number, number>();
  for (const s of catalogue.segments) rows.set(s.shard, (rows.get(s.shard) ?? 0) + s.count);
  return rows;
}

describe('search shards in the writer catalogue', () => {
  it('adds shards as the index grows and gives them back as it shrinks', async () => {
    const { index, writer, items } = await write('grow-shrink', 120);
    const grown = (await new IndexReader(env, index).catalogue()) as CatalogueView;
    expect(grown.segments).toHaveLength(12);
    const placed = loads(grown);
    expect([...placed.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const rows of placed.values())
      expect(rows).toBeLessThanOrEqual(SIZES.shard_rows + SIZES.segment_rows);

    // Deleting the first 90 images retires their 9 segments: 30 rows left need one shard.
    await writer.accept(
      { ...index, dim },
      items.slice(0, 90).map((item) => ({ op: 'delete' as const, id: item.id })),
    );
    const shrunk = (await new IndexReader(env, index).catalogue()) as CatalogueView;
    expect(shrunk.segments).toHaveLength(3);
    expect([...loads(shrunk).keys()]).toEqual([0]);
  });

  it('places an index written before shards (all on shard 0) when its writer starts', async () => {
    const { index, writer } = await write('legacy', 100);
    const before = (await new IndexReader(env, index).catalogue()) as CatalogueView;
    await runInDurableObject(writer, (_, state) => {
      // What schema migration 4 leaves of an older index.
      state.storage.sql.exec('UPDATE segments SET shard = 0');
      new IndexWriter(state, env);
    });
    const after = (await new IndexReader(env, index).catalogue()) as CatalogueView;
    expect(after.generation).toBe(before.generation + 1);
    const placed = loads(after);
    expect(placed.size).toBe(shardsNeeded(100, SIZES.shard_rows));
    for (const rows of placed.values())
      expect(rows).toBeLessThanOrEqual(SIZES.shard_rows + SIZES.segment_rows);
  });
});
