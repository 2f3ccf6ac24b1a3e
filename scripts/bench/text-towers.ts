/**
 * Text towers at real sizes, side by side in one run: latency at 8/16/32/64 tokens and memory
 * after load, in workerd (onnxruntime-web inside `wrangler dev`, timed by the debug probe of
 * src/edge/debug/route.ts: groups of runs inside one request, since workerd's clock ticks in 1 ms
 * steps), onnxruntime-web under Node and onnxruntime-node (one thread each; one child process per
 * file, scripts/bench/text-tower-child.ts).
 *
 * Towers: random weights written by the model kit (`python -m koclip_kit.bench_towers`), a
 * base-shaped one (12 x 768, vocab 32,000) and two edge students (4 x 512, and 4 x 384: the shape
 * `distill` trains by default), each as
 *   int8           the kit's int8 (DynamicQuantizeLinear + MatMulInteger), as `export` ships it
 *   int8-ext       the same with its initializers as ONNX external data, as edge packages ship it
 *   ortq           onnxruntime's quantize_dynamic of the same graph
 *   fused-int8     onnxruntime.transformers BERT fusions at export, then quantize_dynamic
 *   fused-int8-ext the same with its initializers as ONNX external data
 *   fp32           the unquantised graph (Node runtimes only)
 * Levers in workerd (16 tokens): graph optimisation level, prepacking off, arena off, 8 queries
 * in one run; every fresh isolate's first session gives the memory after load, and then runs for
 * 3 s untimed (wasm tier-up) before its first timed point.
 *
 *   npm run bench:towers -- [--towers build/towers] [--runs 20] [--node-runs 20] [--tokens 8,16,32,64]
 *     [--shapes base,student,student-384] [--no-workerd] [--no-node] [--out build/bench/text-towers.json]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWorker, TS_RUNNER } from '../stack/index';
import { machine, percentile, postJson, putLocalObject, ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    towers: { type: 'string', default: 'build/towers' },
    runs: { type: 'string', default: '20' },
    'node-runs': { type: 'string', default: '20' },
    tokens: { type: 'string', default: '8,16,32,64' },
    shapes: { type: 'string', default: 'base,student,student-384' },
    port: { type: 'string', default: '8797' },
    'no-workerd': { type: 'boolean', default: false },
    'no-node': { type: 'boolean', default: false },
    out: { type: 'string', default: 'build/bench/text-towers.json' },
  },
});
const towersDir = join(ROOT, values.towers);
const tokensList = values.tokens.split(',').map(Number);
const runs = Number(values.runs);
const nodeRuns = Number(values['node-runs']);

interface TowerFile {
  file: string;
  bytes: number;
  external_data?: string;
}
type Index = Record<string, { shape: Record<string, number>; files: Record<string, TowerFile> }>;

if (!existsSync(join(towersDir, 'towers.json'))) {
  console.error(
    `${values.towers}/towers.json missing: writing the towers with the model kit (a few minutes)`,
  );
  const r = spawnSync(
    join(ROOT, 'scripts/model/.venv/bin/python'),
    ['-m', 'koclip_kit.bench_towers', '--out', towersDir],
    { cwd: join(ROOT, 'scripts/model'), stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error('koclip_kit.bench_towers failed');
}
const index = JSON.parse(readFileSync(join(towersDir, 'towers.json'), 'utf8')) as Index;

/** One latency point: per-run ms (Node) or per-group means (workerd). */
export interface Point {
  shape: string;
  variant: string;
  runtime: 'workerd' | 'ort-web-node' | 'ort-node';
  lever: string;
  tokens: number;
  batch: number;
  samples_ms: number[];
  p50_ms: number;
  p95_ms: number;
  min_ms: number;
  max_ms: number;
  /** Runs behind each sample (1 for Node's per-run times, the group size in workerd). */
  runs_per_sample: number;
}
export interface MemoryRow {
  shape: string;
  variant: string;
  runtime: Point['runtime'];
  lever: string;
  file_bytes: number;
  memory_bytes: number;
  /** wasm linear memory (ORT web) or RSS growth over session creation (ORT node). */
  memory_kind: 'wasm' | 'rss-delta';
  create_ms: number;
  fetch_ms?: number;
  first_run_ms?: number;
  fresh_isolate: boolean;
}

const points: Point[] = [];
const memory: MemoryRow[] = [];

function point(p: Omit<Point, 'p50_ms' | 'p95_ms' | 'min_ms' | 'max_ms'>): Point {
  const full = {
    ...p,
    p50_ms: percentile(p.samples_ms, 50),
    p95_ms: percentile(p.samples_ms, 95),
    min_ms: Math.min(...p.samples_ms),
    max_ms: Math.max(...p.samples_ms),
  };
  points.push(full);
  console.error(
    `  ${p.runtime} ${p.shape}/${p.variant} ${p.lever} T=${p.tokens} B=${p.batch}: p50 ${full.p50_ms.toFixed(2)} ms`,
  );
  return full;
}

// ------------------------------------------------------------------------------------- Node
function nodeChild(
  runtime: 'ort-web' | 'ort-node',
  shape: string,
  variant: string,
  tokens: number[],
  n: number,
) {
  const f = index[shape]?.files[variant] as TowerFile;
  const r = spawnSync(
    TS_RUNNER,
    ['scripts/bench/text-tower-child.ts', runtime, join(towersDir, f.file), tokens.join(','), String(n)],
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        ...(f.external_data ? { TOWER_EXTERNAL_DATA: join(towersDir, f.external_data) } : {}),
      },
    },
  );
  if (r.status !== 0) {
    console.error(`  ${runtime} ${shape}/${variant} failed: ${r.stderr.slice(-400)}`);
    return;
  }
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
    create_ms: number;
    wasm_after_load_bytes: number;
    rss_load_delta_bytes: number;
    results: { tokens: number; times_ms: number[] }[];
  };
  const rt = runtime === 'ort-web' ? 'ort-web-node' : 'ort-node';
  memory.push({
    shape,
    variant,
    runtime: rt,
    lever: 'default',
    file_bytes: f.bytes,
    memory_bytes: runtime === 'ort-web' ? out.wasm_after_load_bytes : out.rss_load_delta_bytes,
    memory_kind: runtime === 'ort-web' ? 'wasm' : 'rss-delta',
    create_ms: out.create_ms,
    fresh_isolate: true,
  });
  for (const res of out.results) {
    point({
      shape,
      variant,
      runtime: rt,
      lever: 'default',
      tokens: res.tokens,
      batch: 1,
      samples_ms: res.times_ms,
      runs_per_sample: 1,
    });
  }
}

// ---------------------------------------------------------------------------------- workerd
interface SessionAnswer {
  file_bytes: number;
  fetch_ms: number;
  create_ms: number;
  first_run_ms: number;
  wasm_after_load_bytes: number;
}
interface RunAnswer {
  group_mean_ms: number[];
}

interface Step {
  variant: string;
  lever: string;
  options?: Record<string, unknown>;
  tokens: number[];
  batch?: number;
}

const LEVERS: Record<string, { options?: Record<string, unknown>; batch?: number }> = {
  'opt basic': { options: { graph_optimization_level: 'basic' } },
  'prepacking off': { options: { config: { 'session.disable_prepacking': '1' } } },
  'arena off': { options: { enable_cpu_mem_arena: false, enable_mem_pattern: false } },
  '8 queries/run': { batch: 8 },
};

/** One fresh isolate per plan; its first step's session gives the memory after load. */
function plans(shape: string): Step[][] {
  const all = tokensList;
  const at16 = [16];
  return (
    [
      [
        { variant: 'int8', lever: 'default', tokens: all },
        { variant: 'ortq', lever: 'default', tokens: at16 },
        { variant: 'fused-int8', lever: 'default', tokens: all },
        ...Object.entries(LEVERS).map(([lever, l]) => ({
          variant: 'fused-int8',
          lever,
          tokens: at16,
          ...(l.options ? { options: l.options } : {}),
          ...(l.batch ? { batch: l.batch } : {}),
        })),
      ],
      [{ variant: 'int8-ext', lever: 'default', tokens: all }],
      [
        { variant: 'fused-int8-ext', lever: 'default', tokens: all },
        { variant: 'fused-int8-ext', lever: '8 queries/run', tokens: at16, batch: 8 },
      ],
      [
        {
          variant: 'fused-int8-ext',
          lever: 'prepacking off',
          tokens: at16,
          options: { config: { 'session.disable_prepacking': '1' } },
        },
      ],
    ]
      // Towers written with --no-ort have the kit's variants only.
      .map((plan) => plan.filter((step) => index[shape]?.files[step.variant] !== undefined))
      .filter((plan) => plan.length > 0)
  );
}

/** Forgets the figures of a step that a restart interrupted. */
function dropStep(shape: string, step: Step) {
  const same = (r: { shape: string; variant: string; runtime: string; lever: string }) =>
    r.shape === shape && r.variant === step.variant && r.runtime === 'workerd' && r.lever === step.lever;
  for (const list of [points, memory] as {
    shape: string;
    variant: string;
    runtime: string;
    lever: string;
  }[][]) {
    for (let i = list.length - 1; i >= 0; i--) if (same(list[i] as (typeof list)[number])) list.splice(i, 1);
  }
}

/** Discarded runs at the start of a fresh isolate (see runStep). */
const TIER_UP_WARMUP_MS = 3000;

async function runStep(base: string, shape: string, step: Step, fresh: boolean) {
  const f = index[shape]?.files[step.variant] as TowerFile;
  const session = await postJson<SessionAnswer>(base, '/debug/tower/session', {
    key: `bench/${f.file}`,
    ...(f.external_data ? { external_data_key: `bench/${f.external_data}` } : {}),
    ...step.options,
  });
  if (fresh || step.lever === 'default') {
    memory.push({
      shape,
      variant: step.variant,
      runtime: 'workerd',
      lever: step.lever,
      file_bytes: session.file_bytes,
      memory_bytes: session.wasm_after_load_bytes,
      memory_kind: 'wasm',
      create_ms: session.create_ms,
      fetch_ms: session.fetch_ms,
      first_run_ms: session.first_run_ms,
      fresh_isolate: fresh,
    });
  }
  if (fresh) {
    // V8 first runs wasm on its baseline compiler (Liftoff) and swaps in optimised code in the
    // background, so an isolate's first seconds of runs are slower than its steady state: run
    // for about TIER_UP_WARMUP_MS, discarded, before the first timed point of a fresh isolate.
    const warmStart = Date.now();
    while (Date.now() - warmStart < TIER_UP_WARMUP_MS) {
      await postJson<RunAnswer>(base, '/debug/tower/run', {
        tokens: 64,
        batch: 1,
        runs: 5,
        group: 5,
        warmup: 0,
      });
    }
  }
  for (const tokens of step.tokens) {
    const batch = step.batch ?? 1;
    const group = 5;
    const answer = await postJson<RunAnswer>(base, '/debug/tower/run', { tokens, batch, runs, group });
    point({
      shape,
      variant: step.variant,
      runtime: 'workerd',
      lever: step.lever,
      tokens,
      batch,
      samples_ms: answer.group_mean_ms,
      runs_per_sample: group,
    });
  }
}

async function workerdShape(shape: string, persist: string, port: number) {
  for (const [i, plan] of plans(shape).entries()) {
    const worker = await startWorker({
      port: port + i,
      persist,
      debugRoutes: true,
      logLevel: 'warn',
      logs: 'inherit',
    });
    console.error(
      `  workerd ${shape} isolate ${i + 1}: wrangler dev up in ${(worker.startupMs / 1000).toFixed(1)} s`,
    );
    try {
      let restarted = false;
      for (const [s, step] of plan.entries()) {
        // wrangler dev restarts the isolate when a watched file changes (other engineers share
        // node_modules): the step is then run again on the new isolate, whose memory is its own.
        for (let attempt = 1; ; attempt++) {
          try {
            await runStep(worker.url, shape, step, s === 0 || restarted);
            restarted = false;
            break;
          } catch (e) {
            if (attempt >= 3 || !/restarted| 409 /.test(String(e))) throw e;
            console.error(`  workerd restarted during ${step.variant}/${step.lever}; running the step again`);
            dropStep(shape, step);
            restarted = true;
          }
        }
      }
    } finally {
      await worker.stop();
      save(null);
    }
  }
}

const started = await machine();
/** Written after every phase, so that a failed later phase keeps the figures already measured. */
function save(ended: Awaited<ReturnType<typeof machine>> | null) {
  const result = { bench: 'text-towers', started, ended, runs, node_runs: nodeRuns, index, points, memory };
  mkdirSync(dirname(join(ROOT, values.out)), { recursive: true });
  writeFileSync(join(ROOT, values.out), JSON.stringify(result, null, 1));
}
const shapes = values.shapes.split(',').filter((s) => index[s] !== undefined);
if (!values['no-node']) {
  for (const shape of shapes) {
    for (const variant of Object.keys(index[shape]?.files ?? {})) {
      for (const runtime of ['ort-node', 'ort-web'] as const) {
        const n = variant === 'fp32' ? Math.max(5, Math.round(nodeRuns / 2)) : nodeRuns;
        nodeChild(runtime, shape, variant, tokensList, n);
      }
    }
  }
  save(null);
}
if (!values['no-workerd']) {
  const persist = mkdtempSync(join(tmpdir(), 'bench-towers-'));
  for (const shape of shapes) {
    for (const [variant, f] of Object.entries(index[shape]?.files ?? {})) {
      if (variant === 'fp32') continue;
      putLocalObject(persist, 'koclip-models', `bench/${f.file}`, join(towersDir, f.file));
      if (f.external_data) {
        putLocalObject(
          persist,
          'koclip-models',
          `bench/${f.external_data}`,
          join(towersDir, f.external_data),
        );
      }
    }
  }
  try {
    for (const shape of shapes) {
      await workerdShape(shape, persist, Number(values.port));
      save(null);
    }
  } finally {
    spawnSync('rm', ['-rf', persist]);
  }
}
const ended = await machine();
save(ended);

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
console.log(
  `\nText towers: ${started.cpu}, ${started.cores} cores, load ${started.load.join(' / ')} -> ${ended.load.join(' / ')}`,
);
console.log(
  '\n| shape | variant | runtime | lever | tokens | batch | p50 ms | p95 ms | min-max ms | samples |',
);
console.log('|---|---|---|---|---:|---:|---:|---:|---|---:|');
for (const p of points) {
  console.log(
    `| ${p.shape} | ${p.variant} | ${p.runtime} | ${p.lever} | ${p.tokens} | ${p.batch} | ${p.p50_ms.toFixed(2)} | ${p.p95_ms.toFixed(2)} | ${p.min_ms.toFixed(1)}-${p.max_ms.toFixed(1)} | ${p.samples_ms.length} x ${p.runs_per_sample} |`,
  );
}
console.log(
  '\n| shape | variant | runtime | lever | file MiB | memory MiB | memory / file | create ms | fresh |',
);
console.log('|---|---|---|---|---:|---:|---:|---:|---|');
for (const m of memory) {
  console.log(
    `| ${m.shape} | ${m.variant} | ${m.runtime} | ${m.lever} | ${mib(m.file_bytes)} | ${mib(m.memory_bytes)} (${m.memory_kind}) | ${(m.memory_bytes / m.file_bytes).toFixed(2)} | ${Math.round(m.create_ms)} | ${m.fresh_isolate ? 'yes' : 'no'} |`,
  );
}
