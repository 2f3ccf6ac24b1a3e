/**
 * Bench Worker: builds a search-kernel index of clustered random unit vectors once per isolate
 * (clusteredVectors of test/core/support/random-vectors.ts, the vectors bench:search and the Node bench use) and times
 * searches inside one request. workerd's clock ticks in 1 ms steps, so each query is searched
 * `reps` times in a row and its latency is the mean of those; p50/p95 are over queries.
 *
 *   GET /run?n=100000&dim=512&bits=2&k=10&queries=50&reps=20[&js=1]
 * `js=1` (with bits=0) also times the JS reference loop (referencePage) over the same int8 codes.
 * GET /catalogue times the search function of /v1/search, kernel against JS loop (./catalogue.ts).
 * GET /mac-peak times wasm SIMD's multiply-add ceiling (./mac-peak.ts, bench:wasm-peak).
 */

import { type KernelIndex, KernelIndexBuilder, type ResidualBits } from '../../../src/edge/search/kernel';
import kernelModule from '../../../src/edge/search/kernel/kernel.wasm';
import { referencePage } from '../../../src/edge/search/reference-ranking';
import { clusteredVectors } from '../../../test/core/support/random-vectors';
import { catalogueBench } from './catalogue';
import { macPeak } from './mac-peak';

let cached: { key: string; index: KernelIndex; buildMs: number } | undefined;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/catalogue') return catalogueBench(url);
    if (url.pathname === '/mac-peak') return macPeak(url);
    if (url.pathname !== '/run')
      return new Response('GET /run?n=&dim=&bits=&k=&queries=&reps=', { status: 404 });
    const num = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
    const n = num('n', 100_000);
    const dim = num('dim', 512);
    const bits = num('bits', 2) as ResidualBits;
    const k = num('k', 10);
    const queryCount = num('queries', 50);
    const reps = num('reps', 20);
    const key = `${n}x${dim}/${bits}`;
    if (cached?.key !== key) {
      cached = undefined; // let the old index go before building the next
      const t0 = Date.now();
      const builder = new KernelIndexBuilder(kernelModule, dim, n, { residualBits: bits });
      for (const v of clusteredVectors(n, dim, 1, 64)) builder.add(v);
      cached = { key, index: builder.finish(), buildMs: Date.now() - t0 };
    }
    const { index, buildMs } = cached;
    const queries = [...clusteredVectors(queryCount, dim, 2, 64)];
    for (let i = 0; i < 5; i++) index.search(queries[i % queries.length] as Float32Array, k); // warm-up
    const perQuery: number[] = [];
    const rows: number[][] = [];
    let certified = 0;
    const all0 = Date.now();
    for (const q of queries) {
      const t = Date.now();
      let hits = index.search(q, k);
      for (let r = 1; r < reps; r++) hits = index.search(q, k);
      perQuery.push((Date.now() - t) / reps);
      if (index.lastStats.fastPath) certified++;
      rows.push(hits.map((h) => h.row));
    }
    const totalMs = Date.now() - all0;
    let js: { p50: number; p95: number; runs: number; rows: number[][] } | undefined;
    if (url.searchParams.get('js') === '1' && bits === 0) {
      const segment = index.toReferenceSegment();
      const times: number[] = [];
      const jsRows: number[][] = [];
      const jsQueries = Math.min(queryCount, num('jsQueries', 20));
      for (let i = 0; i < jsQueries; i++) {
        const t = Date.now();
        const page = referencePage([segment], queries[i] as Float32Array, { k });
        times.push(Date.now() - t);
        jsRows.push(page.hits.map((h) => Number(h.id.slice(4))));
      }
      times.sort((a, b) => a - b);
      js = { p50: percentile(times, 50), p95: percentile(times, 95), runs: jsQueries, rows: jsRows };
    }
    const sorted = [...perQuery].sort((a, b) => a - b);
    return Response.json({
      n,
      dim,
      bits,
      k,
      queries: queryCount,
      reps,
      buildMs,
      memory: index.memory,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      meanMs: totalMs / (queryCount * reps),
      certified,
      perQuery,
      rows,
      js,
    });
  },
};
