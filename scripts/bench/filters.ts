/**
 * Filtered index scans: per-query latency of referencePage (the reference ranking, the Worker's
 * exact top-k when the kernel does not answer, with the filter compiled once per search by
 * src/edge/search/filter.ts) at 1/8 and 1/1000 selectivity, for each kind of clause (string
 * $eq, $in, number range, ISO-date range, $nin), against the unfiltered scan, plus the cost of
 * the predicate alone over every row: over each row's metadata (the JS loop's path) and by row
 * number over each segment's rows (the kernel mask's path, ISO dates from a per-segment column:
 * first use, then warm). Node's V8 (the engine workerd embeds), one thread, random clustered
 * unit vectors.
 *
 *   npm run bench:filters -- [--size 100000] [--dim 512] [--queries 30] [--encoding int8,fp16]
 *     [--out build/bench/filters.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_SEGMENT_ROWS,
  decodeSegment,
  encodeSegment,
  type ItemMetadata,
  type Segment,
  type SegmentEncoding,
} from '../../src/core/index-format/segment';
import { compileFilter, type MetadataFilter } from '../../src/edge/search/filter';
import { referencePage } from '../../src/edge/search/reference-ranking';
import { randomUnitVectors } from '../../test/core/support/random-vectors';
import { machine, percentile, ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '100000' },
    dim: { type: 'string', default: '512' },
    queries: { type: 'string', default: '30' },
    encoding: { type: 'string', default: 'int8' },
    out: { type: 'string', default: 'build/bench/filters.json' },
  },
});
const n = Number(values.size);
const dim = Number(values.dim);
const queryCount = Number(values.queries);
const COLOURS = ['red', 'blue', 'green', 'yellow', 'pink', 'brown', 'purple', 'orange'];
const EPOCH = Date.UTC(2020, 0, 1);

/** Row i: colour cycles through 8 values, seq = i, taken = one row per 10 minutes from 2020. */
function metadataOf(i: number): ItemMetadata {
  return {
    colour: COLOURS[i % COLOURS.length] as string,
    seq: i,
    taken: new Date(EPOCH + i * 600_000).toISOString(),
  };
}
const at = (row: number) => new Date(EPOCH + row * 600_000).toISOString();
const eighth = Math.floor(n / 8);
const thousandth = Math.floor(n / 1000);

const FILTERS: { name: string; selectivity: string; filter?: MetadataFilter }[] = [
  { name: 'none', selectivity: '1' },
  { name: 'string $eq (shorthand)', selectivity: '1/8', filter: { colour: 'red' } },
  { name: 'string $in', selectivity: '1/8', filter: { colour: { $in: ['red', 'nope'] } } },
  { name: 'string $nin', selectivity: '7/8', filter: { colour: { $nin: ['red'] } } },
  { name: 'number $gte/$lt', selectivity: '1/8', filter: { seq: { $gte: 3 * eighth, $lt: 4 * eighth } } },
  {
    name: 'ISO date $gte/$lt',
    selectivity: '1/8',
    filter: { taken: { $gte: at(3 * eighth), $lt: at(4 * eighth) } },
  },
  { name: 'number $lt', selectivity: '1/1000', filter: { seq: { $lt: thousandth } } },
  {
    name: 'string $eq + number $lt',
    selectivity: '1/1000',
    filter: { colour: 'red', seq: { $lt: 8 * thousandth } },
  },
  {
    name: 'ISO date $gte/$lt',
    selectivity: '1/1000',
    filter: { taken: { $gte: at(5 * thousandth), $lt: at(6 * thousandth) } },
  },
];

interface Row {
  encoding: SegmentEncoding;
  filter: string;
  selectivity: string;
  matched: number;
  query_ms: number[];
  predicate_ms: number;
  predicate_rows_cold_ms: number;
  predicate_rows_ms: number;
  p50_ms: number;
  p95_ms: number;
}

const vectors = randomUnitVectors(n, dim, 1, 64);
const queries = randomUnitVectors(queryCount, dim, 2, 64);
const rows: Row[] = [];
const started = await machine();
for (const encoding of values.encoding.split(',') as SegmentEncoding[]) {
  const segments: Segment[] = [];
  for (let start = 0; start < n; start += DEFAULT_SEGMENT_ROWS) {
    const items = vectors.slice(start, start + DEFAULT_SEGMENT_ROWS).map((vector, j) => ({
      id: `img-${start + j}`,
      vector,
      metadata: metadataOf(start + j),
    }));
    segments.push(
      await decodeSegment(await encodeSegment({ model: 'm', version: '1', dim, encoding, items })),
    );
  }
  for (const f of FILTERS) {
    const passes = compileFilter(f.filter);
    let matched = 0;
    const p0 = performance.now();
    for (const s of segments)
      for (let r = 0; r < s.count; r++)
        if (passes((s.attrs[r] as { metadata: ItemMetadata }).metadata)) matched++;
    const predicateMs = performance.now() - p0;
    // The kernel's mask path: by row number over each segment's rows, ISO dates from a column
    // parsed on first use per segment (cold) and read from it afterwards (warm).
    const byRows = () => {
      let n = 0;
      const t = performance.now();
      for (const s of segments) {
        const test = passes.rows(s.attrs);
        for (let r = 0; r < s.count; r++) if (test(r)) n++;
      }
      if (n !== matched) throw new Error(`${f.name}: rows path passed ${n} rows, metadata path ${matched}`);
      return performance.now() - t;
    };
    const rowsColdMs = byRows();
    const rowsWarmMs = Math.min(byRows(), byRows(), byRows());
    // Warm-up, then one search per query.
    for (const q of queries.slice(0, 3))
      referencePage(segments, q, { k: 10, ...(f.filter ? { filter: f.filter } : {}) });
    const times: number[] = [];
    for (const q of queries) {
      const t = performance.now();
      referencePage(segments, q, { k: 10, ...(f.filter ? { filter: f.filter } : {}) });
      times.push(performance.now() - t);
    }
    const row = {
      encoding,
      filter: f.name,
      selectivity: f.selectivity,
      matched,
      query_ms: times,
      predicate_ms: predicateMs,
      predicate_rows_cold_ms: rowsColdMs,
      predicate_rows_ms: rowsWarmMs,
      p50_ms: percentile(times, 50),
      p95_ms: percentile(times, 95),
    };
    rows.push(row);
    console.error(
      `  ${encoding} ${f.name} (${f.selectivity}): ${matched} rows, p50 ${row.p50_ms.toFixed(2)} ms`,
    );
  }
}
const ended = await machine();
mkdirSync(dirname(join(ROOT, values.out)), { recursive: true });
writeFileSync(
  join(ROOT, values.out),
  JSON.stringify({ bench: 'filters', started, ended, size: n, dim, queries: queryCount, rows }, null, 1),
);
console.log(
  `\nFiltered scans: ${n} x ${dim}, ${queryCount} queries, k = 10, ${started.cpu}, load ${started.load.join(' / ')}`,
);
console.log(
  '| encoding | filter | selectivity | rows passing | query p50 ms | query p95 ms | predicate alone ms | by rows, first / warm ms |',
);
console.log('|---|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.encoding} | ${r.filter} | ${r.selectivity} | ${r.matched} | ${r.p50_ms.toFixed(2)} | ${r.p95_ms.toFixed(2)} | ${r.predicate_ms.toFixed(2)} | ${r.predicate_rows_cold_ms.toFixed(2)} / ${r.predicate_rows_ms.toFixed(2)} |`,
  );
}
