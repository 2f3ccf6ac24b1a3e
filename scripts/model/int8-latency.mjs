#!/usr/bin/env node
// Latency of text towers in onnxruntime-node (2 threads, as the encoder function) and
// onnxruntime-web (wasm, 1 thread, as the Worker), batch 1: median and p90 of N runs after warm-up.
//   node scripts/model/int8-latency.mjs --runtime node|web --tokens 16 --runs 20 MODEL.onnx ...
// Prints one JSON line per model: { model, runtime, tokens, load_ms, median_ms, p90_ms, wasm_mb? }.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opts, positionals: models } = parseArgs({
  allowPositionals: true,
  options: {
    runtime: { type: 'string', default: 'node' },
    tokens: { type: 'string', default: '16' },
    runs: { type: 'string', default: '20' },
  },
});
const ort = opts.runtime === 'web' ? await import('onnxruntime-web') : await import('onnxruntime-node');
if (opts.runtime === 'web') ort.env.wasm.numThreads = 1;
const t = Number(opts.tokens);
const runs = Number(opts.runs);
const ids = BigInt64Array.from({ length: t }, (_, i) =>
  BigInt(i === 0 ? 0 : i === t - 1 ? 2 : 5 + (i % 300)),
);
const mask = BigInt64Array.from({ length: t }, () => 1n);
for (const model of models) {
  const t0 = performance.now();
  const s =
    opts.runtime === 'web'
      ? await ort.InferenceSession.create(new Uint8Array(readFileSync(model)), {
          graphOptimizationLevel: 'all',
        })
      : await ort.InferenceSession.create(model, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
  const load = performance.now() - t0;
  const feeds = {
    input_ids: new ort.Tensor('int64', ids, [1, t]),
    attention_mask: new ort.Tensor('int64', mask, [1, t]),
  };
  for (let i = 0; i < 2; i++) await s.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    await s.run(feeds);
    times.push(performance.now() - a);
  }
  times.sort((a, b) => a - b);
  const q = (p) => Math.round(times[Math.min(times.length - 1, Math.floor(p * times.length))] * 100) / 100;
  console.log(
    JSON.stringify({
      model,
      runtime: opts.runtime,
      tokens: t,
      load_ms: Math.round(load),
      median_ms: q(0.5),
      p90_ms: q(0.9),
    }),
  );
  await s.release();
}
