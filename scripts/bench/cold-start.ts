/**
 * Cold start of the text tower: a fresh isolate (a new `wrangler dev`, local state in a throwaway
 * folder) to the first embedding, `--starts` times. Per start: the first POST /v1/embeddings
 * (koclip-tiny from the bundle: ORT's wasm instantiated, the session created, one run) as the
 * route's Server-Timing (in Worker) and as a round trip, then a warm request for comparison. The
 * wasm compile itself happens when workerd loads the script (ORT's wasm is a CompiledWasm module),
 * before any request; its cost is measured here with V8 under Node (WebAssembly.compile of the same
 * file, the engine workerd embeds). The student's cold start (from R2) is in text-towers.ts: the
 * first session of each fresh isolate (fetch, create, first run).
 *
 *   npm run bench:cold -- [--starts 3] [--out build/bench/cold-start.json]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWorker } from '../stack/index';
import { machine, ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    starts: { type: 'string', default: '3' },
    port: { type: 'string', default: '8793' },
    out: { type: 'string', default: 'build/bench/cold-start.json' },
  },
});

async function embed(base: string, input: string) {
  const t = performance.now();
  const res = await fetch(`${base}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  await res.arrayBuffer();
  const roundTrip = performance.now() - t;
  if (!res.ok) throw new Error(`/v1/embeddings -> ${res.status}`);
  const tower = /text-tower;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
  return { round_trip_ms: roundTrip, worker_ms: tower ? Number(tower[1]) : Number.NaN };
}

const started = await machine();
const wasm = readFileSync(join(ROOT, 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm'));
const compile: number[] = [];
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  await (WebAssembly as unknown as { compile(b: Uint8Array): Promise<unknown> }).compile(wasm);
  compile.push(performance.now() - t);
}
console.error(
  `  V8 compile of ORT's wasm (${wasm.byteLength} bytes): ${compile.map((c) => c.toFixed(0)).join(', ')} ms`,
);

const starts: {
  cold: ReturnType<typeof embed> extends Promise<infer T> ? T : never;
  warm: { round_trip_ms: number; worker_ms: number };
  startup_ms: number;
}[] = [];
for (let i = 0; i < Number(values.starts); i++) {
  // A fresh state folder each time (the launcher's temporary one, removed on stop).
  const worker = await startWorker({
    port: Number(values.port) + i,
    debugRoutes: true,
    logLevel: 'warn',
    logs: 'inherit',
  });
  try {
    const cold = await embed(worker.url, '빨간 원 두 개');
    const warm = await embed(worker.url, '파란 사각형');
    starts.push({ cold, warm, startup_ms: worker.startupMs });
    console.error(
      `  start ${i + 1}: cold ${cold.worker_ms} ms in Worker (${cold.round_trip_ms.toFixed(0)} round trip), warm ${warm.worker_ms} ms`,
    );
  } finally {
    await worker.stop();
  }
}
const ended = await machine();
mkdirSync(dirname(join(ROOT, values.out)), { recursive: true });
writeFileSync(
  join(ROOT, values.out),
  JSON.stringify(
    { bench: 'cold-start', started, ended, wasm_bytes: wasm.byteLength, compile_ms: compile, starts },
    null,
    1,
  ),
);
console.log(
  '| start | first embedding in Worker ms | round trip ms | warm in Worker ms | wrangler dev up s |',
);
console.log('|---:|---:|---:|---:|---:|');
for (const [i, s] of starts.entries()) {
  console.log(
    `| ${i + 1} | ${s.cold.worker_ms} | ${s.cold.round_trip_ms.toFixed(0)} | ${s.warm.worker_ms} | ${(s.startup_ms / 1000).toFixed(1)} |`,
  );
}
console.log(`V8 compile of ORT's wasm: ${compile.map((c) => c.toFixed(0)).join(' / ')} ms`);
