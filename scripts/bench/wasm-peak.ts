/**
 * How fast can wasm SIMD multiply-accumulate at all? The ceiling for the text tower's matmuls in
 * onnxruntime-web, against the rate the base-shaped tower reaches and the rate its 25 ms target
 * needs. Loops of scripts/bench/wasm-peak/peak.as.ts (weights from L1, eight independent
 * accumulators) timed in Node (V8, high-resolution clock) and inside workerd (the bench Worker of
 * scripts/bench/workerd-kernel, route /mac-peak). A multiply-add (MAC) is one product summed.
 *
 *   npm run bench:wasm-peak -- [--reps 5] [--tower-ms 77.4] [--no-workerd] [--port 8799]
 * --tower-ms: the base int8 tower's p50 at 16 tokens in workerd (docs/benchmarks.md) for the
 * "reached" row.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, ROOT } from './support/common';
import { startKernelWorker } from './support/kernel-worker';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    'tower-ms': { type: 'string', default: '77.4' },
    'no-workerd': { type: 'boolean', default: false },
    port: { type: 'string', default: '8799' },
  },
});
const reps = Number(values.reps);

/** MACs a step of each loop (peak.as.ts) and its iterations a timed repetition. */
const LOOPS = {
  dotI16: { macs: 64, iters: 40_000_000, what: 'i32x4.dot_i16x8_s, int16 weights' },
  dotI8: { macs: 64, iters: 40_000_000, what: 'int8 weights widened in the loop, then dot_i16x8_s' },
  mulAddF32: { macs: 32, iters: 40_000_000, what: 'f32x4.mul + f32x4.add' },
} as const;
type Loop = keyof typeof LOOPS;

/** Multiply-adds of one run of the base-shaped text tower (12 x 768, FFN 3072) on 16 tokens:
 * the 6 weight matmuls of each layer per token, attention's two T x T products, pooler and
 * projection to 512 once. */
function baseTowerMacs(tokens = 16, layers = 12, h = 768, ffn = 3072, projection = 512): number {
  const perToken = 4 * h * h + 2 * h * ffn;
  const attention = 2 * tokens * tokens * h;
  return layers * (tokens * perToken + attention) + h * h + h * projection;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const gmacs = (loop: Loop, ms: number) => (LOOPS[loop].macs * LOOPS[loop].iters) / ms / 1e6;

async function inNode(): Promise<Record<Loop, number[]>> {
  const bytes = readFileSync(join(ROOT, 'scripts/bench/wasm-peak/peak.wasm'));
  // (the Workers type definitions in this project declare Module abstract; Node's is not)
  const module = new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(bytes);
  const instance = await WebAssembly.instantiate(module, { env: { abort: () => undefined } });
  const e = instance.exports as unknown as { prepare(): void } & Record<Loop, (n: number) => number>;
  e.prepare();
  const out = {} as Record<Loop, number[]>;
  for (const loop of Object.keys(LOOPS) as Loop[]) {
    const warmUntil = performance.now() + 1000; // V8 tiers the loop up to TurboFan meanwhile
    while (performance.now() < warmUntil) e[loop](1_000_000);
    out[loop] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      e[loop](LOOPS[loop].iters);
      out[loop].push(performance.now() - t0);
    }
  }
  return out;
}

async function inWorkerd(): Promise<Record<Loop, number[]>> {
  const worker = await startKernelWorker(values.port);
  try {
    const out = {} as Record<Loop, number[]>;
    for (const loop of Object.keys(LOOPS) as Loop[]) {
      const res = await fetch(`${worker.url}/mac-peak?fn=${loop}&iters=${LOOPS[loop].iters}&reps=${reps}`);
      if (!res.ok) throw new Error(`/mac-peak ${loop}: ${res.status} ${await res.text()}`);
      out[loop] = ((await res.json()) as { ms: number[] }).ms;
    }
    return out;
  } finally {
    await worker.stop();
  }
}

const started = await machine();
const node = await inNode();
const workerd = values['no-workerd'] ? undefined : await inWorkerd();
const ended = await machine();

const macs = baseTowerMacs();
const towerMs = Number(values['tower-ms']);
console.log(
  `\nwasm SIMD multiply-add ceiling: ${started.cpu}, ${started.cores} cores, ${started.at}, load ${started.load
    .map((l) => l.toFixed(1))
    .join(
      ' / ',
    )} -> ${ended.load.map((l) => l.toFixed(1)).join(' / ')}; ${reps} timed repetitions each, after 1 s of warm-up\n`,
);
console.log('| loop | what | Node GMAC/s median (best) | workerd GMAC/s median (best) |');
console.log('|---|---|---:|---:|');
for (const loop of Object.keys(LOOPS) as Loop[]) {
  const cell = (ms: number[] | undefined) =>
    ms ? `${gmacs(loop, median(ms)).toFixed(1)} (${gmacs(loop, Math.min(...ms)).toFixed(1)})` : '';
  console.log(`| ${loop} | ${LOOPS[loop].what} | ${cell(node[loop])} | ${cell(workerd?.[loop])} |`);
}
console.log(
  `\nbase tower, 16 tokens: ${(macs / 1e9).toFixed(3)} GMAC a run; at ${towerMs} ms (measured p50) that is ` +
    `${(macs / towerMs / 1e6).toFixed(1)} GMAC/s; the 25 ms target needs ${(macs / 25 / 1e6).toFixed(1)} GMAC/s.`,
);
