/**
 * The search-shard probes (src/edge/debug/shards.ts): synthetic vectors written through the index
 * writer land on several shards, and a search through them answers the generator's exact top-k.
 */
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { app } from '../../../src/edge/app';
import {
  ExactTopK,
  syntheticId,
  syntheticQuery,
  syntheticVector,
} from '../../../src/edge/debug/synthetic-vectors';

const post = (path: string, body: unknown) =>
  exports.default.fetch(
    new Request(`http://edge.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );

const index = { collection: 'shards-debug', model: 'synthetic', version: 'v1' };
const DIM = 64;
const SEED = 7;

describe('search-shard probes (src/edge/debug/shards.ts)', () => {
  it('do not exist without DEBUG_ROUTES', async () => {
    const req = new Request('http://edge.test/debug/shards/stats', { method: 'POST', body: '{}' });
    const res = await app.fetch(req, { ...env, DEBUG_ROUTES: undefined });
    expect(res.status).toBe(404);
  });

  it.each([
    ['/debug/shards/seed', { ...index, dim: DIM, encoding: 'int4', start: 0, count: 10, seed: 1 }],
    ['/debug/shards/seed', { ...index, dim: DIM, encoding: 'int8', start: -1, count: 10, seed: 1 }],
    ['/debug/shards/search', { ...index, queries: [], k: 10 }],
    ['/debug/shards/search', { ...index, queries: [[1, 0]], k: 0 }],
    ['/debug/shards/stats', { collection: 'x' }],
    ['/debug/shards/evict', { ...index, collection: '../x' }],
  ])('%s answers 400 on bad input (%j)', async (path, body) => {
    const res = await post(path, body);
    expect(res.status).toBe(400);
  });

  it('seeds 300 vectors on 3+ shards and searches them to the exact fp32 top-k', async () => {
    const seeded = await post('/debug/shards/seed', {
      ...index,
      dim: DIM,
      encoding: 'int8',
      start: 0,
      count: 300,
      seed: SEED,
      shard_rows: 100,
      segment_rows: 50,
    });
    expect(seeded.status).toBe(200);
    const seed = (await seeded.json()) as {
      applied: number;
      catalogue: { segments: number; shards: number };
    };
    expect(seed.applied).toBe(300);
    expect(seed.catalogue.segments).toBe(6);
    expect(seed.catalogue.shards).toBeGreaterThanOrEqual(3);

    const query = syntheticQuery(SEED, 99, 0, DIM);
    const exact = new ExactTopK(10);
    for (let i = 0; i < 300; i++) {
      const v = syntheticVector(SEED, i, DIM);
      let dot = 0;
      for (let d = 0; d < DIM; d++) dot += (v[d] as number) * (query[d] as number);
      exact.offer(dot, i);
    }
    const res = await post('/debug/shards/search', { ...index, queries: [Array.from(query)], k: 10 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      catalogue: { shards: number };
      results: { ids: string[]; scores: number[] }[];
      paths: Record<string, number>;
      missing: number[][];
    };
    expect(body.catalogue.shards).toBe(seed.catalogue.shards);
    expect(body.missing).toEqual([]);
    expect(Object.values(body.paths).reduce((a, b) => a + b, 0)).toBe(seed.catalogue.shards);
    expect(body.results[0]?.ids).toEqual(exact.indexes.map(syntheticId));
    body.results[0]?.scores.forEach((score, i) => {
      expect(Math.abs(score - (exact.scores[i] as number))).toBeLessThan(1e-2);
    });

    const stats = await post('/debug/shards/stats', index);
    expect(stats.status).toBe(200);
    const shards = ((await stats.json()) as { shards: { rows: number; isolate: { entries: number } }[] })
      .shards;
    expect(shards.reduce((n, s) => n + s.rows, 0)).toBe(300);
    expect(shards.every((s) => s.isolate.entries >= 1)).toBe(true);

    const evicted = await post('/debug/shards/evict', index);
    expect(((await evicted.json()) as { shards: { held: boolean }[] }).shards.some((s) => s.held)).toBe(true);
  });
});
