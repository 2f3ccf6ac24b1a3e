/**
 * Faults, end to end: the Worker under `wrangler dev` reaches the real encoder through a proxy
 * that fails 30% of the calls with 503 and holds 10% past the Worker's ENCODER_TIMEOUT_MS, and
 * the encoder process is restarted once while images are being indexed. The images go in through
 * the bulk CLI's own code (an items.jsonl of URLs and local files: signed webhooks and uploads,
 * `--wait`). Every valid image must end indexed exactly once, the undecodable ones `failed` with
 * the encoder's reason, and nothing may be lost or doubled.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type ImageServer, startImageServer } from '../../scripts/index/image-server';
import { loadInput } from '../../scripts/index/inputs';
import { formatSummary, runIndex } from '../../scripts/index/run';
import { distinctScenes, embedImages } from '../../scripts/index/synthetic-images';
import {
  type EncoderProcess,
  freePort,
  STACK_ENCODER,
  STACK_SECRETS,
  STACK_VARS,
  startEncoder,
  startWorker,
  type WorkerProcess,
} from '../../scripts/stack/index';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy';
import { eachLimit, searchByImage, stats, status } from './support/indexing-stack';

const URLS = 200;
const UPLOADS = 20;
const COLLECTION = 'faults';
const at = <T>(list: T[], i: number): T => list[i] as T;

let encoder: EncoderProcess;
let encoderPort = 0;
let proxy: FaultProxy;
let worker: WorkerProcess | undefined;
let images: ImageServer;
let pngs: Buffer[] = [];
let base = '';
const dir = mkdtempSync(join(tmpdir(), 'e2e-indexing-faults-'));
const persist = join(dir, 'state');

beforeAll(async () => {
  encoderPort = await freePort();
  encoder = await startEncoder({ ...STACK_ENCODER, port: encoderPort });
  const embed = (batch: Buffer[]) => embedImages(encoder.url, encoder.token, batch);
  pngs = (await distinctScenes(URLS + UPLOADS, embed, 0.99)).pngs;
  images = await startImageServer();
  proxy = await startFaultProxy({ target: encoder.url, failRate: 0.3, hangRate: 0.1, seed: 9 });
  worker = await startWorker({
    persist,
    // Backoff 2, 4, 4 ... s instead of 2, 4, 8 ... 300 s: the same retries, without minutes of waiting.
    vars: { ...STACK_VARS, ENCODER_URL: proxy.url, ENCODER_TIMEOUT_MS: '3000', QUEUE_RETRY_MAX_DELAY_S: '4' },
  });
  base = worker.url;
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await encoder?.stop();
  await proxy?.close();
  await images?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('indexing through encoder faults and an encoder restart (wrangler dev + real encoder)', () => {
  it('indexes every valid image exactly once and fails the undecodable ones with their reason', async () => {
    onTestFailed(() => {
      // Without the status polls' access log, which would hide everything else.
      const lines = (worker?.logs() ?? '').split('\n').filter((l) => !/GET \/v1\/(images|index)\//.test(l));
      console.error(`wrangler dev (last 200 lines but status polls):\n${lines.slice(-200).join('\n')}`);
      console.error(`encoder (last 2000 chars):\n${encoder.logs().slice(-2000)}`);
    });
    const lines: object[] = [];
    for (let i = 0; i < URLS; i++) {
      lines.push({ id: `url-${i}`, image_url: images.put(`url-${i}.png`, at(pngs, i)), metadata: { i } });
    }
    for (let i = 0; i < UPLOADS; i++) {
      writeFileSync(join(dir, `up-${i}.png`), at(pngs, URLS + i));
      lines.push({ id: `up-${i}`, file: `up-${i}.png`, metadata: { i }, caption: `업로드 ${i}` });
    }
    const png = at(pngs, 0);
    const bad = {
      'bad-text': images.put('bad-text.png', new TextEncoder().encode('this is not an image at all')),
      'bad-truncated': images.put('bad-truncated.png', png.subarray(0, 80)),
      'bad-garbage': images.put(
        'bad-garbage.png',
        Uint8Array.from({ length: 4096 }, (_, k) => (k * 7919) & 255),
      ),
      'bad-missing': `${images.url}/no-such-image.png`,
    };
    for (const [id, url] of Object.entries(bad)) lines.push({ id, image_url: url });
    writeFileSync(join(dir, 'bad-upload.png'), png.subarray(0, png.length >> 1));
    lines.push({ id: 'bad-upload', file: 'bad-upload.png' });
    writeFileSync(join(dir, 'items.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    const items = loadInput(join(dir, 'items.jsonl'), { collection: COLLECTION });
    const valid = URLS + UPLOADS;
    const invalid = Object.keys(bad).length + 1;

    // Restart the encoder once, when about a third of the valid images are indexed.
    let restarted = false;
    const restart = (async () => {
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline) {
        const s = await stats(base, COLLECTION).catch(() => undefined);
        if (s && s.counts.indexed >= valid / 3) {
          await encoder.stop();
          await new Promise((r) => setTimeout(r, 1500));
          encoder = await startEncoder({ ...STACK_ENCODER, port: encoderPort });
          restarted = true;
          return s.counts.indexed;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      return -1;
    })();

    const t0 = performance.now();
    const summary = await runIndex(items, {
      url: base,
      token: STACK_SECRETS.ADMIN_TOKEN,
      secrets: [STACK_SECRETS.WEBHOOK_SECRET],
      concurrency: 4,
      batchSize: 25,
      wait: true,
      waitTimeoutS: 420,
      pollIntervalMs: 1000,
    });
    const restartedAt = await restart;
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `faults: ${formatSummary(summary)}\nproxy ${JSON.stringify(proxy.counts)}; encoder restarted at ${restartedAt} indexed; ${seconds.toFixed(1)} s`,
    );
    expect(restarted).toBe(true);
    expect(proxy.counts.failed).toBeGreaterThan(0);
    expect(proxy.counts.hung).toBeGreaterThan(0);

    expect(summary.pending).toBe(0);
    expect(summary.indexed).toBe(valid);
    const failed = Object.fromEntries(summary.failed.map((f) => [f.id, f]));
    expect(Object.keys(failed).sort()).toEqual([...Object.keys(bad), 'bad-upload'].sort());
    for (const f of summary.failed) {
      expect(f.phase).toBe('index');
      expect(f.code).toMatch(/^[a-z_]+$/);
      expect(f.message.length).toBeGreaterThan(0);
      // An encoder fault is not a reason: these failed for what the image is.
      expect(f.code).not.toMatch(/encoder_|injected|dead_letter/);
    }

    // Nothing lost or doubled: exact counts, every status right, each image once in its search.
    const final = await stats(base, COLLECTION);
    expect(final.counts).toEqual({ pending: 0, indexed: valid, failed: invalid });
    proxy.setFaults(false);
    const problems: string[] = [];
    await eachLimit(
      Array.from({ length: valid }, (_, i) => i),
      4,
      async (i) => {
        const id = i < URLS ? `url-${i}` : `up-${i - URLS}`;
        const s = await status(base, COLLECTION, id);
        if (s.body.state !== 'indexed') problems.push(`${id}: ${JSON.stringify(s.body)}`);
        const results = await searchByImage(base, COLLECTION, at(pngs, i), 10);
        const ids = results.map((r) => r.id);
        if (ids[0] !== id) problems.push(`${id}: search found ${ids[0]} first`);
        if (ids.filter((x) => x === id).length !== 1 || new Set(ids).size !== ids.length)
          problems.push(`${id}: doubled in ${ids.join(',')}`);
        for (const x of ids) if (x.startsWith('bad-')) problems.push(`${id}: failed image ${x} returned`);
      },
    );
    expect(problems.slice(0, 10), `${problems.length} problem(s)`).toEqual([]);
  }, 900_000);
});
