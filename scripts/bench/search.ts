/**
 * Exact index search speed: decode time of segments and per-query latency of referencePage
 * (the reference ranking, which the Worker runs when the kernel does not answer) over random
 * clustered unit vectors, for several index sizes and both encodings. Runs on Node's V8 (the
 * engine workerd embeds), single-threaded like an isolate.
 *
 *   npm run bench:search -- [--sizes 1000,10000,50000] [--dim 256] [--queries 50]
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_SEGMENT_ROWS,
  decodeSegment,
  encodeSegment,
  type Segment,
  type SegmentEncoding,
} from '../../src/core/index-format/segment';
import { referencePage } from '../../src/edge/search/reference-ranking';
import { randomUnitVectors } from '../../test/core/support/random-vectors';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,50000' },
    dim: { type: 'string', default: '256' },
    queries: { type: 'string', default: '50' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const dim = Number(values.dim);
const queryCount = Number(values.queries);
const COLOURS = ['red', 'blue', 'green', 'yellow', 'pink', 'brown', 'purple', 'orange'];

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

function time(fn: () => void, runs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

console.log(
  `node ${process.version}, dim ${dim}, ${queryCount} queries per row, k = 10, segments of ${DEFAULT_SEGMENT_ROWS}`,
);
console.log(
  '| vectors | encoding | segment bytes | decode ms (all) | query p50 ms | query p95 ms | filtered (1/8) p50 ms |',
);
console.log('|---:|---|---:|---:|---:|---:|---:|');
for (const n of sizes) {
  const vectors = randomUnitVectors(n, dim, 1, 64);
  const queries = randomUnitVectors(queryCount, dim, 2, 64);
  for (const encoding of ['fp16', 'int8'] as SegmentEncoding[]) {
    const blobs: Uint8Array[] = [];
    for (let start = 0; start < n; start += DEFAULT_SEGMENT_ROWS) {
      const items = vectors.slice(start, start + DEFAULT_SEGMENT_ROWS).map((vector, j) => ({
        id: `img-${start + j}`,
        vector,
        metadata: { colour: COLOURS[(start + j) % COLOURS.length] as string, count: ((start + j) % 3) + 1 },
      }));
      blobs.push(await encodeSegment({ model: 'bench', version: '1', dim, encoding, items }));
    }
    const t0 = performance.now();
    const segments: Segment[] = [];
    for (const blob of blobs) segments.push(await decodeSegment(blob));
    const decodeMs = performance.now() - t0;
    let q = 0;
    const next = () => queries[q++ % queries.length] as Float32Array;
    // As a search runs: with the per-segment dead-row sets of the writer's catalogue (empty here).
    const dead = segments.map(() => new Set<number>());
    referencePage(segments, next(), { k: 10, dead }); // warm-up (and the fp16 lookup table)
    const plain = time(() => referencePage(segments, next(), { k: 10, dead }), queryCount);
    const filtered = time(
      () => referencePage(segments, next(), { k: 10, dead, filter: { colour: 'red' } }),
      queryCount,
    );
    const bytes = blobs.reduce((s, b) => s + b.length, 0);
    console.log(
      `| ${n} | ${encoding} | ${bytes} | ${decodeMs.toFixed(1)} | ${percentile(plain, 50).toFixed(2)} | ${percentile(plain, 95).toFixed(2)} | ${percentile(filtered, 50).toFixed(2)} |`,
    );
  }
}
