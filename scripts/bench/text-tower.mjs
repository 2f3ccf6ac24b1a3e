/**
 * Text tower latency and wasm memory inside workerd. Starts `wrangler dev` through the local-stack
 * launcher (scripts/stack: local workerd, local R2/KV in a throwaway directory) with DEBUG_ROUTES=1,
 * then from Node:
 *   - times the first POST /v1/embeddings (wasm compile + session creation),
 *   - reads the wasm linear memory from GET /debug/text-tower after loading,
 *   - times N sequential one-query requests (p50/p95/mean) and N/8 eight-query requests,
 *   - reads the wasm memory again after them.
 * Two timings per request: `in_worker`, the route's own Server-Timing `text-tower` figure
 * (tokenise + pad + ONNX run; sent only with DEBUG_ROUTES, since deployed Workers freeze clocks
 * during compute while local workerd does not), and `round_trip`, measured by this script
 * through wrangler dev's local proxy (a GET /healthz round trip is the HTTP baseline).
 *
 *   npm run bench:text -- [--runs 100] [--variant int8|fp32] [--port 8799]
 * fp32 publishes a copy of koclip-tiny whose default variant is fp32 to the local MODELS_BUCKET
 * (the path models too large for the bundle take) and queries that.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWorker } from '../stack/index';
import { putLocalObject, ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    variant: { type: 'string', default: 'int8' },
    port: { type: 'string', default: '8799' },
  },
});
const runs = Number(values.runs);
const port = Number(values.port);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
if (!['int8', 'fp32'].includes(values.variant)) throw new Error('--variant must be int8 or fp32');

const pkg = join(ROOT, 'models/koclip-tiny');
const manifest = JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8'));
const persist = mkdtempSync(join(tmpdir(), 'bench-text-tower-'));
process.on('exit', () => rmSync(persist, { recursive: true, force: true }));
const putObject = (key, file) => putLocalObject(persist, 'koclip-models', key, file);

let modelId = manifest.id;
if (values.variant === 'fp32') {
  modelId = `${manifest.id}-fp32`;
  const copy = { ...manifest, id: modelId, text: { ...manifest.text, default_variant: 'fp32' } };
  const copyFile = join(persist, 'manifest.json');
  writeFileSync(copyFile, JSON.stringify(copy));
  putObject(`models/${modelId}/manifest.json`, copyFile);
  for (const file of [manifest.tokenizer.file, manifest.text.files.fp32]) {
    putObject(`models/${modelId}/${manifest.version}/${file}`, join(pkg, file));
  }
}

const worker = await startWorker({ port, persist, debugRoutes: true, logLevel: 'warn', logs: 'inherit' });
const base = worker.url;

async function timed(path, init) {
  const start = performance.now();
  const res = await fetch(`${base}${path}`, init);
  const body = await res.text();
  const ms = performance.now() - start;
  if (!res.ok) throw new Error(`${path} -> ${res.status} ${body.slice(0, 200)}`);
  const tower = /text-tower;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
  return { ms, towerMs: tower ? Number(tower[1]) : Number.NaN, body };
}

const embed = (input) =>
  timed('/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: modelId, input }),
  });

const memory = async () => JSON.parse((await timed('/debug/text-tower')).body);
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const summary = (xs) => ({
  p50: +quantile(xs, 0.5).toFixed(2),
  p95: +quantile(xs, 0.95).toFixed(2),
  mean: +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2),
  n: xs.length,
});
const MiB = (b) => +(b / 2 ** 20).toFixed(1);

const queries = JSON.parse(readFileSync(join(pkg, 'golden/tokens.json'), 'utf8'))
  .cases.map((c) => c.text)
  .filter((t) => t.trim().length > 0);

const before = await memory();
const baseline = [];
for (let i = 0; i < 20; i++) baseline.push((await timed('/healthz')).ms);
const cold = await embed(queries[0]);
const loaded = await memory();
const single = [];
for (let i = 0; i < runs; i++) single.push(await embed(queries[i % queries.length]));
const batched = [];
for (let i = 0; i < Math.max(1, Math.round(runs / 8)); i++) {
  batched.push(await embed(Array.from({ length: 8 }, (_, j) => queries[(i * 8 + j) % queries.length])));
}
const after = await memory();

console.log(
  JSON.stringify(
    {
      model: modelId,
      version: manifest.version,
      variant: values.variant,
      onnx_bytes: manifest.files[manifest.text.files[values.variant]]?.bytes,
      healthz_round_trip_ms: summary(baseline),
      first_query_ms: { round_trip: +cold.ms.toFixed(1), in_worker: cold.towerMs },
      one_query_per_request_ms: {
        in_worker: summary(single.map((r) => r.towerMs)),
        round_trip: summary(single.map((r) => r.ms)),
      },
      eight_queries_per_request_ms: {
        in_worker: summary(batched.map((r) => r.towerMs)),
        round_trip: summary(batched.map((r) => r.ms)),
      },
      wasm_memory_mib: {
        before_load: MiB(before.wasm_memory_bytes),
        after_load: MiB(loaded.wasm_memory_bytes),
        [`after_${runs + batched.length}_requests`]: MiB(after.wasm_memory_bytes),
      },
      runs_in_tower: after.runs,
    },
    null,
    2,
  ),
);
await worker.stop();
process.exit(0);
