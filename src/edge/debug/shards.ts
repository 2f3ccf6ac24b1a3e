/**
 * Search-shard probes for scripts/bench/shards.ts, mounted by ./route.ts (404 unless DEBUG_ROUTES).
 * - POST /debug/shards/seed: writes synthetic vectors `start..start+count-1`
 *   (./synthetic-vectors.ts) through the index writer, as the queue consumer would: one `accept`
 *   and one `apply` per chunk of at most 4096, each chunk whole segments.
 * - POST /debug/shards/search: the catalogue read once, then searchShards for every query `reps`
 *   times (or one shard's own search, called directly), Worker time per search. workerd advances its clock only across I/O; every search makes
 *   shard RPC calls, so its time is measured (`total_ms` over all of them is the check).
 * - POST /debug/shards/stats, /debug/shards/evict: every shard of the catalogue's `stats()` (the
 *   kernel store of the shard's isolate, and the bytes the shard's own kernel index holds) or
 *   `debugEvict` (of one shard when the body names it).
 * - POST /debug/shards/reload-probe: one shard's part read from R2 against from its own SQLite
 *   (SearchShard.debugReloadProbe, search/shards/reload-probe.ts).
 */
import { type Context, Hono, type Next } from 'hono';
import { z } from 'zod';
import { DEFAULT_SEGMENT_ROWS } from '../../core/index-format/segment';
import { type AppEnv, readConfig } from '../env';
import { ApiError } from '../http/errors';
import { type CatalogueView, IndexReader, writerFor } from '../index';
import { kernelIndexBytes, kernelStoreStats } from '../search/kernel';
import { partsOf, type ShardPart, searchShards, shardName, shardStub } from '../search/shards';
import { syntheticColour, syntheticId, syntheticVector } from './synthetic-vectors';

/** Vectors per accept + apply (an apply of 4096 x 512 numbers is about 20 MB of RPC). */
const CHUNK = 4096;

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const IndexBody = z.object({ collection: Name, model: Name, version: Name });

const SeedBody = IndexBody.extend({
  dim: z.number().int().min(2).max(2048),
  encoding: z.enum(['int8', 'fp16']),
  start: z.number().int().min(0),
  count: z.number().int().min(1).max(65_536),
  seed: z.number().int().min(0).max(0xffffffff),
  shard_rows: z.number().int().min(1).optional(),
  segment_rows: z.number().int().min(1).max(65_536).optional(),
});

/** `shard`: that shard only (default: every shard of the catalogue). */
const EvictBody = IndexBody.extend({ shard: z.number().int().min(0).optional() });

const SearchBody = IndexBody.extend({
  queries: z.array(z.array(z.number().finite()).min(2).max(2048)).min(1).max(1000),
  k: z.number().int().min(1).max(100),
  reps: z.number().int().min(1).max(100).default(1),
  /**
   * That shard alone, called directly with its part (no fan-out, no merge): its own best rows, the
   * time a search takes when the shard is warm (benchmarks: shards that share no isolate).
   */
  shard: z.number().int().min(0).optional(),
});

async function parse<T extends z.ZodType>(schema: T, c: Context<AppEnv>): Promise<z.infer<T>> {
  const parsed = schema.safeParse(await c.req.json().catch(() => undefined));
  if (!parsed.success) throw new ApiError(400, 'invalid_request', parsed.error.message);
  return parsed.data;
}

async function catalogueOf(c: Context<AppEnv>, index: z.infer<typeof IndexBody>): Promise<CatalogueView> {
  const catalogue = await new IndexReader(c.env, index).catalogue();
  if (!catalogue) throw new ApiError(404, 'index_empty', `nothing was written to ${index.collection}`);
  return catalogue;
}

/** Per shard of the catalogue (the fan-out's own grouping, partsOf): its segments and rows. */
function shardsOf(catalogue: CatalogueView) {
  return partsOf(catalogue).map((part) => ({
    shard: part.shard,
    segments: part.segments.length,
    rows: part.segments.reduce((n, s) => n + s.count, 0),
  }));
}

const summary = (catalogue: CatalogueView) => ({
  generation: catalogue.generation,
  segments: catalogue.segments.length,
  rows: catalogue.segments.reduce((n, s) => n + s.count, 0),
  shards: shardsOf(catalogue).length,
});

/** One shard's own best `k` rows, called directly (as the fan-out would call it). */
async function searchOneShard(
  c: Context<AppEnv>,
  index: z.infer<typeof IndexBody>,
  catalogue: CatalogueView,
  shard: number,
  query: Float32Array,
  k: number,
) {
  const part: ShardPart = { shard, segments: [], bases: [] };
  let base = 0;
  for (const segment of catalogue.segments) {
    if (segment.shard === shard) {
      part.segments.push(segment);
      part.bases.push(base);
    }
    base += segment.count;
  }
  if (part.segments.length === 0) throw new ApiError(400, 'invalid_request', `no shard ${shard}`);
  const { segments: _, ...identity } = catalogue;
  const answer = await shardStub(c.env, shardName({ index }, shard)).search(
    { index, catalogue: identity, query, need: k, budgetMs: 60_000 },
    part,
  );
  return {
    page: { hits: answer.hits },
    paths: answer.paths,
    missing: { shards: answer.missing.map((m) => m.shard) },
  };
}

export const shardRoutes = new Hono<AppEnv>();

shardRoutes.use('/debug/shards/*', async function debugOnly(c: Context<AppEnv>, next: Next) {
  if (!readConfig(c.env).debugRoutes) throw new ApiError(404, 'not_found', `no route for POST ${c.req.path}`);
  await next();
});

shardRoutes.post('/debug/shards/seed', async (c) => {
  const body = await parse(SeedBody, c);
  const { collection, model, version, dim, encoding } = body;
  const index = { collection, model, version };
  const space = {
    ...index,
    dim,
    encoding,
    ...(body.shard_rows === undefined ? {} : { shard_rows: body.shard_rows }),
    ...(body.segment_rows === undefined ? {} : { segment_rows: body.segment_rows }),
  };
  // Whole segments per chunk, so that only the request's last chunk can leave a short one.
  const segmentRows = body.segment_rows ?? DEFAULT_SEGMENT_ROWS;
  const chunk = segmentRows >= CHUNK ? CHUNK : CHUNK - (CHUNK % segmentRows);
  const writer = writerFor(c.env, index);
  const vector = new Float32Array(dim);
  const times = { generate_ms: 0, accept_ms: 0, apply_ms: 0 };
  let applied = 0;
  const start = Date.now();
  for (let from = body.start; from < body.start + body.count; from += chunk) {
    const n = Math.min(chunk, body.start + body.count - from);
    const t0 = Date.now();
    const ids = Array.from({ length: n }, (_, j) => syntheticId(from + j));
    const vectors = ids.map((_, j) => Array.from(syntheticVector(body.seed, from + j, dim, vector)));
    const t1 = Date.now();
    const accepted = await writer.accept(
      space,
      ids.map((id, j) => ({
        op: 'upsert' as const,
        id,
        source: { r2_key: `bench/${id}` },
        metadata: { colour: syntheticColour(from + j) },
      })),
    );
    const t2 = Date.now();
    const result = await writer.apply(
      accepted.map((a, j) => ({
        id: a.id,
        seq: a.seq,
        vector: vectors[j] as number[],
        content_sha256: `synthetic-${body.seed}-${from + j}`,
      })),
    );
    const t3 = Date.now();
    applied += result.applied;
    times.generate_ms += t1 - t0;
    times.accept_ms += t2 - t1;
    times.apply_ms += t3 - t2;
  }
  const total = Date.now() - start;
  const catalogue = await catalogueOf(c, index);
  return c.json({ applied, total_ms: total, ...times, chunk, catalogue: summary(catalogue) });
});

shardRoutes.post('/debug/shards/search', async (c) => {
  const body = await parse(SearchBody, c);
  const index = { collection: body.collection, model: body.model, version: body.version };
  const t0 = Date.now();
  const catalogue = await catalogueOf(c, index);
  const catalogueMs = Date.now() - t0;
  for (const q of body.queries)
    if (q.length !== catalogue.dim)
      throw new ApiError(400, 'invalid_request', `queries must have ${catalogue.dim} numbers`);
  const ms: number[][] = [];
  const results: { ids: string[]; scores: number[] }[] = [];
  const paths = new Map<string, number>();
  const missing: number[][] = [];
  const start = Date.now();
  for (const q of body.queries) {
    const query = Float32Array.from(q);
    const times: number[] = [];
    for (let r = 0; r < body.reps; r++) {
      const s = Date.now();
      const answer =
        body.shard === undefined
          ? await searchShards(c.env, index, catalogue, query, { k: body.k })
          : await searchOneShard(c, index, catalogue, body.shard, query, body.k);
      times.push(Date.now() - s);
      for (const path of answer.paths) paths.set(path, (paths.get(path) ?? 0) + 1);
      if (answer.missing.shards.length > 0) missing.push(answer.missing.shards);
      if (r === body.reps - 1)
        results.push({
          ids: answer.page.hits.map((h) => h.id),
          scores: answer.page.hits.map((h) => h.score),
        });
    }
    ms.push(times);
  }
  return c.json({
    catalogue: summary(catalogue),
    catalogue_ms: catalogueMs,
    total_ms: Date.now() - start,
    searches: body.queries.length * body.reps,
    /** Per query, the Worker time of each of its searches. */
    ms,
    results,
    /** How many shard answers took each ranking path. */
    paths: Object.fromEntries(paths),
    /** The missing shards of every search that had any. */
    missing,
  });
});

shardRoutes.post('/debug/shards/stats', async (c) => {
  const index = await parse(IndexBody, c);
  const catalogue = await catalogueOf(c, index);
  const residualBits = catalogue.encoding === 'int8' ? 0 : 2;
  const shards = await Promise.all(
    shardsOf(catalogue).map(async (part) => ({
      ...part,
      /** What the shard's kernel index of its rows takes (layout.ts), held or not. */
      kernel_bytes: kernelIndexBytes(catalogue.dim, part.rows, residualBits),
      /** The kernel store of the isolate the shard runs in (every index and shard it holds). */
      isolate: await shardStub(c.env, shardName({ index }, part.shard)).stats({ index }, part.shard),
    })),
  );
  return c.json({ catalogue: summary(catalogue), worker: kernelStoreStats(), shards });
});

const ProbeBody = IndexBody.extend({ shard: z.number().int().min(0) });

shardRoutes.post('/debug/shards/reload-probe', async (c) => {
  const { shard, ...index } = await parse(ProbeBody, c);
  const catalogue = await catalogueOf(c, index);
  const part = partsOf(catalogue).find((p) => p.shard === shard);
  if (!part) throw new ApiError(404, 'not_found', `the catalogue has no shard ${shard}`);
  const { segments: _, ...identity } = catalogue;
  const probe = await shardStub(c.env, shardName({ index }, shard)).debugReloadProbe(
    { index, catalogue: identity },
    part,
  );
  return c.json({ catalogue: summary(catalogue), probe });
});

shardRoutes.post('/debug/shards/evict', async (c) => {
  const { shard, ...index } = await parse(EvictBody, c);
  const catalogue = await catalogueOf(c, index);
  const shards = await Promise.all(
    shardsOf(catalogue)
      .filter((part) => shard === undefined || part.shard === shard)
      .map(async (part) => ({
        shard: part.shard,
        rows: part.rows,
        held: await shardStub(c.env, shardName({ index }, part.shard)).debugEvict({ index }, part.shard),
      })),
  );
  return c.json({ catalogue: summary(catalogue), shards });
});
