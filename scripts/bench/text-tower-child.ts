/**
 * One runtime on one text-tower file, in its own process (so that its memory is its own), for
 * scripts/bench/text-towers.ts: `... text-tower-child.ts <ort-web|ort-node> FILE TOKENS RUNS [BATCH]`
 * (TOKENS a comma list). Prints one JSON line: create time, memory, and per-run times (ms, high-
 * resolution clock) per token count. onnxruntime-web runs its wasm on one thread, as in a Worker;
 * onnxruntime-node is given one intra-op thread too, so the two compare kernel for kernel.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

const [runtime, file, tokensArg, runsArg, batchArg] = process.argv.slice(2);
const tokensList = (tokensArg ?? '16').split(',').map(Number);
const runs = Number(runsArg ?? 20);
const batch = Number(batchArg ?? 1);

let memory: WebAssembly.Memory | undefined;
const original = WebAssembly.instantiate.bind(WebAssembly);
WebAssembly.instantiate = (async (source: unknown, imports?: WebAssembly.Imports) => {
  const result = await (original as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(
    source,
    imports,
  );
  const instance =
    (result as { instance?: WebAssembly.Instance }).instance ?? (result as WebAssembly.Instance);
  for (const v of Object.values(instance.exports ?? {})) if (v instanceof WebAssembly.Memory) memory = v;
  for (const ns of Object.values(imports ?? {}))
    for (const v of Object.values(ns)) if (v instanceof WebAssembly.Memory) memory = v;
  return result;
}) as typeof WebAssembly.instantiate;

type Ort = typeof import('onnxruntime-web');
let ort: Ort;
if (runtime === 'ort-web') {
  ort = (await import('onnxruntime-web')) as Ort;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
} else {
  ort = (await import('onnxruntime-node')) as unknown as Ort;
}

const bytes = new Uint8Array(readFileSync(file as string));
// TOWER_EXTERNAL_DATA: the initializers' file of a graph saved with external data (its name in the graph).
const externalFile = process.env.TOWER_EXTERNAL_DATA;
const externalData = externalFile
  ? [{ path: externalFile.split('/').pop() as string, data: new Uint8Array(readFileSync(externalFile)) }]
  : undefined;
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const session = await ort.InferenceSession.create(bytes, {
  executionProviders: [runtime === 'ort-web' ? 'wasm' : 'cpu'],
  graphOptimizationLevel: 'all',
  ...(externalData ? { externalData } : {}),
  // TOWER_SESSION_OPTIONS: JSON merged into the session options (the levers of text-towers.ts).
  ...(JSON.parse(process.env.TOWER_SESSION_OPTIONS ?? '{}') as object),
  ...(runtime === 'ort-node' ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : {}),
  // onnxruntime-node ignores externalData; it reads the file from this folder (as the encoder does).
  ...(runtime === 'ort-node' && externalFile
    ? { extra: { session: { model_external_initializers_file_folder_path: dirname(externalFile) } } }
    : {}),
});
const createMs = performance.now() - t0;
const wasmAfterLoad = memory?.buffer.byteLength ?? 0;
const rssAfterLoad = process.memoryUsage().rss;

function feeds(tokens: number) {
  const ids = new BigInt64Array(tokens * batch);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < tokens; t++)
      ids[b * tokens + t] =
        t === 0 ? 0n : t === tokens - 1 ? 2n : BigInt(100 + ((t * 7919 + b * 104729) % 20000));
  return {
    input_ids: new ort.Tensor('int64', ids, [batch, tokens]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(tokens * batch).fill(1n), [batch, tokens]),
  };
}

const results: { tokens: number; times_ms: number[] }[] = [];
for (const tokens of tokensList) {
  const input = feeds(tokens);
  for (let i = 0; i < 2; i++) await session.run(input);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await session.run(input);
    times.push(performance.now() - s);
  }
  results.push({ tokens, times_ms: times });
}
console.log(
  JSON.stringify({
    runtime,
    file,
    file_bytes: bytes.byteLength,
    batch,
    create_ms: createMs,
    wasm_after_load_bytes: wasmAfterLoad,
    wasm_after_runs_bytes: memory?.buffer.byteLength ?? 0,
    rss_load_delta_bytes: rssAfterLoad - rssBefore,
    results,
  }),
);
process.exit(0);
