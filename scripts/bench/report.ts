/**
 * Writes the generated part of docs/benchmarks.md and the plots under docs/plots/ from the results
 * the benchmarks left in build/bench/ (JSON of filters.ts, text-towers*.json, cold-start.ts,
 * stack.ts; the search kernel's printed tables, search-kernel.md, or else the Search kernel table
 * already in docs/benchmarks.md). Only the text between the two markers below is replaced; the
 * hand-written history around it is kept. Plots: vega-lite specs compiled by vega-lite and
 * rendered to SVG by vega (pinned devDependencies), each titled with its machine, runs and spread.
 *
 *   npm run bench:report -- [--in build/bench] [--doc docs/benchmarks.md] [--plots docs/plots]
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    in: { type: 'string', default: 'build/bench' },
    doc: { type: 'string', default: 'docs/benchmarks.md' },
    plots: { type: 'string', default: 'docs/plots' },
  },
});
export const START =
  '<!-- bench:generated:start (npm run bench writes this part; edit scripts/bench/report.ts) -->';
export const END = '<!-- bench:generated:end -->';
const inDir = join(ROOT, values.in);
const plotDir = join(ROOT, values.plots);
mkdirSync(plotDir, { recursive: true });

interface Machine {
  cpu: string;
  cores: number;
  load: number[];
  at: string;
}
const read = <T>(name: string): T | undefined =>
  existsSync(join(inDir, name)) ? (JSON.parse(readFileSync(join(inDir, name), 'utf8')) as T) : undefined;
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const machineLine = (a: Machine, b?: Machine) =>
  `${a.cpu}, ${a.cores} cores, ${a.at.slice(0, 16).replace('T', ' ')} UTC, load average ${a.load[0]}` +
  (b ? ` -> ${b.load[0]} (${b.at.slice(11, 16)})` : '');

async function plot(name: string, spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  writeFileSync(join(plotDir, `${name}.svg`), svg);
  return `plots/${name}.svg`;
}

const out: string[] = [START, ''];
const generatedAt = new Date().toISOString().slice(0, 16).replace('T', ' ');
out.push(
  `Generated ${generatedAt} UTC by \`npm run bench\` (scripts/bench/run-all.ts, then report.ts) from the`,
  'results in build/bench/. Each table names its command, machine, runs and spread.',
  '',
);

// --------------------------------------------------------------------------- filtered scans
interface FilterRow {
  encoding: string;
  filter: string;
  selectivity: string;
  matched: number;
  p50_ms: number;
  p95_ms: number;
  predicate_ms: number;
  /** Absent in runs before the row path existed. */
  predicate_rows_cold_ms?: number;
  predicate_rows_ms?: number;
  query_ms: number[];
}
const filters = read<{
  started: Machine;
  ended: Machine;
  size: number;
  dim: number;
  queries: number;
  rows: FilterRow[];
}>('filters.json');
if (filters) {
  out.push(
    '### Filtered scans (`npm run bench:filters`)',
    '',
    `${filters.size} x ${filters.dim} vectors, top-10 with \`referencePage\` (the JS loop; the filter is compiled`,
    `once per search, then every row's metadata is tested before its vector is scored), ${filters.queries} queries`,
    `per row, one run. ${machineLine(filters.started, filters.ended)}.`,
    '',
    '"predicate alone" is the filter over every row\'s metadata (the JS loop\'s path); "by rows" is the',
    "kernel mask's path (by row number per segment, ISO dates from a column parsed once per segment: its",
    'first use, then warm).',
    '',
    '| encoding | filter | selectivity | rows passing | query p50 ms | query p95 ms | min-max ms | predicate alone, all rows, ms | by rows, first / warm ms |',
    '|---|---|---|---:|---:|---:|---|---:|---:|',
  );
  for (const r of filters.rows) {
    const byRows =
      r.predicate_rows_ms === undefined
        ? ''
        : `${f2(r.predicate_rows_cold_ms ?? Number.NaN)} / ${f2(r.predicate_rows_ms)}`;
    out.push(
      `| ${r.encoding} | ${r.filter} | ${r.selectivity} | ${r.matched} | ${f2(r.p50_ms)} | ${f2(r.p95_ms)} | ${f1(Math.min(...r.query_ms))}-${f1(Math.max(...r.query_ms))} | ${f2(r.predicate_ms)} | ${byRows} |`,
    );
  }
  out.push('');
}

// ----------------------------------------------------------------------------- text towers
interface Point {
  shape: string;
  variant: string;
  runtime: string;
  lever: string;
  tokens: number;
  batch: number;
  samples_ms: number[];
  p50_ms: number;
  p95_ms: number;
  min_ms: number;
  max_ms: number;
  runs_per_sample: number;
}
interface MemoryRow {
  shape: string;
  variant: string;
  runtime: string;
  lever: string;
  file_bytes: number;
  memory_bytes: number;
  memory_kind: string;
  create_ms: number;
  fetch_ms?: number;
  first_run_ms?: number;
  fresh_isolate: boolean;
}
interface TowerRun {
  started: Machine;
  ended: Machine | null;
  runs: number;
  node_runs: number;
  points: Point[];
  memory: MemoryRow[];
}
const towerRuns = readdirSync(inDir)
  .filter((f) => /^text-towers.*\.json$/.test(f))
  .sort()
  .map((f) => ({ file: f, run: read<TowerRun>(f) as TowerRun }));
const points = towerRuns.flatMap((t) => t.run.points);
const memory = towerRuns.flatMap((t) => t.run.memory);
if (points.length > 0) {
  out.push(
    '### Text towers at real sizes (`npm run bench:towers`)',
    '',
    'Random-weight towers written by `python -m koclip_kit.bench_towers`: base (12 x 768, FFN 3072, vocab',
    '32,000), student (4 x 512, FFN 2048) and student-384 (4 x 384, FFN 1536: the shape `distill` trains by',
    "default), vocab 32,000, projection 512. Variants: `int8` the kit's own int8 (as `export` ships it;",
    "edge packages ship it as `int8-ext`, with its weights as ONNX external data), `ortq` onnxruntime's",
    'quantize_dynamic, `fused-int8` onnxruntime.transformers',
    'BERT fusions (Attention, SkipLayerNormalization, BiasGelu) then quantize_dynamic, `-ext` the same with',
    'its weights as ONNX external data, `fp32` unquantised. Runtimes: workerd (wrangler dev, the debug probe',
    "of src/edge/debug/route.ts; a sample is the mean of 5 runs inside one request, since workerd's clock",
    'ticks in 1 ms steps), onnxruntime-web 1.30 under Node (wasm, 1 thread) and onnxruntime-node 1.30',
    '(1 intra-op thread); Node samples are single runs. One sequence of token ids per run (batch 1) unless',
    'the lever says otherwise.',
    '',
  );
  for (const t of towerRuns) {
    out.push(
      `- ${t.file}: ${machineLine(t.run.started, t.run.ended ?? undefined)}; ${t.run.runs} runs per point in workerd, ${t.run.node_runs} under Node.`,
    );
  }
  out.push(
    '',
    'Latency, p50 ms (min-max of the samples), default session options:',
    '',
    '| shape | variant | runtime | 8 tokens | 16 tokens | 32 tokens | 64 tokens |',
    '|---|---|---|---|---|---|---|',
  );
  const keyOf = (p: Point) => `${p.shape}|${p.variant}|${p.runtime}`;
  const defaults = points.filter((p) => p.lever === 'default' && p.batch === 1);
  const keys = [...new Set(defaults.map(keyOf))].sort();
  for (const key of keys) {
    const [shape, variant, runtime] = key.split('|');
    const cells = [8, 16, 32, 64].map((t) => {
      const p = defaults.find((d) => keyOf(d) === key && d.tokens === t);
      return p ? `${f1(p.p50_ms)} (${f1(p.min_ms)}-${f1(p.max_ms)})` : '';
    });
    out.push(`| ${shape} | ${variant} | ${runtime} | ${cells.join(' | ')} |`);
  }
  const levers = points.filter((p) => p.runtime === 'workerd' && p.tokens === 16);
  if (levers.length > 0) {
    out.push(
      '',
      'Levers in workerd at 16 tokens (p50 ms per run; "8 queries/run" is one run of a batch of 8, and its',
      'per-query figure is the run divided by 8):',
      '',
      '| shape | variant | lever | p50 ms per run | min-max | per query ms |',
      '|---|---|---|---:|---|---:|',
    );
    for (const p of levers) {
      out.push(
        `| ${p.shape} | ${p.variant} | ${p.lever} | ${f1(p.p50_ms)} | ${f1(p.min_ms)}-${f1(p.max_ms)} | ${f1(p.p50_ms / p.batch)} |`,
      );
    }
  }
  out.push(
    '',
    'Memory after load (wasm linear memory for onnxruntime-web, a high-water mark; RSS growth over session',
    'creation for onnxruntime-node). "fresh" rows are the first session of a new isolate or process; the',
    'others ran after an earlier session in the same isolate, so their wasm figure is not their own. In',
    "workerd the create time of a fresh isolate includes instantiating ORT's wasm; fetch is the local R2 read:",
    '',
    '| shape | variant | runtime | lever | file MiB | memory MiB | memory / file | fetch ms | create ms | first run ms | fresh |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const m of memory) {
    out.push(
      `| ${m.shape} | ${m.variant} | ${m.runtime} | ${m.lever} | ${mib(m.file_bytes)} | ${mib(m.memory_bytes)} (${m.memory_kind}) | ${f2(m.memory_bytes / m.file_bytes)} | ${m.fetch_ms ?? ''} | ${Math.round(m.create_ms)} | ${m.first_run_ms ?? ''} | ${m.fresh_isolate ? 'yes' : 'no'} |`,
    );
  }
  const tokenPoints = defaults.filter((p) => ['int8', 'fused-int8-ext', 'fused-int8'].includes(p.variant));
  const first = towerRuns[0]?.run.started as Machine;
  const src = await plot('text-towers-latency', {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Text tower latency against tokens (p50, bars: min-max of the samples)',
      subtitle: [
        `${first.cpu}, ${first.cores} cores shared (load average ${first.load[0]} at start); batch 1;`,
        `workerd: ${towerRuns[0]?.run.runs} runs per point in groups of 5; Node: ${towerRuns[0]?.run.node_runs} single runs`,
      ],
    },
    data: {
      values: tokenPoints.map((p) => ({
        tokens: p.tokens,
        p50: p.p50_ms,
        min: p.min_ms,
        max: p.max_ms,
        series: `${p.runtime} ${p.variant}`,
        shape: p.shape,
      })),
    },
    facet: { column: { field: 'shape', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 260,
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: {
              field: 'tokens',
              type: 'quantitative',
              scale: { type: 'log', base: 2 },
              axis: { values: [8, 16, 32, 64] },
            },
            y: { field: 'p50', type: 'quantitative', scale: { type: 'log' }, title: 'ms per run' },
            color: {
              field: 'series',
              type: 'nominal',
              title: 'runtime, variant',
              legend: { labelLimit: 300 },
            },
          },
        },
        {
          mark: 'rule',
          encoding: {
            x: { field: 'tokens', type: 'quantitative' },
            y: { field: 'min', type: 'quantitative' },
            y2: { field: 'max' },
            color: { field: 'series', type: 'nominal' },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as vl.TopLevelSpec);
  out.push('', `![Text tower latency against tokens](${src})`, '');
}

// ------------------------------------------------------------------------------- cold start
const cold = read<{
  started: Machine;
  ended: Machine;
  wasm_bytes: number;
  compile_ms: number[];
  starts: {
    cold: { worker_ms: number; round_trip_ms: number };
    warm: { worker_ms: number };
    startup_ms: number;
  }[];
}>('cold-start.json');
if (cold) {
  out.push(
    '### Cold start (`npm run bench:cold`)',
    '',
    `koclip-tiny (int8 tower bundled with the Worker): a fresh \`wrangler dev\` per start, then the first`,
    `POST /v1/embeddings (ORT's wasm instantiated, session created, one run) by the route's Server-Timing`,
    `(in Worker, 1 ms clock) and as a round trip; ${cold.starts.length} starts, one run each. ORT's wasm`,
    `(${(cold.wasm_bytes / 1e6).toFixed(1)} MB) is compiled when workerd loads the script, before the first request:`,
    `V8 under Node compiles it in ${cold.compile_ms.map((c) => c.toFixed(0)).join(' / ')} ms (3 runs; the first is cold).`,
    `${machineLine(cold.started, cold.ended)}.`,
    '',
    '| start | first embedding in Worker ms | first round trip ms | warm request in Worker ms |',
    '|---:|---:|---:|---:|',
  );
  for (const [i, s] of cold.starts.entries()) {
    out.push(`| ${i + 1} | ${s.cold.worker_ms} | ${s.cold.round_trip_ms.toFixed(0)} | ${s.warm.worker_ms} |`);
  }
  const student = memory.filter((m) => m.runtime === 'workerd' && m.fresh_isolate);
  if (student.length > 0) {
    out.push(
      '',
      'Towers from R2 (the first session of each fresh isolate in the text-tower run: local R2 read, ORT',
      'instantiated and session created, first run at 16 tokens):',
      '',
      '| shape | variant | lever | R2 read ms | create ms | first run ms | total ms |',
      '|---|---|---|---:|---:|---:|---:|',
    );
    for (const m of student) {
      const total = (m.fetch_ms ?? 0) + m.create_ms + (m.first_run_ms ?? 0);
      out.push(
        `| ${m.shape} | ${m.variant} | ${m.lever} | ${m.fetch_ms} | ${Math.round(m.create_ms)} | ${m.first_run_ms} | ${Math.round(total)} |`,
      );
    }
  }
  out.push('');
}

// ----------------------------------------------------------------------------- stack: cache + load
type StackRun = {
  started: Machine;
  ended: Machine;
  repeat: number;
  autocannon: string;
  caching: Record<string, { n: number; per_request_ms: number; statuses: Record<string, number> }>;
  load: null | {
    connections: number;
    duration_s: number;
    requests_total: number;
    throughput_rps: number;
    rps_min: number;
    rps_max: number;
    latency_ms: Record<string, number>;
    errors: number;
    timeouts: number;
    non2xx: number;
    status_codes: Record<string, { count: number }>;
    mix: string;
  };
  samples: { t_s: number; workerd_rss_bytes: number; wasm_bytes: number; completed?: number }[];
};
const stack = read<StackRun>('stack.json');
if (stack) {
  out.push(
    '### Caching (`npm run bench:stack`)',
    '',
    `The local stack (scripts/stack/main.ts, what \`npm start\` runs; demo set seeded). Worker time per request:`,
    `each request sent ${stack.repeat} times through the app inside one request (POST /debug/repeat), total / n,`,
    `after a pass of 20 to warm; one run. ${machineLine(stack.started)}.`,
    '',
    '| request | Worker ms per request | requests | statuses (X-Cache) |',
    '|---|---:|---:|---|',
  );
  for (const [name, r] of Object.entries(stack.caching)) {
    out.push(
      `| ${name} | ${r.per_request_ms.toFixed(3)} | ${r.n} | ${JSON.stringify(r.statuses).replace(/"/g, '')} |`,
    );
  }
  out.push('');
  if (stack.load) await loadSection(stack, 'load-over-time', 'Load (`npm run bench:stack`)');
}
const stackLong = read<StackRun>('stack-long.json');
if (stackLong?.load) {
  await loadSection(stackLong, 'load-long-over-time', 'Load for 5 minutes (`npm run bench:stack-long`)');
}

/** The load run's table, memory line and plot (the 60 s run of bench:stack, or the 5-minute one). */
async function loadSection(stack: StackRun, plotName: string, heading: string) {
  const l = stack.load;
  if (!l) return;
  out.push(
    `### ${heading}`,
    '',
    `autocannon ${stack.autocannon} on loopback: ${l.connections} connections for ${l.duration_s} s, ${l.mix}. One run.`,
    `${machineLine(stack.started, stack.ended)}; the load tool, the encoder and wrangler dev share the machine.`,
    '',
    '| requests | throughput req/s (min-max per second) | p50 ms | p90 ms | p97.5 ms | p99 ms | max ms | errors | timeouts | non-2xx |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${l.requests_total} | ${f1(l.throughput_rps)} (${l.rps_min}-${l.rps_max}) | ${l.latency_ms.p50} | ${l.latency_ms.p90} | ${l.latency_ms.p97_5} | ${l.latency_ms.p99} | ${l.latency_ms.max} | ${l.errors} | ${l.timeouts} | ${l.non2xx} |`,
    '',
  );
  const s = stack.samples;
  if (s.length > 1) {
    const rss = s.map((x) => x.workerd_rss_bytes);
    const wasm = s.map((x) => x.wasm_bytes).filter(Number.isFinite);
    out.push(
      `Sampled every 2 s (${s.length} samples): workerd RSS ${mib(Math.min(...rss))}-${mib(Math.max(...rss))} MiB`,
      `(first ${mib(rss[0] as number)}, last ${mib(rss[rss.length - 1] as number)}), ORT wasm memory ${mib(Math.min(...wasm))}-${mib(Math.max(...wasm))} MiB.`,
      '',
    );
    const byPid = s.map((x) => (x as { workerd_rss_by_pid?: Record<string, number> }).workerd_rss_by_pid);
    const first = byPid[0];
    if (first && Object.keys(first).length > 1) {
      // The smaller process at the start is wrangler dev's proxy, the larger the Worker's isolate.
      const pids = Object.keys(first).sort((a, b) => (first[a] as number) - (first[b] as number));
      const at = (t: number) => s.findIndex((x) => x.t_s >= t);
      const marks = [0, at(40), at(l.duration_s / 2), s.length - 1].filter((i) => i >= 0);
      out.push(
        `| workerd process | ${marks.map((i) => `t = ${Math.round(s[i]?.t_s ?? 0)} s`).join(' | ')} |`,
        `|---|${marks.map(() => '---:').join('|')}|`,
        ...pids.map(
          (pid, j) =>
            `| ${j === 0 ? "wrangler dev's proxy" : "the Worker's"} (RSS MiB) | ` +
            marks.map((i) => mib(byPid[i]?.[pid] ?? Number.NaN)).join(' | ') +
            ' |',
        ),
        '',
      );
    }
    const series = s.flatMap((x, i) => {
      const prev = s[i - 1];
      const rate =
        prev && x.completed !== undefined && prev.completed !== undefined
          ? (x.completed - prev.completed) / (x.t_s - prev.t_s)
          : undefined;
      return [
        { t: x.t_s, value: x.workerd_rss_bytes / 2 ** 20, metric: 'workerd RSS (MiB)' },
        { t: x.t_s, value: x.wasm_bytes / 2 ** 20, metric: 'ORT wasm memory (MiB)' },
        ...(rate === undefined ? [] : [{ t: x.t_s, value: rate, metric: 'completed requests/s' }]),
      ];
    });
    const src = await plot(plotName, {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: `Load run: ${l.connections} clients, ${l.duration_s} s, search + score (one run)`,
        subtitle: `${stack.started.cpu}, ${stack.started.cores} cores shared (load average ${stack.started.load[0]}); samples every 2 s`,
      },
      data: { values: series },
      facet: { row: { field: 'metric', type: 'nominal', title: null } },
      spec: {
        width: 520,
        height: 120,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds into the run' },
          y: { field: 'value', type: 'quantitative', title: null, scale: { zero: true } },
        },
      },
      resolve: { scale: { y: 'independent' } },
    } as vl.TopLevelSpec);
    out.push(`![Load run over time](${src})`, '');
  }
}

// --------------------------------------------------------------------- wasm SIMD ceiling
if (existsSync(join(inDir, 'wasm-peak.md'))) {
  out.push(
    '### The ceiling of wasm SIMD (`npm run bench:wasm-peak`)',
    '',
    "scripts/bench/wasm-peak.ts's own tables: multiply-adds a second of wasm SIMD128's best loops",
    "(scripts/bench/wasm-peak/peak.as.ts) in Node and workerd, against the base tower's rate.",
    '',
    readFileSync(join(inDir, 'wasm-peak.md'), 'utf8').trim(),
    '',
  );
}

// --------------------------------------------------------------------- search kernel vs size
const doc = readFileSync(join(ROOT, values.doc), 'utf8');
const kernelText = existsSync(join(inDir, 'search-kernel.md'))
  ? readFileSync(join(inDir, 'search-kernel.md'), 'utf8')
  : (doc.split('## Search kernel')[1] ?? '').split(START)[0];
// The first table of the kernel's output (random 512-dim vectors); later ones are other data sets.
const kernelTable = (kernelText ?? '')
  .split(/\n\s*\n/)
  .find((block) => /^\| vectors \| engine \|/m.test(block));
const kernelRows = (kernelTable ?? '')
  .split('\n')
  .map((line) => line.split('|').map((c) => c.trim()))
  .filter((c) => c.length > 5 && /^\d+$/.test(c[1] ?? '') && /^[\d.]+$/.test(c[3] ?? ''))
  .map((c) => ({ vectors: Number(c[1]), engine: c[2] as string, p50: Number(c[3]), p95: Number(c[4]) }))
  .filter((r) => !/k = 1000|rows allowed/.test(r.engine));
if (kernelRows.length > 0) {
  const src = await plot('search-latency-vs-size', {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Top-10 search latency against index size (512 dims, p50; bars to p95)',
      subtitle: [
        `bench:kernel (scripts/bench/search-kernel.ts): ${(kernelText ?? '').split('\n')[0]?.slice(0, 110) ?? ''}`,
        '50 queries x 3 runs, 10 searches per query in workerd; the machine is named in the section',
      ],
    },
    data: { values: kernelRows },
    width: 520,
    height: 320,
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: {
            field: 'vectors',
            type: 'quantitative',
            scale: { type: 'log' },
            title: 'vectors in the index',
          },
          y: { field: 'p50', type: 'quantitative', scale: { type: 'log' }, title: 'ms per query' },
          color: { field: 'engine', type: 'nominal', legend: { labelLimit: 320 } },
        },
      },
      {
        mark: { type: 'rule' },
        encoding: {
          x: { field: 'vectors', type: 'quantitative' },
          y: { field: 'p50', type: 'quantitative' },
          y2: { field: 'p95' },
          color: { field: 'engine', type: 'nominal' },
        },
      },
    ],
  } as vl.TopLevelSpec);
  out.push(
    '### Search latency against index size',
    '',
    "Drawn from the Search kernel table (the kernel engineer's benchmark; every engine it measures except",
    'the k = 1000 and filtered rows).',
    '',
    `![Search latency against index size](${src})`,
    '',
  );
}

out.push(END);
const section = out.join('\n');
let next: string;
if (doc.includes(START) && doc.includes(END)) {
  next = doc.slice(0, doc.indexOf(START)) + section + doc.slice(doc.indexOf(END) + END.length);
} else {
  next = `${doc.trimEnd()}\n\n## Generated benchmark tables (npm run bench)\n\n${section}\n`;
}
writeFileSync(join(ROOT, values.doc), next);
console.log(
  `wrote ${values.doc} (generated section, ${section.length} characters) and ${values.plots}/*.svg`,
);
