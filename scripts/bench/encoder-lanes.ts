/**
 * Does a flood of query images starve indexing? Starts the real encoder (`src/encoder/main.ts`)
 * twice, with its query lane (the defaults: ENCODER_QUERY_SLOTS = half the cores, indexing's
 * decodes first) and without it (ENCODER_QUERY_SLOTS=0, ENCODER_QUERY_PER_CLIENT=0: every image
 * in one queue, as before lanes). Against each it runs indexing the way the queue consumer does
 * (`--indexers` loops, each posting multipart batches of `--batch` distinct photos on the index
 * lane) for `--seconds`, alone and then while `--flood` clients each keep one query image in
 * flight on the query lane (each its own X-Encoder-Client, so no per-client cap applies).
 * Prints indexing images/s idle and under the flood, and the flood's own images/s and latency,
 * per run and as medians; `--runs` alternates the two encoders so a busy machine hurts both alike.
 *
 *   npm run bench:encoder-lanes                           # 3 runs, 15 s phases (about 4 minutes)
 *   npm run bench:encoder-lanes -- --runs 1 --seconds 8   # a quick look
 *
 * Writes build/bench/encoder-lanes.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { ENCODER_HEADERS } from '../../src/core/contract/encoder-api';
import { type EncoderProcess, startEncoder } from '../stack/index';
import { machine, percentile, ROOT } from './support/common';

const TOKEN = 'bench-token-0123456789';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '15' },
    flood: { type: 'string', default: '16' },
    indexers: { type: 'string', default: '2' },
    batch: { type: 'string', default: '16' },
  },
});
const runs = Number(values.runs);
const seconds = Number(values.seconds);
const floodClients = Number(values.flood);
const indexers = Number(values.indexers);
const batchSize = Number(values.batch);

for (const signal of ['SIGINT', 'SIGTERM', 'SIGPIPE'] as const) process.on(signal, () => process.exit(1));

/** Photos of noise (JPEG, so each decode costs what a camera photo of that size does). */
async function photos(count: number, width: number, height: number, seed: number): Promise<Buffer[]> {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state;
  };
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    // Smooth noise: 1/8-size random pixels scaled up, so JPEG sizes are a photo's, not static's.
    const small = Buffer.alloc((width / 8) * (height / 8) * 3);
    for (let j = 0; j < small.length; j++) small[j] = next() & 0xff;
    out.push(
      await sharp(small, { raw: { width: width / 8, height: height / 8, channels: 3 } })
        .resize(width, height)
        .jpeg({ quality: 85 })
        .toBuffer(),
    );
  }
  return out;
}

interface Phase {
  indexImagesPerS: number;
  queryImagesPerS: number;
  queryP50Ms: number;
  queryP95Ms: number;
  refused: number;
  failed: number;
}

async function phase(
  url: string,
  indexImages: Buffer[],
  queryImages: Buffer[],
  flood: number,
): Promise<Phase> {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const until = performance.now() + seconds * 1000;
  let indexed = 0;
  let failed = 0;
  let refused = 0;
  const queryMs: number[] = [];
  let cursor = 0;
  const indexLoop = async () => {
    while (performance.now() < until) {
      const form = new FormData();
      for (let i = 0; i < batchSize; i++) {
        const bytes = indexImages[cursor++ % indexImages.length] as Buffer;
        form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }));
      }
      const res = await fetch(`${url}/v1/embed/image`, {
        method: 'POST',
        headers: { ...auth, [ENCODER_HEADERS.lane]: 'index' },
        body: form,
      });
      await res.arrayBuffer();
      // Only batches that end inside the phase count, so a phase is exactly `seconds` long.
      if (!res.ok) failed++;
      else if (performance.now() <= until) indexed += batchSize;
    }
  };
  const queryLoop = async (client: number) => {
    let n = client;
    while (performance.now() < until) {
      const started = performance.now();
      const res = await fetch(`${url}/v1/embed/image`, {
        method: 'POST',
        headers: {
          ...auth,
          'content-type': 'image/jpeg',
          [ENCODER_HEADERS.lane]: 'query',
          [ENCODER_HEADERS.client]: `ip:10.0.0.${client}`,
        },
        body: new Uint8Array(queryImages[n++ % queryImages.length] as Buffer),
      });
      await res.arrayBuffer();
      if (res.status === 429) refused++;
      else if (!res.ok) failed++;
      else if (performance.now() <= until) queryMs.push(performance.now() - started);
    }
  };
  await Promise.all([
    ...Array.from({ length: indexers }, indexLoop),
    ...Array.from({ length: flood }, (_, i) => queryLoop(i)),
  ]);
  return {
    indexImagesPerS: indexed / seconds,
    queryImagesPerS: queryMs.length / seconds,
    queryP50Ms: percentile(queryMs, 50),
    queryP95Ms: percentile(queryMs, 95),
    refused,
    failed,
  };
}

const CONFIGS = {
  lanes: {},
  'no lanes': { ENCODER_QUERY_SLOTS: '0', ENCODER_QUERY_PER_CLIENT: '0' },
} as const;
type ConfigName = keyof typeof CONFIGS;

async function main(): Promise<void> {
  const started = await machine();
  console.log(
    `encoder lanes: ${started.cpu}, ${started.cores} cores, load ${started.load.join(' ')}; ${runs} runs of ` +
      `${seconds} s phases; indexing ${indexers} x ${batchSize} images of 1024x768; flood ${floodClients} clients x 1 image of 1600x1200`,
  );
  const indexImages = await photos(64, 1024, 768, 1);
  const queryImages = await photos(16, 1600, 1200, 2);
  const results: { run: number; config: ConfigName; idle: Phase; flood: Phase }[] = [];
  for (let run = 1; run <= runs; run++) {
    const order: ConfigName[] = run % 2 === 1 ? ['lanes', 'no lanes'] : ['no lanes', 'lanes'];
    for (const config of order) {
      const encoder: EncoderProcess = await startEncoder({
        token: TOKEN,
        env: { ENCODER_MODELS: 'koclip-tiny', ...CONFIGS[config] },
      });
      try {
        // Warm up: the first batches compile onnxruntime's kernels.
        await phase(encoder.url, indexImages, queryImages, 0).catch(() => undefined);
        const idle = await phase(encoder.url, indexImages, queryImages, 0);
        const flood = await phase(encoder.url, indexImages, queryImages, floodClients);
        results.push({ run, config, idle, flood });
        console.log(
          `run ${run} ${config.padEnd(8)} indexing idle ${idle.indexImagesPerS.toFixed(1)} img/s, ` +
            `under flood ${flood.indexImagesPerS.toFixed(1)} img/s ` +
            `(${((100 * flood.indexImagesPerS) / idle.indexImagesPerS).toFixed(0)}%); flood ` +
            `${flood.queryImagesPerS.toFixed(1)} img/s, p50 ${flood.queryP50Ms.toFixed(0)} ms, ` +
            `p95 ${flood.queryP95Ms.toFixed(0)} ms, 429 ${flood.refused}, failed ${idle.failed + flood.failed}`,
        );
      } finally {
        await encoder.stop();
      }
    }
  }
  const median = (xs: number[]) => percentile(xs, 50);
  console.log('\nmedians over runs:');
  console.log(
    'config    | indexing idle | indexing under flood | kept | flood img/s | flood p50 | flood p95',
  );
  for (const config of Object.keys(CONFIGS) as ConfigName[]) {
    const rows = results.filter((r) => r.config === config);
    const idle = median(rows.map((r) => r.idle.indexImagesPerS));
    const flood = median(rows.map((r) => r.flood.indexImagesPerS));
    console.log(
      `${config.padEnd(9)} | ${idle.toFixed(1).padStart(9)} /s | ${flood.toFixed(1).padStart(16)} /s | ` +
        `${((100 * flood) / idle).toFixed(0).padStart(3)}% | ${median(
          rows.map((r) => r.flood.queryImagesPerS),
        )
          .toFixed(1)
          .padStart(11)} | ${median(rows.map((r) => r.flood.queryP50Ms))
          .toFixed(0)
          .padStart(6)} ms | ${median(rows.map((r) => r.flood.queryP95Ms))
          .toFixed(0)
          .padStart(6)} ms`,
    );
  }
  mkdirSync(`${ROOT}build/bench`, { recursive: true });
  const out = { machine: started, runs, seconds, floodClients, indexers, batchSize, results };
  writeFileSync(`${ROOT}build/bench/encoder-lanes.json`, `${JSON.stringify(out, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
