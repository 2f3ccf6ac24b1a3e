#!/usr/bin/env node
// Will a package's text tower fit in a Worker isolate? Loads the tower in onnxruntime-web (the
// wasm build the Worker uses, one thread, with its external data file when the package has one,
// as src/edge/inference/text-tower.ts does), reads the wasm linear memory after session creation
// and after one run on 16 tokens, and compares it, plus the memory the Worker keeps for itself
// (search kernel, segment cache, query-embedding and score caches), with the isolate limit.
//   npm run model:fit -- models/<id> [--variant int8|fp32] [--json]
// --json prints the figures as one JSON object (the model kit's packaging reads it).
// Exit 0: fits. Exit 1: does not fit. Exit 2: bad input.
// KOCLIP_FIT_LIMIT_MB overrides the isolate limit (MiB; tests lower it to exercise exit 1).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const MIB = 1024 * 1024;
/** Memory limit of a Workers isolate. */
const ISOLATE_LIMIT_BYTES = 128 * MIB;
/**
 * The Worker's own memory budgets beside the text tower, in MiB (test/model/fit.test.ts holds them
 * equal to the source constants, all declared in src/edge/isolate-memory.ts): the segment cache,
 * the query-embedding cache of edge towers and the recent score answers. The search kernel's
 * indexes live in the search shards' isolates, not the Worker's (src/edge/search/shards).
 */
const WORKER_BUDGETS_MIB = { segment_cache: 24, query_cache: 2, score_cache: 2 };
const WORKER_BUDGET_BYTES = Object.values(WORKER_BUDGETS_MIB).reduce((a, b) => a + b, 0) * MIB;
const budgetParts = Object.entries(WORKER_BUDGETS_MIB)
  .map(([k, v]) => `${k.replace('_', ' ')} ${v}`)
  .join(', ');
/** Tokens of the measured run: [CLS] + 14 body tokens + [SEP]. */
const RUN_TOKENS = 16;

function fail(message) {
  console.error(`model:fit: ${message}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { variant: { type: 'string' }, json: { type: 'boolean' } },
  });
} catch (err) {
  fail(`${err.message}\nusage: npm run model:fit -- models/<id> [--variant int8|fp32] [--json]`);
}
const { values: opts, positionals } = parsed;
if (positionals.length !== 1) fail('usage: npm run model:fit -- models/<id> [--variant int8|fp32] [--json]');
const dir = resolve(positionals[0]);
if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`no package folder ${positionals[0]}`);
const manifestPath = join(dir, 'manifest.json');
if (!existsSync(manifestPath)) fail(`${positionals[0]} has no manifest.json`);
let manifest;
try {
  manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
} catch (err) {
  fail(`${manifestPath}: ${err.message}`);
}
const text = manifest?.text;
if (!text?.files || typeof text.files !== 'object') fail(`${manifestPath} has no text.files`);
const variant = opts.variant ?? text.default_variant ?? 'int8';
if (variant !== 'int8' && variant !== 'fp32') fail(`--variant must be int8 or fp32, not ${variant}`);
// As textTowerFile in src/core/manifest.ts.
const file = text.files[variant];
if (!file) fail(`model ${manifest.id} has no ${variant} text tower (text.files.${variant})`);
const modelPath = join(dir, file);
if (!existsSync(modelPath)) fail(`${modelPath} is missing`);
// As textTowerExternalData in src/core/manifest.ts: the tower's initializers, beside its graph.
const dataFile = text.external_data?.[variant];
const dataPath = dataFile ? join(dir, dataFile) : undefined;
if (dataPath && !existsSync(dataPath)) fail(`${dataPath} is missing`);
const tok = manifest.tokenizer ?? {};
for (const key of ['cls_token_id', 'sep_token_id', 'pad_token_id', 'unk_token_id']) {
  if (!Number.isInteger(tok[key])) fail(`${manifestPath} has no tokenizer.${key}`);
}

let limitBytes = ISOLATE_LIMIT_BYTES;
if (process.env.KOCLIP_FIT_LIMIT_MB !== undefined && process.env.KOCLIP_FIT_LIMIT_MB !== '') {
  const mb = Number(process.env.KOCLIP_FIT_LIMIT_MB);
  if (!(mb > 0))
    fail(`KOCLIP_FIT_LIMIT_MB must be a positive number, not ${process.env.KOCLIP_FIT_LIMIT_MB}`);
  limitBytes = mb * MIB;
}

// Capture ORT's wasm memory, as src/edge/inference/ort.ts does.
let memory;
function findMemory(instance, imports) {
  for (const value of Object.values(instance?.exports ?? {}))
    if (value instanceof WebAssembly.Memory) return value;
  for (const ns of Object.values(imports ?? {}))
    for (const value of Object.values(ns ?? {})) if (value instanceof WebAssembly.Memory) return value;
  return undefined;
}
const originalInstantiate = WebAssembly.instantiate.bind(WebAssembly);
WebAssembly.instantiate = async (source, imports) => {
  const result = await originalInstantiate(source, imports);
  const instance = result instanceof WebAssembly.Instance ? result : result.instance;
  memory ??= findMemory(instance, imports);
  return result;
};
if (WebAssembly.instantiateStreaming) {
  const originalStreaming = WebAssembly.instantiateStreaming.bind(WebAssembly);
  WebAssembly.instantiateStreaming = async (source, imports) => {
    const result = await originalStreaming(source, imports);
    memory ??= findMemory(result.instance, imports);
    return result;
  };
}

const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = 'error';

/** The tower's bytes: its graph plus its external data file. */
const fileBytes = statSync(modelPath).size + (dataPath ? statSync(dataPath).size : 0);
let session;
try {
  session = await ort.InferenceSession.create(readFileSync(modelPath), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    ...(dataPath
      ? { externalData: [{ path: dataFile.split('/').pop(), data: new Uint8Array(readFileSync(dataPath)) }] }
      : {}),
  });
} catch (err) {
  fail(`onnxruntime-web could not load ${modelPath}: ${err.message}`);
}
if (!memory) fail('could not find the wasm memory of onnxruntime-web');
const afterLoad = memory.buffer.byteLength;

const body = Array.from({ length: RUN_TOKENS - 2 }, () => tok.unk_token_id);
const ids = [tok.cls_token_id, ...body, tok.sep_token_id];
const feeds = {};
for (const name of session.inputNames) {
  let values;
  if (name === 'input_ids') values = ids;
  else if (name === 'attention_mask') values = ids.map(() => 1);
  else if (name === 'token_type_ids') values = ids.map(() => 0);
  else if (name === 'position_ids') values = ids.map((_, i) => i + (text.position_id_offset ?? 0));
  else fail(`the text tower has an unknown input ${name}`);
  feeds[name] = new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, ids.length]);
}
await session.run(feeds);
const afterRun = memory.buffer.byteLength;
await session.release();

const mb = (n) => (n / MIB).toFixed(1);
const needed = afterRun + WORKER_BUDGET_BYTES;
const headroom = limitBytes - needed;
const rows = [
  ['model', `${manifest.id} ${manifest.version ?? ''}`.trim()],
  ['placement', String(text.placement)],
  ['text tower', `${file}${dataFile ? ` + ${dataFile}` : ''} (${variant})`],
  ['file', `${mb(fileBytes)} MiB${dataFile ? ' (graph + external data)' : ''}`],
  ['wasm memory after load', `${mb(afterLoad)} MiB (${(afterLoad / fileBytes).toFixed(2)}x the file)`],
  [
    `wasm memory after a run (${RUN_TOKENS} tokens)`,
    `${mb(afterRun)} MiB (${(afterRun / fileBytes).toFixed(2)}x the file)`,
  ],
  [
    'isolate limit',
    `${mb(limitBytes)} MiB${limitBytes !== ISOLATE_LIMIT_BYTES ? ' (KOCLIP_FIT_LIMIT_MB)' : ''}`,
  ],
  ['worker budgets', `${mb(WORKER_BUDGET_BYTES)} MiB (${budgetParts})`],
  ['headroom (limit - run - budgets)', `${mb(headroom)} MiB`],
];
if (opts.json) {
  const round = (n) => Number(mb(n));
  console.log(
    JSON.stringify({
      model: manifest.id,
      version: manifest.version ?? null,
      placement: text.placement ?? null,
      file,
      external_data: dataFile ?? null,
      variant,
      file_mib: round(fileBytes),
      wasm_after_load_mib: round(afterLoad),
      wasm_after_run_mib: round(afterRun),
      run_tokens: RUN_TOKENS,
      worker_budget_mib: round(WORKER_BUDGET_BYTES),
      worker_budgets_mib: WORKER_BUDGETS_MIB,
      needed_mib: round(needed),
      limit_mib: round(limitBytes),
      headroom_mib: round(headroom),
      fits: needed <= limitBytes,
    }),
  );
} else {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

if (needed > limitBytes) {
  console.error(
    `model:fit: ${manifest.id} ${variant} text tower does not fit an isolate: wasm memory after a run ` +
      `${mb(afterRun)} MiB + the Worker's budgets ${mb(WORKER_BUDGET_BYTES)} MiB (${budgetParts}) = ${mb(needed)} MiB ` +
      `> ${mb(limitBytes)} MiB limit` +
      (text.placement === 'edge' ? '; use placement "function" or a smaller (distilled) tower' : ''),
  );
  process.exit(1);
}
if (!opts.json) console.log(`fits: ${mb(headroom)} MiB to spare`);
