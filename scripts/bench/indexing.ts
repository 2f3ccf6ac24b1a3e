/**
 * End-to-end indexing on the local stack: the Worker under `wrangler dev` (miniflare's Queue, R2
 * and Durable Objects), the real encoder process (koclip-tiny on CPU) and a loopback image
 * server, all started here in a fresh state directory.
 * - throughput: N images by signed webhooks (batches of `--batch`, `--concurrency` calls at once),
 *   from the first call to the stats saying all N are indexed; with the time from a sample of
 *   webhook 202s to their images' status `indexed` under that load;
 * - latency: single-image webhooks one at a time on an idle stack, from the 202 to the first
 *   search by the image's bytes that returns it (and to its status `indexed`).
 *
 *   npm run bench:index -- [--images 500] [--batch 50] [--concurrency 4] [--samples 30] [--runs 1]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { type ImageServer, startImageServer } from '../index/image-server';
import { scenePngs } from '../index/synthetic-images';
import { STACK_ENCODER, STACK_SECRETS, STACK_VARS, type Stack, startStack } from '../stack/index';
import { webhook } from './support/common';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '500' },
    batch: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '4' },
    samples: { type: 'string', default: '30' },
    runs: { type: 'string', default: '1' },
  },
});
const N = Number(values.images);
const BATCH = Number(values.batch);
const CONCURRENCY = Number(values.concurrency);
const SAMPLES = Number(values.samples);
const RUNS = Number(values.runs);
const admin = { authorization: `Bearer ${STACK_SECRETS.ADMIN_TOKEN}` };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function counts(base: string, collection: string) {
  const r = await fetch(`${base}/v1/index/stats?collection=${collection}`, { headers: admin });
  if (!r.ok) throw new Error(`stats ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { counts: { pending: number; indexed: number; failed: number } }).counts;
}

async function state(base: string, collection: string, id: string): Promise<string | undefined> {
  const r = await fetch(`${base}/v1/images/${id}?collection=${collection}`, { headers: admin });
  return r.ok ? ((await r.json()) as { state: string }).state : undefined;
}

async function found(base: string, collection: string, png: Uint8Array, id: string): Promise<boolean> {
  const form = new FormData();
  form.set('image', new Blob([png], { type: 'image/png' }), 'q.png');
  form.set('k', '10');
  form.set('collection', collection);
  const r = await fetch(`${base}/v1/search`, { method: 'POST', body: form });
  if (!r.ok) return false;
  return ((await r.json()) as { results: { id: string }[] }).results.some((x) => x.id === id);
}

interface RunResult {
  throughput: number;
  seconds: number;
  acceptS: number;
  loadedP50: number;
  loadedP95: number;
  idleP50: number;
  idleP95: number;
  idleIndexedP50: number;
  idleIndexedP95: number;
}

async function run(stack: Stack, images: ImageServer, pngs: Buffer[], r: number): Promise<RunResult> {
  const base = stack.url;
  const collection = `bench-${r}`;
  const url = (i: number) => images.put(`r${r}-${i}.png`, pngs[i] as Buffer);
  // Throughput, with a sample of images followed from their webhook's 202 to `indexed`.
  const batches = Array.from({ length: Math.ceil(N / BATCH) }, (_, b) =>
    Array.from({ length: Math.min(BATCH, N - b * BATCH) }, (_, k) => b * BATCH + k),
  );
  const followed = new Map<number, number>();
  const every = Math.max(1, Math.floor(N / 20));
  const loaded: number[] = [];
  const t0 = performance.now();
  let next = 0;
  const sending = Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < batches.length) {
        const batch = batches[next++] as number[];
        await webhook(
          base,
          batch.map((i) => ({
            op: 'upsert',
            id: `img-${i}`,
            collection,
            image_url: url(i),
            metadata: { i },
          })),
        );
        const at = performance.now();
        for (const i of batch) if (i % every === 0) followed.set(i, at);
      }
    }),
  );
  const following = (async () => {
    const done = new Set<number>();
    while (done.size < Math.ceil(N / every)) {
      for (const [i, at] of followed) {
        if (done.has(i)) continue;
        if ((await state(base, collection, `img-${i}`)) === 'indexed') {
          loaded.push(performance.now() - at);
          done.add(i);
        }
      }
      await sleep(100);
    }
  })();
  await sending;
  const acceptS = (performance.now() - t0) / 1000;
  for (;;) {
    const c = await counts(base, collection);
    if (c.indexed + c.failed >= N) {
      if (c.failed) throw new Error(`${c.failed} images failed`);
      break;
    }
    await sleep(200);
  }
  const seconds = (performance.now() - t0) / 1000;
  await following;

  // Idle latency: one image at a time, from the 202 to the first search that returns it.
  const idle: number[] = [];
  const idleIndexed: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const i = N + s;
    const id = `one-${s}`;
    await webhook(base, [{ op: 'upsert', id, collection, image_url: url(i) }]);
    const at = performance.now();
    let indexedAt: number | undefined;
    for (;;) {
      if (indexedAt === undefined && (await state(base, collection, id)) === 'indexed')
        indexedAt = performance.now();
      if (await found(base, collection, pngs[i] as Buffer, id)) break;
      await sleep(20);
    }
    idle.push(performance.now() - at);
    idleIndexed.push((indexedAt ?? performance.now()) - at);
  }
  return {
    throughput: N / seconds,
    seconds,
    acceptS,
    loadedP50: pct(loaded, 50),
    loadedP95: pct(loaded, 95),
    idleP50: pct(idle, 50),
    idleP95: pct(idle, 95),
    idleIndexedP50: pct(idleIndexed, 50),
    idleIndexedP95: pct(idleIndexed, 95),
  };
}

const images = await startImageServer();
let stack: Stack | undefined;
try {
  const pngs = await scenePngs(N + SAMPLES);
  // A fresh state folder (the launcher's temporary one, removed on stop).
  stack = await startStack({ encoder: STACK_ENCODER, worker: { vars: STACK_VARS } });
  // Warm-up: the first request compiles the text tower's wasm and the first batch starts the queue.
  await webhook(stack.url, [
    { op: 'upsert', id: 'warm', collection: 'warm', image_url: images.put('warm.png', pngs[0] as Buffer) },
  ]);
  while ((await state(stack.url, 'warm', 'warm')) !== 'indexed') await sleep(200);
  console.log(
    `bench:index: ${N} images (224x224 PNG, ~${Math.round(pngs.reduce((a, b) => a + b.length, 0) / pngs.length / 1024)} KiB) by webhook in batches of ${BATCH}, ` +
      `${CONCURRENCY} calls at once; ${SAMPLES} single-image latency samples; ${cpus().length} CPU(s), Node ${process.version}`,
  );
  const rows: RunResult[] = [];
  for (let r = 0; r < RUNS; r++) {
    const result = await run(stack, images, pngs, r);
    rows.push(result);
    console.log(`run ${r + 1}: ${result.throughput.toFixed(1)} images/s`);
  }
  const f = (x: number) => (x / 1000).toFixed(2);
  console.log(
    '\n| run | images | 202s in (s) | all indexed in (s) | images/s | 202 -> indexed under load p50 / p95 (s) | idle 202 -> indexed p50 / p95 (s) | idle 202 -> searchable p50 / p95 (s) |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  rows.forEach((x, r) => {
    console.log(
      `| ${r + 1} | ${N} | ${x.acceptS.toFixed(1)} | ${x.seconds.toFixed(1)} | ${x.throughput.toFixed(1)} | ${f(x.loadedP50)} / ${f(x.loadedP95)} | ${f(x.idleIndexedP50)} / ${f(x.idleIndexedP95)} | ${f(x.idleP50)} / ${f(x.idleP95)} |`,
    );
  });
} finally {
  await stack?.stop();
  await images.close();
}
