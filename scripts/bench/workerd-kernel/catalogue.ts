/**
 * Bench route of the kernel bench Worker: the search function /v1/search runs after the query
 * embedding (rankCatalogue of src/edge/search/catalogue-search.ts: kernel store, mask, kernel,
 * rescoring, hits) against the JS loop it replaces, over one catalogue of KSEG segments of
 * clustered random unit vectors (DEFAULT_SEGMENT_ROWS rows each, one dead row per segment,
 * eight colours and one ISO-8601 date per row of metadata), held decoded in the isolate as the
 * segment reads would give them.
 *
 *   GET /catalogue?n=100000&dim=512&encoding=int8&k=10&queries=30&reps=10&jsQueries=10[&filter=colour|date]
 * The kernel's time per query is the mean of `reps` back-to-back searches (workerd's clock ticks
 * in 1 ms steps); the JS loop's is one search per query. `buildMs` is the first search (the
 * kernel index built from the segments). `same` counts queries whose pages are identical.
 */
import {
  DEFAULT_SEGMENT_ROWS,
  decodeSegment,
  encodeSegment,
  type Segment,
  type SegmentEncoding,
} from '../../../src/core/index-format/segment';
import type { CatalogueSegment, CatalogueView } from '../../../src/edge/index';
import { type CatalogueSource, rankCatalogue } from '../../../src/edge/search/catalogue-search';
import type { MetadataFilter } from '../../../src/edge/search/filter';
import { clearKernelStore, kernelStoreStats } from '../../../src/edge/search/kernel';
import type { SearchPage } from '../../../src/edge/search/page';
import { clusteredVectors } from '../../../test/core/support/random-vectors';

const COLOURS = ['red', 'blue', 'green', 'yellow', 'pink', 'brown', 'purple', 'orange'];
/** Row i was taken 10 minutes after row i - 1, from 2020-01-01 (an ISO-8601 date per row). */
const takenAt = (row: number) => new Date(Date.UTC(2020, 0, 1) + row * 600_000).toISOString();

/** `filter=colour` (or 1): colour = red; `filter=date`: the rows taken in the fourth eighth. */
function filterOf(name: string | null, n: number): MetadataFilter | undefined {
  if (name === '1' || name === 'colour') return { colour: 'red' };
  if (name === 'date') return { taken: { $gte: takenAt((3 * n) / 8), $lt: takenAt((4 * n) / 8) } };
  return undefined;
}
const index = { collection: 'bench', model: 'bench', version: '1' };

let built: { key: string; catalogue: CatalogueView; segments: Map<string, Segment> } | undefined;

async function catalogueOf(n: number, dim: number, encoding: SegmentEncoding) {
  const key = `${n}x${dim}/${encoding}`;
  if (built?.key === key) return built;
  built = undefined;
  clearKernelStore();
  const refs: CatalogueSegment[] = [];
  const segments = new Map<string, Segment>();
  const vectors = clusteredVectors(n, dim, 1, 64);
  for (let start = 0; start < n; start += DEFAULT_SEGMENT_ROWS) {
    const count = Math.min(DEFAULT_SEGMENT_ROWS, n - start);
    const items = Array.from({ length: count }, (_, j) => ({
      id: `img-${start + j}`,
      vector: vectors.next().value as Float32Array,
      metadata: { colour: COLOURS[(start + j) % COLOURS.length] as string, taken: takenAt(start + j) },
    }));
    const bytes = await encodeSegment({ model: 'bench', version: '1', dim, encoding, items });
    const segment = await decodeSegment(bytes);
    const ref = {
      id: `seg-${start}`,
      key: `bench/${key}/${start}`,
      etag: 'e',
      count,
      bytes: bytes.byteLength,
      checksum: segment.checksum,
      dead: [0],
      shard: 0,
    };
    refs.push(ref);
    segments.set(ref.key, segment);
  }
  const catalogue: CatalogueView = {
    ...index,
    dim,
    encoding,
    generation: 1,
    count: n - refs.length,
    segments: refs,
    updated_at: null,
  };
  built = { key, catalogue, segments };
  return built;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
const summary = (times: number[]) => {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), runs: times.length, perQuery: times };
};
const samePage = (a: SearchPage, b: SearchPage) =>
  a.nextOffset === b.nextOffset &&
  a.hits.length === b.hits.length &&
  a.hits.every((h, i) => h.id === b.hits[i]?.id && h.score === b.hits[i]?.score);

export async function catalogueBench(url: URL): Promise<Response> {
  const num = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
  const n = num('n', 100_000);
  const dim = num('dim', 512);
  const encoding = (url.searchParams.get('encoding') ?? 'int8') as SegmentEncoding;
  const k = num('k', 10);
  const reps = num('reps', 10);
  const queries = [...clusteredVectors(num('queries', 30), dim, 2, 64)];
  const jsQueries = Math.min(queries.length, num('jsQueries', 10));
  const filter = filterOf(url.searchParams.get('filter'), n);
  const options = { k, ...(filter ? { filter } : {}) };
  const t0 = Date.now();
  const { catalogue, segments } = await catalogueOf(n, dim, encoding);
  const prepareMs = Date.now() - t0;
  const source: CatalogueSource = {
    index,
    catalogue,
    segments: async (refs) => refs.map((ref) => segments.get(ref.key) as Segment),
  };
  const t1 = Date.now();
  const first = await rankCatalogue(source, queries[0] as Float32Array, options);
  const buildMs = Date.now() - t1;
  const kernel: number[] = [];
  const pages: SearchPage[] = [];
  for (const q of queries) {
    const t = Date.now();
    let page = (await rankCatalogue(source, q, options)).page;
    for (let r = 1; r < reps; r++) page = (await rankCatalogue(source, q, options)).page;
    kernel.push((Date.now() - t) / reps);
    pages.push(page);
  }
  const js: number[] = [];
  let same = 0;
  let overlap = 0;
  for (let i = 0; i < jsQueries; i++) {
    const t = Date.now();
    const page = (await rankCatalogue(source, queries[i] as Float32Array, options, { kernel: false })).page;
    js.push(Date.now() - t);
    if (samePage(page, pages[i] as SearchPage)) same++;
    const ids = new Set(page.hits.map((h) => h.id));
    overlap += (pages[i] as SearchPage).hits.filter((h) => ids.has(h.id)).length / Math.max(1, ids.size);
  }
  return Response.json({
    n,
    dim,
    encoding,
    k,
    reps,
    filter: 'filter' in options,
    path: first.path,
    prepareMs,
    buildMs,
    kernel: summary(kernel),
    js: summary(js),
    same,
    overlap: overlap / Math.max(1, jsQueries),
    store: kernelStoreStats(),
  });
}
