/**
 * Encoder throughput benchmark: starts the real service (`src/encoder/main.ts`) once per batch
 * size, drives it with C concurrent clients each sending one image per request, and reports
 * images/s, latency, the mean batch size actually formed and, from the service's own /metrics,
 * decode+preprocess time per image separated from model time per image. The baseline in the
 * same run is the naive loop: batch size 1, no wait, one request at a time.
 *
 * The headline comparison (32 clients against the naive loop) is repeated in alternating rounds
 * of more requests than a curve point, so that a busy machine hurts both sides alike; the median
 * ratio is reported. "CPU ms/img" is the encoder's CPU time per image (all its threads): the
 * ratio is bounded by (cores the batched service can use / cores the naive loop uses) x (naive
 * CPU per image / batched CPU per image).
 *
 *   npm run bench:encoder                         # 640x480 JPEGs: decode-heavy (about 3 minutes)
 *   npm run bench:encoder -- --source demo        # the package's 224x224 demo PNGs as they are
 *   npm run bench:encoder -- --quick              # a smaller curve
 *   npm run bench:encoder -- --images 256 --batch 1,8,32 --concurrency 1,8,32 --rounds 5 --round-images 960
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { type EncoderProcess, startEncoder } from '../stack/index';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'bench-token-0123456789';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '192' },
    batch: { type: 'string', default: '1,4,8,16,32' },
    concurrency: { type: 'string', default: '1,4,8,16,32' },
    'max-wait': { type: 'string', default: '5' },
    width: { type: 'string', default: '640' },
    height: { type: 'string', default: '480' },
    source: { type: 'string', default: 'photo' },
    rounds: { type: 'string', default: '5' },
    'round-images': { type: 'string', default: '480' },
    quick: { type: 'boolean', default: false },
  },
});
const numbers = (s: string) => s.split(',').map(Number);
const total = values.quick ? 96 : Number(values.images);
const roundTotal = values.quick ? 96 : Number(values['round-images']);
const batchSizes = values.quick ? [1, 8, 32] : numbers(values.batch);
const concurrencies = values.quick ? [1, 8, 32] : numbers(values.concurrency);
const maxWait = values['max-wait'];
const rounds = Number(values.rounds);
if (values.source !== 'photo' && values.source !== 'demo') throw new Error('--source is photo or demo');

// The launcher kills the encoders still running when this script exits; a signal exits.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGPIPE'] as const) process.on(signal, () => process.exit(1));

function startService(batch: number, wait: string): Promise<EncoderProcess> {
  return startEncoder({
    inheritEnv: true,
    token: TOKEN,
    env: { ENCODER_MODELS: 'koclip-tiny', ENCODER_BATCH_SIZE: String(batch), ENCODER_MAX_WAIT_MS: wait },
  });
}

async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const escaped = `${name}${labels}`.replace(/[{}"]/g, (c) => `\\${c}`);
  return Number(new RegExp(`^${escaped} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
}

async function snapshot(url: string) {
  const img = '{model="koclip-tiny",tower="image"}';
  return {
    decodeSum: await metric(url, 'encoder_decode_seconds_sum'),
    decodeCount: await metric(url, 'encoder_decode_seconds_count'),
    modelSum: await metric(url, 'encoder_model_run_seconds_sum', img),
    runs: await metric(url, 'encoder_batch_size_count', img),
    items: await metric(url, 'encoder_batch_size_sum', img),
  };
}

/** CPU seconds used so far by a process (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  const file = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(file)) return 0;
  const fields = readFileSync(file, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
}

interface Point {
  batch: number;
  concurrency: number;
  imagesPerSecond: number;
  p50: number;
  p95: number;
  meanBatch: number;
  decodeMs: number;
  modelMs: number;
  /** CPU cores the encoder process used on average (CPU seconds / wall seconds). */
  serverCores: number;
  clientCores: number;
}

let contentType = 'image/jpeg';

async function drive(
  s: EncoderProcess,
  images: Buffer[],
  concurrency: number,
  batch: number,
  requests = total,
): Promise<Point> {
  const before = await snapshot(s.url);
  const cpuBefore = cpuSeconds(s.pid);
  const clientBefore = process.cpuUsage();
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < requests; i = next++) {
        const t0 = performance.now();
        const res = await fetch(`${s.url}/v1/embed/image`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': contentType },
          body: new Uint8Array(images[i % images.length] as Buffer),
        });
        if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const serverCores = (cpuSeconds(s.pid) - cpuBefore) / seconds;
  const client = process.cpuUsage(clientBefore);
  const clientCores = (client.user + client.system) / 1e6 / seconds;
  const after = await snapshot(s.url);
  latencies.sort((a, b) => a - b);
  const items = after.items - before.items;
  return {
    batch,
    concurrency,
    imagesPerSecond: requests / seconds,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p95: latencies[Math.floor(latencies.length * 0.95)] ?? 0,
    meanBatch: items / (after.runs - before.runs),
    decodeMs: ((after.decodeSum - before.decodeSum) / (after.decodeCount - before.decodeCount)) * 1000,
    modelMs: ((after.modelSum - before.modelSum) / items) * 1000,
    serverCores,
    clientCores,
  };
}

async function testImages(): Promise<{ images: Buffer[]; type: string; label: string }> {
  const dir = `${ROOT}models/koclip-tiny/demo/images/`;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.png'))
    .slice(0, 64);
  if (values.source === 'demo') {
    const images = files.map((f) => readFileSync(`${dir}${f}`));
    return { images, type: 'image/png', label: 'demo PNG as packaged (224x224)' };
  }
  const w = Number(values.width);
  const h = Number(values.height);
  const images = await Promise.all(
    files.map((f) => sharp(`${dir}${f}`).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer()),
  );
  return { images, type: 'image/jpeg', label: `${w}x${h} JPEG (q90)` };
}

const row = (p: Point, label: string) =>
  `| ${label} | ${p.batch} | ${p.concurrency} | ${p.imagesPerSecond.toFixed(1)} | ${p.p50.toFixed(0)} | ${p.p95.toFixed(0)} | ${p.meanBatch.toFixed(1)} | ${p.decodeMs.toFixed(1)} | ${p.modelMs.toFixed(1)} | ${p.serverCores.toFixed(2)} | ${((p.serverCores / p.imagesPerSecond) * 1000).toFixed(1)} | ${p.clientCores.toFixed(2)} |`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

async function main(): Promise<void> {
  const { images, type, label } = await testImages();
  contentType = type;
  const benchStarted = performance.now();
  console.log(
    `# encoder benchmark: ${roundTotal} requests per round, ${total} per curve point, one image each: ${label}, ` +
      `${images.length} distinct, ` +
      `max wait ${maxWait} ms, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, load ${load()}`,
  );
  console.log(
    '| run | max batch | clients | images/s | p50 ms | p95 ms | mean batch | decode+prep ms/img | model ms/img | encoder cores | CPU ms/img | client cores |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');

  // Headline: the naive loop (batch 1, no wait, one request at a time) against 32 clients with
  // batching, in alternating rounds.
  const naiveService = await startService(1, '0');
  const batchedService = await startService(32, maxWait);
  await drive(naiveService, images, 1, 1); // warm-up
  await drive(batchedService, images, 32, 32);
  const ratios: number[] = [];
  const naiveRates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const naive = await drive(naiveService, images, 1, 1, roundTotal);
    const batched = await drive(batchedService, images, 32, 32, roundTotal);
    console.log(row(naive, `naive loop (round ${r + 1})`));
    console.log(row(batched, `batched (round ${r + 1})`));
    ratios.push(batched.imagesPerSecond / naive.imagesPerSecond);
    naiveRates.push(naive.imagesPerSecond);
  }
  await naiveService.stop();
  await batchedService.stop();

  // The curve: images/s against max batch size and concurrency.
  for (const batch of batchSizes) {
    const s = await startService(batch, maxWait);
    await drive(s, images, Math.max(...concurrencies), batch); // warm-up
    for (const concurrency of concurrencies)
      console.log(row(await drive(s, images, concurrency, batch), 'curve'));
    await s.stop();
  }
  console.log(
    `\n32 clients, max batch 32 vs the naive loop: ${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')} ` +
      `(median ${median(ratios).toFixed(2)}x; naive median ${median(naiveRates).toFixed(1)} images/s)`,
  );
  console.log(`benchmark took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s, load ${load()}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
