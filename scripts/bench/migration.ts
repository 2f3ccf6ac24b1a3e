import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CollectionSchema,
  type Migration,
  MigrationSchema,
} from '../../src/core/contract/collection-schemas';
import { ImageStatusSchema, IndexStatsSchema } from '../../src/core/contract/ingest-schemas';
import { twoPackages } from '../../test/model/support/external-data';
import { type ImageServer, startImageServer } from '../index/image-server';
import { distinctScenes, embedImages } from '../index/synthetic-images';
import {
  type EncoderProcess,
  ROOT,
  STACK_ENCODER,
  STACK_SECRETS,
  STACK_VARS,
  startEncoder,
  startWorker,
  type WorkerProcess,
} from '../stack/index';
import { machine, percentile, webhook } from './support/common';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '1000' },
    samples: { type: 'string', default: '30' },
    parallel: { type: 'string', default: '4' },
    runs: { type: 'string', default: '1' },
    settle: { type: 'string', default: '1' },
    out: { type: 'string', default: 'build/bench/migration.json' },
  },
});
const N = Number(values.images);
const SAMPLES = Number(values.samples);
const PARALLEL = Number(values.parallel);
const RUNS = Number(values.runs);
const A = 'koclip-tiny';
const B = 'koclip-tiny-next';
const admin = { authorization: `Bearer ${STACK_SECRETS.ADMIN_TOKEN}` };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Requests that answered neither as expected nor with a retried 5xx, by route. */
const errors = { search: 0, status: 0 };

async function adminCall(base: string, path: string, init: RequestInit = {}): Promise<unknown> {
  const r = await fetch(`${base}${path}`, {
    ...init,
    headers: { ...admin, 'content-type': 'application/json' },
  });
  if (!r.ok) throw new Error(`${path} answered ${r.status}: ${await r.text()}`);
  return r.json();
}

async function state(base: string, collection: string, id: string): Promise<string | undefined> {
  const r = await fetch(`${base}/v1/images/${id}?collection=${collection}`, { headers: admin });
  if (r.ok) return ImageStatusSchema.parse(await r.json()).state;
  if (r.status !== 404) errors.status++;
  await r.arrayBuffer();
  return undefined;
}

async function found(base: string, collection: string, png: Uint8Array, id: string): Promise<boolean> {
  const form = new FormData();
  form.set('image', new Blob([png], { type: 'image/png' }), 'q.png');
  form.set('k', '10');
  form.set('collection', collection);
  const r = await fetch(`${base}/v1/search`, { method: 'POST', body: form });
  if (!r.ok) {
    errors.search++;
    await r.arrayBuffer();
    return false;
  }
  return ((await r.json()) as { results: { id: string }[] }).results.some((x) => x.id === id);
}

interface Sample {
  /** Wall clock of the 202 (compared with the migration's switched_at). */
  acceptedAt: number;
  indexedMs: number;
  searchableMs: number;
}

/** One image by webhook; polls its status, then (once indexed) searches by its bytes until found. */
async function sample(base: string, collection: string, id: string, url: string, png: Buffer) {
  await webhook(base, [{ op: 'upsert', id, collection, image_url: url }]);
  const at = performance.now();
  const acceptedAt = Date.now();
  let indexedMs: number | undefined;
  while (performance.now() - at < 300_000) {
    if (indexedMs === undefined && (await state(base, collection, id)) === 'indexed')
      indexedMs = performance.now() - at;
    if (indexedMs !== undefined && (await found(base, collection, png, id)))
      return { acceptedAt, indexedMs, searchableMs: performance.now() - at } satisfies Sample;
    await sleep(20);
  }
  throw new Error(`${id} was not searchable 300 s after its 202`);
}

const p = (xs: Sample[], key: 'indexedMs' | 'searchableMs', q: number) =>
  Math.round(
    percentile(
      xs.map((s) => s[key]),
      q,
    ),
  );
const latency = (xs: Sample[]) => ({
  samples: xs.length,
  indexedP50: p(xs, 'indexedMs', 50),
  indexedP95: p(xs, 'indexedMs', 95),
  searchableP50: p(xs, 'searchableMs', 50),
  searchableP95: p(xs, 'searchableMs', 95),
});

// The load average before this process starts anything of its own.
const host = await machine();
const scratch = mkdtempSync(join(tmpdir(), 'bench-migration-'));
const persist = join(scratch, 'state');
const stack: { encoder?: EncoderProcess; worker?: WorkerProcess; images?: ImageServer } = {};
try {
  const models = twoPackages(join(scratch, 'models'), B, persist);
  const encoder = await startEncoder({
    ...STACK_ENCODER,
    env: { ENCODER_MODELS_DIR: models, ENCODER_MODELS: `${A},${B}`, ENCODER_DEFAULT_MODEL: A },
  });
  stack.encoder = encoder;
  const images = await startImageServer();
  stack.images = images;
  stack.worker = await startWorker({
    persist,
    vars: { ...STACK_VARS, ENCODER_URL: encoder.url, MIGRATION_SETTLE_S: values.settle },
  });
  const base = stack.worker.url;
  // Per run: N for the collection, then the samples of both phases.
  const perRun = N + 2 * SAMPLES;
  const { pngs, maxPairCosine } = await distinctScenes(perRun, (batch) =>
    embedImages(encoder.url, encoder.token, batch),
  );
  const url = (i: number) => images.put(`s${i}.png`, pngs[i] as Buffer);
  // Warm-up: both models' sessions in the encoder, and the Worker's queue and writer.
  for (const model of [A, B]) {
    const r = await fetch(`${encoder.url}/v1/embed/image?model=${model}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${encoder.token}`, 'content-type': 'image/png' },
      body: pngs[0] as Buffer,
    });
    if (!r.ok) throw new Error(`encoder warm-up (${model}) answered ${r.status}: ${await r.text()}`);
  }
  await sample(base, 'warm', 'warm', url(0), pngs[0] as Buffer);
  console.log(
    `bench:migration: ${N} distinct scenes (largest pairwise cosine ${maxPairCosine.toFixed(3)}) per collection, ` +
      `${A} -> ${B} (same weights, another id), MIGRATION_SETTLE_S=${values.settle}; ${SAMPLES} latency samples ` +
      `idle and during, ${PARALLEL} at a time; ${host.cpu}, ${host.cores} cores, load ${host.load.join(' ')}, Node ${process.version}`,
  );

  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const collection = `mig-${r}`;
    const indexStart = performance.now();
    const batches = Array.from({ length: Math.ceil(N / 50) }, (_, b) => b * 50);
    let nextBatch = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let b = batches[nextBatch++]; b !== undefined; b = batches[nextBatch++])
          await webhook(
            base,
            Array.from({ length: Math.min(50, N - b) }, (_, k) => ({
              op: 'upsert',
              id: `img-${b + k}`,
              collection,
              image_url: url(b + k),
            })),
          );
      }),
    );
    for (;;) {
      const { counts } = IndexStatsSchema.parse(
        await adminCall(base, `/v1/index/stats?collection=${collection}`),
      );
      if (counts.failed > 0) throw new Error(`${counts.failed} images failed to index`);
      if (counts.indexed >= N) break;
      await sleep(250);
    }
    const indexS = (performance.now() - indexStart) / 1000;

    let next = N;
    const takeSamples = async (phase: string, keepGoing: () => boolean) => {
      const taken: Sample[] = [];
      let begun = 0;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (begun < SAMPLES && keepGoing()) {
            begun++;
            const i = next++;
            taken.push(await sample(base, collection, `${phase}-${i}`, url(i), pngs[i] as Buffer));
          }
        }),
      );
      return taken;
    };
    const idle = await takeSamples('idle', () => true);

    const started = MigrationSchema.parse(
      await adminCall(base, `/v1/collections/${collection}/migrations`, {
        method: 'POST',
        body: JSON.stringify({ to: B }),
      }),
    );
    let last: Migration = started;
    let maxPending = 0;
    const following = (async () => {
      const deadline = Date.now() + 1_800_000;
      while (last.state === 'copying' && Date.now() < deadline) {
        await sleep(250);
        last = MigrationSchema.parse(
          await adminCall(base, `/v1/collections/${collection}/migrations/${started.id}`),
        );
        maxPending = Math.max(maxPending, last.pending);
      }
    })();
    // The copy starts after the settle time: samples before it would see an idle stack.
    await sleep(Date.parse(started.started_at) + Number(values.settle) * 1000 - Date.now());
    const during = await takeSamples('during', () => last.state === 'copying');
    await following;
    if (last.state !== 'switched') throw new Error(`migration ended ${last.state}: ${last.error}`);
    const switchedAt = Date.parse(last.switched_at as string);
    const before = during.filter((s) => s.acceptedAt < switchedAt);
    const { model } = CollectionSchema.parse(await adminCall(base, `/v1/collections/${collection}`));
    if (model !== B) throw new Error(`${collection} reads ${model} after the switch, not ${B}`);
    const toSwitchS = (switchedAt - Date.parse(last.started_at)) / 1000;
    const result = {
      collection,
      indexS,
      migration: {
        total: last.total,
        copied: last.copied,
        toSwitchS,
        imagesPerS: (last.total ?? 0) / toSwitchS,
        serviceImagesPerS: last.images_per_s,
        failed: last.failed,
        maxPending,
        readsAfter: model,
      },
      idle: latency(idle),
      during: { ...latency(before), afterSwitch: during.length - before.length },
    };
    runs.push(result);
    console.log(
      `run ${r + 1}: switched after ${toSwitchS.toFixed(1)} s, ${result.migration.imagesPerS.toFixed(1)} images/s; ` +
        `${before.length} of ${SAMPLES} samples before the switch`,
    );
    if (before.length < SAMPLES)
      console.log(
        `  only ${before.length} of ${SAMPLES} samples had their 202 before the switch: raise --parallel or --images`,
      );
  }

  const s = (ms: number) => (ms / 1000).toFixed(2);
  console.log(
    '\n| run | images moved (N and the idle samples) | time to switch (s) | images/s (start to switch) | service images/s | copied / total | most pending in new index | failed |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  runs.forEach(({ migration: m }, r) => {
    console.log(
      `| ${r + 1} | ${m.total} | ${m.toSwitchS.toFixed(1)} | ${m.imagesPerS.toFixed(1)} | ${m.serviceImagesPerS.toFixed(1)} | ${m.copied} / ${m.total} | ${m.maxPending} | ${m.failed} |`,
    );
  });
  console.log(
    `\n| run | stack | samples (${PARALLEL} at a time) | 202 -> indexed p50 / p95 (s) | 202 -> searchable p50 / p95 (s) |`,
  );
  console.log('|---|---|---|---|---|');
  runs.forEach((x, r) => {
    for (const [name, l] of [
      ['idle', x.idle],
      ['migration running', x.during],
    ] as const)
      console.log(
        `| ${r + 1} | ${name} | ${l.samples} | ${s(l.indexedP50)} / ${s(l.indexedP95)} | ${s(l.searchableP50)} / ${s(l.searchableP95)} |`,
      );
  });
  if (errors.search + errors.status > 0)
    console.log(`\nerrors: ${errors.search} searches and ${errors.status} status reads answered non-2xx`);
  const out = {
    bench: 'migration',
    machine: host,
    node: process.version,
    options: { images: N, samples: SAMPLES, parallel: PARALLEL, runs: RUNS, settleS: Number(values.settle) },
    models: [A, B],
    errors,
    runs,
  };
  mkdirSync(join(ROOT, 'build/bench'), { recursive: true });
  writeFileSync(join(ROOT, values.out), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\n${JSON.stringify(out)}`);
} finally {
  await Promise.all([stack.worker?.stop(), stack.encoder?.stop(), stack.images?.close()]);
  rmSync(scratch, { recursive: true, force: true });
}
