/**
 * Search kernel benchmark: per-query latency (p50 / p95) and recall@10 against fp32 exact search,
 * side by side, for
 *   - the JS reference loop (referencePage of src/edge/search/reference-ranking.ts over decoded
 *     fp16 and int8 segments of DEFAULT_SEGMENT_SIZE rows, as the Worker holds them),
 *   - the WebAssembly kernel (src/edge/search/kernel) under Node, per residual setting,
 *   - faiss-cpu IndexFlatIP on one thread over the same float32 vectors (scripts/bench/faiss_flat.py),
 *   - the kernel inside workerd (the bench Worker of scripts/bench/workerd-kernel, started here
 *     with wrangler dev; latency is the mean of `reps` back-to-back searches per query because
 *     workerd's clock ticks in 1 ms steps).
 * Vectors: the clustered random unit vectors of bench:search (64 clusters, seed 1; queries seed 2).
 * `--real FILE --real-queries FILE --real-dim 256` adds the same comparison over real embeddings.
 *
 *   npm run bench:kernel -- \
 *     [--sizes 10000,50000,100000] [--dim 512] [--queries 50] [--runs 3] [--bits 0,1,2]
 *     [--python scripts/bench/.venv/bin/python | --no-faiss] [--no-workerd] [--reps 20]
 *     [--real /tmp/koclip-emb.f32 --real-queries /tmp/koclip-queries.f32 --real-dim 256]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  decodeSegment,
  encodeSegment,
  type Segment,
  type SegmentEncoding,
} from '../../src/core/index-format/segment';
import { TopK } from '../../src/core/vector';
import { buildKernelIndex, type KernelIndex, type ResidualBits } from '../../src/edge/search/kernel';
import { referencePage } from '../../src/edge/search/reference-ranking';
import { clusteredVectors, randomUnitVectors } from '../../test/core/support/random-vectors';
import { loadKernelModule } from './kernel-module';
import { startKernelWorker } from './support/kernel-worker';

/** faiss-cpu and numpy, pinned, in their own venv (PyPI wheels; the kit's venv is Debian's torch). */
const FAISS_PINS = ['faiss-cpu==1.15.1', 'numpy==2.4.6'];
const FAISS_VENV_PYTHON = 'scripts/bench/.venv/bin/python';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,50000,100000' },
    dim: { type: 'string', default: '512' },
    queries: { type: 'string', default: '200' },
    'time-queries': { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    bits: { type: 'string', default: '0,1,2' },
    python: { type: 'string', default: FAISS_VENV_PYTHON },
    'no-faiss': { type: 'boolean', default: false },
    'no-workerd': { type: 'boolean', default: false },
    'workerd-bits': { type: 'string', default: '0,2' },
    reps: { type: 'string', default: '10' },
    port: { type: 'string', default: '8799' },
    real: { type: 'string' },
    'real-queries': { type: 'string' },
    'real-dim': { type: 'string', default: '256' },
    'real-extra': { type: 'string', default: 'models/koclip-tiny/demo/embeddings.f32' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const dim = Number(values.dim);
const queryCount = Number(values.queries);
const runs = Number(values.runs);
const timeQueryCount = Number(values['time-queries']);
const bitsList = values.bits.split(',').map(Number) as ResidualBits[];
const K = 10;
/** Rows per segment, as the index store writes them (DEFAULT_SEGMENT_SIZE when this was written). */
const DEFAULT_SEGMENT_SIZE = 4096;
const kernelModule = loadKernelModule();

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

interface Timed {
  /** every query's latency over all runs, sorted */
  all: number[];
  /** each run's p50 */
  runP50: number[];
}

/** Latency over the first `time-queries` queries, `runs` passes (recall uses all the queries). */
function timeQueries(allQueries: Float32Array[], search: (q: Float32Array) => void): Timed {
  const queries = allQueries.slice(0, timeQueryCount);
  search(queries[0] as Float32Array); // warm-up
  const all: number[] = [];
  const runP50: number[] = [];
  for (let r = 0; r < runs; r++) {
    const times: number[] = [];
    for (const q of queries) {
      const t = performance.now();
      search(q);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    runP50.push(percentile(times, 50));
    all.push(...times);
  }
  return { all: all.sort((a, b) => a - b), runP50 };
}

/** fp32 exact top-k (float64 sums over the float32 vectors), the ground truth. */
function exactTopK(vectors: Float32Array[], q: Float32Array, k: number): number[] {
  const top = new TopK(k);
  for (let r = 0; r < vectors.length; r++) {
    const v = vectors[r] as Float32Array;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += (v[i] as number) * (q[i] as number);
    if (s > top.threshold) top.push(r, s);
  }
  return top.sorted().map((h) => h.index);
}

function recall(truth: number[][], got: number[][]): number {
  let hit = 0;
  let total = 0;
  truth.forEach((t, i) => {
    const g = new Set((got[i] ?? []).slice(0, K));
    for (const r of t.slice(0, K)) if (g.has(r)) hit++;
    total += Math.min(K, t.length);
  });
  return hit / total;
}

async function segmentsOf(vectors: Float32Array[], d: number, encoding: SegmentEncoding): Promise<Segment[]> {
  const out: Segment[] = [];
  for (let start = 0; start < vectors.length; start += DEFAULT_SEGMENT_SIZE) {
    const items = vectors
      .slice(start, start + DEFAULT_SEGMENT_SIZE)
      .map((vector, j) => ({ id: `r${start + j}`, vector }));
    out.push(
      await decodeSegment(await encodeSegment({ model: 'bench', version: '1', dim: d, encoding, items })),
    );
  }
  return out;
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB)`;

function row(
  n: number,
  engine: string,
  t: Timed | { p50: number; p95: number; spread: string },
  rec: number,
  memory: string,
  note = '',
) {
  const p50 = 'all' in t ? percentile(t.all, 50) : t.p50;
  const p95 = 'all' in t ? percentile(t.all, 95) : t.p95;
  const spread = 'all' in t ? `${fmt(Math.min(...t.runP50))}-${fmt(Math.max(...t.runP50))}` : t.spread;
  console.log(
    `| ${n} | ${engine} | ${fmt(p50)} | ${fmt(p95)} | ${spread} | ${Number.isNaN(rec) ? '-' : rec.toFixed(4)} | ${memory} | ${note} |`,
  );
}

/** The default venv is made on first use, so that `npm run bench` always has faiss beside the kernel. */
function faissPython(): string | undefined {
  if (existsSync(values.python)) return values.python;
  if (values.python !== FAISS_VENV_PYTHON) {
    console.error(`faiss skipped: no ${values.python}`);
    return undefined;
  }
  console.error(`making scripts/bench/.venv with ${FAISS_PINS.join(' ')} (once)`);
  const steps: [string, string[]][] = [
    ['python3', ['-m', 'venv', 'scripts/bench/.venv']],
    [FAISS_VENV_PYTHON, ['-m', 'pip', 'install', '--quiet', ...FAISS_PINS]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (use --no-faiss to skip faiss)`);
  }
  return FAISS_VENV_PYTHON;
}

function faiss(
  vectors: Float32Array[],
  queries: Float32Array[],
  d: number,
): { times: number[]; rows: number[][]; version: string } | undefined {
  if (values['no-faiss']) return undefined;
  const python = faissPython();
  if (!python) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'kernel-bench-'));
  try {
    const flat = (list: Float32Array[]) => {
      const out = new Float32Array(list.length * d);
      for (const [i, v] of list.entries()) out.set(v, i * d);
      return Buffer.from(out.buffer);
    };
    writeFileSync(join(dir, 'xb.f32'), flat(vectors));
    writeFileSync(join(dir, 'xq.f32'), flat(queries));
    const r = spawnSync(
      python,
      [
        'scripts/bench/faiss_flat.py',
        join(dir, 'xb.f32'),
        join(dir, 'xq.f32'),
        String(d),
        String(K),
        String(runs),
      ],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 28,
        env: { ...process.env, OMP_NUM_THREADS: '1' },
      },
    );
    if (r.status !== 0) throw new Error(`faiss_flat.py failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { faiss: string; times_ms: number[]; rows: number[][] };
    return { times: out.times_ms, rows: out.rows, version: out.faiss };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const startWorkerd = () => startKernelWorker(values.port);

interface WorkerdRun {
  p50: number;
  p95: number;
  perQuery: number[];
  rows: number[][];
  memory: { totalBytes: number };
  buildMs: number;
  certified: number;
  js?: { p50: number; p95: number; runs: number; rows: number[][] };
}

async function main() {
  // The streaming generator must give bench:search's vectors exactly.
  const a = randomUnitVectors(100, 24, 1, 64);
  const b = [...clusteredVectors(100, 24, 1, 64)];
  if (!a.every((v, i) => v.every((x, j) => x === (b[i] as Float32Array)[j])))
    throw new Error('generator mismatch');

  const load = (await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  console.log(
    `node ${process.version}, dim ${dim}, recall over ${queryCount} queries, latency over ${timeQueryCount} queries x ${runs} runs, k = ${K}, load average ${load}, ${new Date().toISOString()}`,
  );
  console.log(
    '| vectors | engine | p50 ms | p95 ms | p50 range over runs | recall@10 vs fp32 | memory | notes |',
  );
  console.log('|---:|---|---:|---:|---|---:|---:|---|');
  for (const n of sizes) {
    const vectors = [...clusteredVectors(n, dim, 1, 64)];
    const queries = [...clusteredVectors(queryCount, dim, 2, 64)];
    await compare(n, dim, vectors, queries, true);
    if (values['no-workerd']) continue;
    const truth = queries.map((q) => exactTopK(vectors, q, K));
    for (const bits of values['workerd-bits'].split(',').map(Number)) {
      // A fresh workerd per index, so one index's memory never meets the next's.
      const workerd = await startWorkerd();
      try {
        const p50s: number[] = [];
        const all: number[] = [];
        let first: WorkerdRun | undefined;
        for (let r = 0; r < runs; r++) {
          const js = r === 0 && bits === 0 ? '&js=1' : '';
          const res = await fetch(
            `${workerd.url}/run?n=${n}&dim=${dim}&bits=${bits}&k=${K}&queries=${queryCount}&reps=${values.reps}${js}`,
          );
          if (!res.ok) throw new Error(`workerd bench: ${res.status} ${await res.text()}`);
          const w = (await res.json()) as WorkerdRun;
          first ??= w;
          p50s.push(w.p50);
          all.push(...w.perQuery);
        }
        const w = first as WorkerdRun;
        all.sort((x, y) => x - y);
        row(
          n,
          `kernel in workerd, residual ${bits} bits`,
          { all, runP50: p50s },
          recall(truth, w.rows),
          mb(w.memory.totalBytes),
          `each query's time is the mean of ${values.reps} back-to-back searches; build ${w.buildMs} ms in workerd; fast path ${w.certified}/${queryCount}`,
        );
        if (w.js) {
          row(
            n,
            'JS loop (referencePage) in workerd, int8 codes',
            { p50: w.js.p50, p95: w.js.p95, spread: `(${w.js.runs} queries, 1 ms clock)` },
            recall(truth.slice(0, w.js.runs), w.js.rows),
            mb(n * dim + n * 4),
            '',
          );
        }
      } finally {
        await workerd.stop();
      }
    }
  }
  if (values.real) {
    const d = Number(values['real-dim']);
    const read = (path: string) => {
      const buf = readFileSync(path);
      const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      return Array.from({ length: all.length / d }, (_, i) => all.slice(i * d, (i + 1) * d));
    };
    const extra = values['real-extra'] && existsSync(values['real-extra']) ? read(values['real-extra']) : [];
    const vectors = [...extra, ...read(values.real)];
    const queries = values['real-queries'] ? read(values['real-queries']) : vectors.slice(0, queryCount);
    console.log(
      `\nreal embeddings: ${vectors.length} x ${d} (${extra.length} from ${values['real-extra']}), ${queries.length} queries`,
    );
    console.log(
      '| vectors | engine | p50 ms | p95 ms | p50 range over runs | recall@10 vs fp32 | memory | notes |',
    );
    console.log('|---:|---|---:|---:|---|---:|---:|---|');
    await compare(vectors.length, d, vectors, queries, false);
  }
}

async function compare(
  n: number,
  d: number,
  vectors: Float32Array[],
  queries: Float32Array[],
  withFaiss: boolean,
) {
  const truth = queries.map((q) => exactTopK(vectors, q, K));
  for (const encoding of ['fp16', 'int8'] as SegmentEncoding[]) {
    const segments = await segmentsOf(vectors, d, encoding);
    const got: number[][] = queries.map((q) =>
      referencePage(segments, q, { k: K }).hits.map((h) => Number(h.id.slice(1))),
    );
    const t = timeQueries(queries, (q) => referencePage(segments, q, { k: K }));
    const bytes = segments.reduce((s, seg) => s + seg.vectors.byteLength + seg.scales.byteLength, 0);
    row(
      n,
      `JS loop (referencePage), ${encoding} segments`,
      t,
      recall(truth, got),
      mb(bytes),
      'vectors + scales only',
    );
  }
  for (const bits of bitsList) {
    let index: KernelIndex | undefined = buildKernelIndex(kernelModule, d, vectors, { residualBits: bits });
    const idx = index;
    let certified = 0;
    const got = queries.map((q) => {
      const hits = idx.search(q, K).map((h) => h.row);
      if (idx.lastStats.fastPath) certified++;
      return hits;
    });
    const t = timeQueries(queries, (q) => idx.search(q, K));
    row(
      n,
      `kernel (Node), residual ${bits} bits`,
      t,
      recall(truth, got),
      mb(idx.memory.totalBytes),
      `fast path ${certified}/${queries.length}`,
    );
    if (bits === bitsList[bitsList.length - 1]) {
      const t1000 = timeQueries(queries, (q) => idx.search(q, Math.min(1000, n)));
      row(
        n,
        `kernel (Node), residual ${bits} bits, k = 1000`,
        t1000,
        Number.NaN,
        mb(idx.memory.totalBytes),
        'recall not measured',
      );
      const mask = new Uint8Array(Math.ceil(n / 8)).fill(0x01); // every 8th row
      const gotMasked = queries.map((q) => idx.search(q, K, { allowed: mask }).map((h) => h.row));
      const truthMasked = queries.map((q) =>
        exactTopK(
          vectors.filter((_, r) => r % 8 === 0),
          q,
          K,
        ).map((r) => r * 8),
      );
      const tm = timeQueries(queries, (q) => idx.search(q, K, { allowed: mask }));
      row(
        n,
        `kernel (Node), residual ${bits} bits, mask 1/8 rows`,
        tm,
        recall(truthMasked, gotMasked),
        mb(idx.memory.totalBytes),
        'recall vs fp32 over the allowed rows',
      );
    }
    index = undefined;
  }
  if (withFaiss || values.real) {
    const f = faiss(vectors, queries, d);
    if (f) {
      const sorted = [...f.times].sort((x, y) => x - y);
      row(
        n,
        `faiss-cpu ${f.version} IndexFlatIP, 1 thread`,
        { p50: percentile(sorted, 50), p95: percentile(sorted, 95), spread: '(last run)' },
        recall(truth, f.rows),
        mb(n * d * 4),
        'fp32 vectors',
      );
    }
  }
}

await main();
