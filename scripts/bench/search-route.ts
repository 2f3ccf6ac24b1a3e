/**
 * The search function of /v1/search inside workerd, from the search kernel against the JS loop
 * it replaces (rankCatalogue, src/edge/search/catalogue-search.ts), over one catalogue of KSEG
 * segments of clustered random unit vectors, for int8 and fp16 segments, unfiltered and with a
 * 1/8 metadata filter on a string and on an ISO date. Each encoding gets a fresh workerd (scripts/bench/workerd-kernel).
 *
 *   npm run bench:search-route -- [--n 100000] [--dim 512] [--k 10] [--queries 30] [--reps 10] [--js-queries 10]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { machine } from './support/common';
import { startKernelWorker } from './support/kernel-worker';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    dim: { type: 'string', default: '512' },
    k: { type: 'string', default: '10' },
    queries: { type: 'string', default: '30' },
    reps: { type: 'string', default: '10' },
    'js-queries': { type: 'string', default: '10' },
    encodings: { type: 'string', default: 'int8,fp16' },
    port: { type: 'string', default: '8799' },
  },
});

interface Times {
  p50: number;
  p95: number;
  runs: number;
}
interface Run {
  path: string;
  prepareMs: number;
  buildMs: number;
  kernel: Times;
  js: Times;
  same: number;
  overlap: number;
  store: { bytes: number };
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));
const FILTER_NAMES = { none: 'none', colour: 'colour = red (1/8)', date: 'ISO date $gte/$lt (1/8)' };

async function main() {
  const m = await machine();
  console.log(
    `${m.cpu}, ${m.cores} cores, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}, ${m.at}; ` +
      `${values.n} x ${values.dim}, k = ${values.k}; kernel: ${values.queries} queries x ${values.reps} back-to-back ` +
      `searches each (mean per query); JS loop: ${values['js-queries']} queries, one search each`,
  );
  console.log(
    '| segments | filter | path | kernel p50 ms | kernel p95 ms | JS loop p50 ms | JS loop p95 ms | ratio (p50) | same page as JS | first search (build) ms | kernel memory |',
  );
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const encoding of values.encodings.split(',')) {
    const worker = await startKernelWorker(values.port);
    try {
      for (const filter of [undefined, 'colour', 'date'] as const) {
        const query = new URLSearchParams({
          n: values.n,
          dim: values.dim,
          encoding,
          k: values.k,
          queries: values.queries,
          reps: values.reps,
          jsQueries: values['js-queries'],
          ...(filter ? { filter } : {}),
        });
        const res = await fetch(`${worker.url}/catalogue?${query}`);
        if (!res.ok) throw new Error(`bench worker: ${res.status} ${await res.text()}`);
        const r = (await res.json()) as Run;
        const same =
          r.path === 'kernel-requantised'
            ? `${r.same}/${r.js.runs} (ids ${(r.overlap * 100).toFixed(0)}%)`
            : `${r.same}/${r.js.runs}`;
        console.log(
          `| ${encoding} | ${FILTER_NAMES[filter ?? 'none']} | ${r.path} | ${ms(r.kernel.p50)} | ${ms(r.kernel.p95)} | ` +
            `${ms(r.js.p50)} | ${ms(r.js.p95)} | ${(r.js.p50 / Math.max(r.kernel.p50, 1e-9)).toFixed(0)}x | ${same} | ` +
            `${r.buildMs} | ${(r.store.bytes / 2 ** 20).toFixed(1)} MiB |`,
        );
      }
    } finally {
      await worker.stop();
    }
  }
}

await main();
