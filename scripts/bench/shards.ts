/**
 * Search shards on the local stack (one `wrangler dev`: miniflare's Durable Objects and R2): for
 * each size, a synthetic index (src/edge/debug/synthetic-vectors.ts) written through the real
 * index writer and segment path (POST /debug/shards/seed, vectors seeded directly, no encoder),
 * then top-k through searchShards (POST /debug/shards/search, Worker time per search):
 * - p50 / p95 of `--queries` searches after one warm-up pass, recall@k against the exact fp32
 *   top-k of the same vectors (computed here, streaming the generator);
 * - kernel memory per shard (the layout's size of its rows; and what the isolate's kernel store
 *   holds, from every shard's stats());
 * - reload: debugEvict of one shard, then one timed search (that shard's rows read from R2 again);
 * - first search from a freshly started `wrangler dev` on the same persisted state (catalogue read
 *   + shard reload: the Worker holds no index);
 * - bulk write: the seed requests' wall time, vectors/s.
 *
 *   npm run bench:shards -- [--sizes 100000,300000,1000000] [--queries 50] [--dim 512]
 *     [--encoding int8|fp16] [--batch 32768] [--persist DIR] [--shard-rows N] [--out build/bench/shards.json]
 *
 * wrangler dev runs every shard in one isolate; the launcher raises SHARD_ISOLATE_KERNEL_MIB to
 * 4096 there, so they all stay warm. SHARD_ISOLATE_KERNEL_MIB=80 (a deployed isolate's budget)
 * shows what happens when more than two shards share an isolate: they evict each other.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ExactTopK,
  syntheticId,
  syntheticQuery,
  syntheticVector,
} from '../../src/edge/debug/synthetic-vectors';
import { startWorker, type WorkerProcess } from '../stack/index';
import { machine, percentile, postJson, ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,300000,1000000' },
    queries: { type: 'string', default: '50' },
    dim: { type: 'string', default: '512' },
    encoding: { type: 'string', default: 'int8' },
    k: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    /** Vectors per seed request (whole 4096-row segments). */
    batch: { type: 'string', default: '32768' },
    /** Queries per search request (each request stays short). */
    'per-request': { type: 'string', default: '10' },
    out: { type: 'string', default: 'build/bench/shards.json' },
    /** A state folder to keep (default: a temporary one, removed); indexes already there are not written again. */
    persist: { type: 'string' },
    /** Rows per shard (default: the writer's size for the dim): small ones measure per-shard overhead. */
    'shard-rows': { type: 'string' },
  },
});

const sizes = values.sizes.split(',').map(Number);
const QUERIES = Number(values.queries);
const DIM = Number(values.dim);
const K = Number(values.k);
const SEED = Number(values.seed);
const QUERY_SEED = SEED + 1000;
const BATCH = Number(values.batch);
const PER_REQUEST = Number(values['per-request']);
const encoding = values.encoding;
if (encoding !== 'int8' && encoding !== 'fp16') throw new Error('--encoding is int8 or fp16');

interface CatalogueSummary {
  generation: number;
  segments: number;
  rows: number;
  shards: number;
}
interface SearchAnswer {
  catalogue: CatalogueSummary;
  catalogue_ms: number;
  total_ms: number;
  searches: number;
  ms: number[][];
  results: { ids: string[]; scores: number[] }[];
  paths: Record<string, number>;
  missing: number[][];
}
interface StoreStats {
  builds: number;
  updates: number;
  reused: number;
  fallbacks: number;
  evictions: number;
  entries: number;
  bytes: number;
  /** What this shard's own kernel index holds now (null: not held). */
  shard_bytes?: number | null;
}
interface StatsAnswer {
  catalogue: CatalogueSummary;
  worker: StoreStats;
  shards: { shard: number; segments: number; rows: number; kernel_bytes: number; isolate: StoreStats }[];
}

const MIB = 2 ** 20;
/** What the launcher gives SHARD_ISOLATE_KERNEL_MIB (scripts/stack/worker.ts); 80 is a deployed isolate's. */
const ISOLATE_MIB = `${process.env.SHARD_ISOLATE_KERNEL_MIB || '4096'} MiB (SHARD_ISOLATE_KERNEL_MIB)`;

/**
 * postJson, once more when the connection was closed under it: a keep-alive socket left idle
 * while this process computes the exact top-k is closed by wrangler's proxy. Reads only.
 */
async function read<T>(base: string, path: string, body: unknown): Promise<T> {
  try {
    return await postJson<T>(base, path, body);
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code !== 'UND_ERR_SOCKET') throw error;
    return postJson<T>(base, path, body);
  }
}
const log = (message: string) => console.error(`  ${message}`);

/** The exact fp32 top-k of every query over vectors 0..n-1, streamed from the generator. */
function exactTopK(n: number, queries: Float32Array[]): ExactTopK[] {
  const tops = queries.map(() => new ExactTopK(K));
  const flat = new Float32Array(queries.length * DIM);
  queries.forEach((q, j) => {
    flat.set(q, j * DIM);
  });
  const v = new Float32Array(DIM);
  for (let i = 0; i < n; i++) {
    syntheticVector(SEED, i, DIM, v);
    for (let j = 0; j < queries.length; j++) {
      let dot = 0;
      const o = j * DIM;
      for (let d = 0; d < DIM; d++) dot += (v[d] as number) * (flat[o + d] as number);
      (tops[j] as ExactTopK).offer(dot, i);
    }
  }
  return tops;
}

/** Every query once, through searchShards (or to one shard alone: `shard`). */
async function search(
  base: string,
  index: object,
  queries: Float32Array[],
  shard?: number,
): Promise<SearchAnswer> {
  const parts: SearchAnswer[] = [];
  for (let i = 0; i < queries.length; i += PER_REQUEST) {
    const batch = queries.slice(i, i + PER_REQUEST).map((q) => Array.from(q));
    parts.push(
      await read<SearchAnswer>(base, '/debug/shards/search', {
        ...index,
        queries: batch,
        k: K,
        ...(shard === undefined ? {} : { shard }),
      }),
    );
  }
  const paths: Record<string, number> = {};
  for (const p of parts)
    for (const [path, n] of Object.entries(p.paths)) paths[path] = (paths[path] ?? 0) + n;
  return {
    catalogue: (parts[0] as SearchAnswer).catalogue,
    catalogue_ms: (parts[0] as SearchAnswer).catalogue_ms,
    total_ms: parts.reduce((n, p) => n + p.total_ms, 0),
    searches: parts.reduce((n, p) => n + p.searches, 0),
    ms: parts.flatMap((p) => p.ms),
    results: parts.flatMap((p) => p.results),
    paths,
    missing: parts.flatMap((p) => p.missing),
  };
}

/** One search, timed here (round trip) and in the Worker (catalogue read and search apart). */
async function timedSearch(base: string, index: object, query: Float32Array) {
  const t = performance.now();
  const answer = await read<SearchAnswer>(base, '/debug/shards/search', {
    ...index,
    queries: [Array.from(query)],
    k: K,
  });
  return {
    round_trip_ms: performance.now() - t,
    catalogue_ms: answer.catalogue_ms,
    search_ms: answer.ms[0]?.[0] ?? Number.NaN,
    paths: answer.paths,
    missing: answer.missing,
  };
}

const stats = (base: string, index: object) => read<StatsAnswer>(base, '/debug/shards/stats', index);

/** Builds summed over the distinct isolates the shards report (equal stats: one isolate). */
function isolates(s: StatsAnswer): StoreStats[] {
  const seen = new Map<string, StoreStats>();
  for (const shard of s.shards) seen.set(JSON.stringify(shard.isolate), shard.isolate);
  return [...seen.values()];
}

const workerOptions = (persist: string) => ({
  debugRoutes: true,
  persist,
  logs: 'capture' as const,
  logLevel: 'warn' as const,
});

async function benchSize(
  n: number,
  state: { worker: WorkerProcess; persist: string },
  queries: Float32Array[],
) {
  const rows = values['shard-rows'] ? `-s${values['shard-rows']}` : '';
  const index = { collection: `bench-shards-${n}${rows}`, model: 'synthetic', version: `${DIM}-${encoding}` };
  let base = state.worker.url;

  // Bulk write through the writer (whole segments per request), unless a kept state has it.
  const written = await stats(base, index).catch(() => undefined);
  const writeStart = performance.now();
  let seeded: { catalogue: CatalogueSummary; total_ms: number } | undefined = written && {
    catalogue: written.catalogue,
    total_ms: 0,
  };
  let serverMs = 0;
  for (let start = written?.catalogue.rows === n ? n : 0; start < n; start += BATCH) {
    seeded = await postJson(base, '/debug/shards/seed', {
      ...index,
      dim: DIM,
      encoding,
      start,
      count: Math.min(BATCH, n - start),
      seed: SEED,
      ...(values['shard-rows']
        ? {
            shard_rows: Number(values['shard-rows']),
            segment_rows: Math.min(4096, Number(values['shard-rows'])),
          }
        : {}),
    });
    serverMs += seeded?.total_ms ?? 0;
    if ((start / BATCH) % 8 === 7) log(`${n}: ${start + BATCH} written`);
  }
  const writeS = (performance.now() - writeStart) / 1000;
  const skipped = written?.catalogue.rows === n;
  log(`${n}: written in ${writeS.toFixed(1)} s: ${JSON.stringify(seeded?.catalogue)}`);

  // Exact fp32 top-k here, then warm-up and timed passes there.
  const t = performance.now();
  const exact = exactTopK(n, queries);
  log(
    `${n}: exact top-${K} of ${queries.length} queries in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const before = await stats(base, index);
  const warm = await search(base, index, queries);
  log(`${n}: warm-up pass ${warm.total_ms} ms, paths ${JSON.stringify(warm.paths)}`);
  const afterWarm = await stats(base, index);
  const timed = await search(base, index, queries);
  const after = await stats(base, index);
  const ms = timed.ms.flat();
  const recall =
    timed.results.reduce((sum, r, j) => {
      const want = new Set((exact[j] as ExactTopK).indexes.map(syntheticId));
      return sum + r.ids.filter((id) => want.has(id)).length / K;
    }, 0) / timed.results.length;
  const builds = (s: StatsAnswer) => isolates(s).reduce((x, i) => x + i.builds, 0);
  log(
    `${n}: timed pass p50 ${percentile(ms, 50)} p95 ${percentile(ms, 95)} ms, recall ${recall.toFixed(4)}, ` +
      `paths ${JSON.stringify(timed.paths)}, kernel builds during it ${builds(after) - builds(afterWarm)}`,
  );

  // One shard alone, warm (what a search costs when no shard shares its isolate, before fan-out).
  const biggest = [...after.shards].sort((a, b) => b.rows - a.rows)[0] as StatsAnswer['shards'][number];
  await search(base, index, queries.slice(0, 1), biggest.shard);
  const oneShard = (await search(base, index, queries, biggest.shard)).ms.flat();
  log(
    `${n}: shard ${biggest.shard} alone, warm: p50 ${percentile(oneShard, 50)} p95 ${percentile(oneShard, 95)} ms`,
  );

  // Reload: the shard with the most rows evicted, then one timed search (kernel builds counted).
  await postJson(base, '/debug/shards/evict', { ...index, shard: biggest.shard });
  const beforeReload = await stats(base, index);
  const reload = await timedSearch(base, index, queries[1 % queries.length] as Float32Array);
  const afterReload = await stats(base, index);
  const reloadBuilds = builds(afterReload) - builds(beforeReload);
  log(
    `${n}: reload of shard ${biggest.shard} (${biggest.rows} rows): ${JSON.stringify(reload)}, builds ${reloadBuilds}`,
  );
  // Where a reload should read from: the part from R2 against the same bytes from the shard's SQLite.
  const probe = (
    await postJson<{ probe: Record<string, number> }>(base, '/debug/shards/reload-probe', {
      ...index,
      shard: biggest.shard,
    })
  ).probe;
  log(`${n}: reload sources of shard ${biggest.shard}: ${JSON.stringify(probe)}`);

  // First search from a fresh wrangler dev on the same state.
  await state.worker.stop();
  state.worker = await startWorker(workerOptions(state.persist));
  base = state.worker.url;
  const first = await timedSearch(base, index, queries[2 % queries.length] as Float32Array);
  const second = await timedSearch(base, index, queries[3 % queries.length] as Float32Array);
  log(`${n}: first search after restart ${JSON.stringify(first)}, then ${JSON.stringify(second)}`);
  const restarted = await stats(base, index);

  return {
    vectors: n,
    index,
    catalogue: seeded?.catalogue,
    write: skipped
      ? { skipped: true, seconds: Number.NaN, vectors_per_s: Number.NaN, worker_ms: 0 }
      : { seconds: writeS, vectors_per_s: n / writeS, worker_ms: serverMs },
    search: {
      p50_ms: percentile(ms, 50),
      p95_ms: percentile(ms, 95),
      mean_ms: ms.reduce((a, b) => a + b, 0) / ms.length,
      total_ms: timed.total_ms,
      searches: timed.searches,
      paths: timed.paths,
      missing: timed.missing,
      warmup_total_ms: warm.total_ms,
      warmup_paths: warm.paths,
      kernel_builds_during_timed_pass: builds(after) - builds(afterWarm),
    },
    recall_at_k: recall,
    one_shard_warm: {
      shard: biggest.shard,
      rows: biggest.rows,
      p50_ms: percentile(oneShard, 50),
      p95_ms: percentile(oneShard, 95),
    },
    memory: {
      per_shard: after.shards.map((s) => ({
        shard: s.shard,
        rows: s.rows,
        kernel_bytes: s.kernel_bytes,
        held_bytes: s.isolate.shard_bytes ?? null,
      })),
      isolates: isolates(after),
      worker_isolate: after.worker,
      before_search: isolates(before),
    },
    reload: { shard: biggest.shard, rows: biggest.rows, kernel_builds: reloadBuilds, ...reload },
    reload_sources: probe,
    first_search_after_restart: { ...first, startup_ms: state.worker.startupMs, next: second },
    restarted_isolates: isolates(restarted),
  };
}

async function main() {
  const m = await machine();
  const persist = values.persist ?? mkdtempSync(join(tmpdir(), 'koclip-bench-shards-'));
  mkdirSync(persist, { recursive: true });
  const state = { worker: await startWorker(workerOptions(persist)), persist };
  const stop = async () => {
    await state.worker.stop().catch(() => undefined);
    if (!values.persist) rmSync(persist, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  const queries = Array.from({ length: QUERIES }, (_, j) => syntheticQuery(SEED, QUERY_SEED, j, DIM));
  const runs = [];
  try {
    for (const n of sizes) runs.push(await benchSize(n, state, queries));
  } catch (error) {
    console.error(`  wrangler dev's output (last 6000 characters):\n${state.worker.logs().slice(-6000)}`);
    throw error;
  } finally {
    await stop();
  }
  console.log(
    `${m.cpu}, ${m.cores} cores, load average ${m.load.join(' ')}, ${m.at}; local wrangler dev (one workerd); ` +
      `${DIM}-dim ${encoding} segments, ${QUERIES} queries, top-${K}; shards' isolate kernel budget ${ISOLATE_MIB}`,
  );
  console.log(
    '| vectors | shards | p50 ms | p95 ms | kernel builds per search | recall@10 | one warm shard p50 / p95 ms (rows) | kernel MiB per shard (rows / held) | reload ms (rows) | first search after restart ms | bulk write s | vectors/s |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    const perShard = r.memory.per_shard.map((s) => (s.kernel_bytes / MIB).toFixed(1));
    const held = r.memory.per_shard.map((s) => ((s.held_bytes ?? 0) / MIB).toFixed(1));
    console.log(
      `| ${r.vectors} | ${r.catalogue?.shards} | ${r.search.p50_ms} | ${r.search.p95_ms} | ` +
        `${(r.search.kernel_builds_during_timed_pass / r.search.searches).toFixed(1)} | ${r.recall_at_k.toFixed(3)} | ` +
        `${r.one_shard_warm.p50_ms} / ${r.one_shard_warm.p95_ms} (${r.one_shard_warm.rows}) | ` +
        `${Math.min(...perShard.map(Number))}-${Math.max(...perShard.map(Number))} / ` +
        `${Math.min(...held.map(Number))}-${Math.max(...held.map(Number))} | ` +
        `${r.reload.search_ms} (${r.reload.rows}) | ${first(r)} | ${r.write.seconds.toFixed(1)} | ${r.write.vectors_per_s.toFixed(0)} |`,
    );
  }
  const out = join(ROOT, values.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ machine: m, options: values, isolate_kernel_budget: ISOLATE_MIB, runs }, null, 2)}\n`,
  );
  console.error(`  wrote ${values.out}`);
}

const first = (r: { first_search_after_restart: { round_trip_ms: number; search_ms: number } }) =>
  `${r.first_search_after_restart.round_trip_ms.toFixed(0)} (search ${r.first_search_after_restart.search_ms})`;

await main();
