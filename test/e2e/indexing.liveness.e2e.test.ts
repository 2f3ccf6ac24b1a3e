/**
 * Liveness, end to end: every image the Worker accepted ends `indexed` or `failed` on its own,
 * even when its queue message is lost. The Worker under `wrangler dev` (miniflare's local Queue,
 * R2 and Durable Objects) with the real encoder; a test hook drops the queue message of 10% of
 * the accepted upserts (DEBUG_DROP_UPSERTS: between the writer and the queue, neither is
 * mocked), and the Worker is stopped and started again on the same state while the bulk CLI's own
 * code uploads the images (`--wait`), which loses what the local queue held. The writers'
 * reconciler (RECONCILE_AFTER_S=3 here) must bring every record to `indexed`, each once.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
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
import { eachLimit, searchByImage, stats } from './support/indexing-stack';

const N = 120;
const COLLECTION = 'liveness';
const at = <T>(list: T[], i: number): T => list[i] as T;

let encoder: EncoderProcess;
let worker: WorkerProcess | undefined;
let port = 0;
let pngs: Buffer[] = [];
const dir = mkdtempSync(join(tmpdir(), 'e2e-indexing-liveness-'));
const persist = join(dir, 'state');
const images = join(dir, 'images');
/** Output of every Worker process of the run (the restart starts a second one). */
const logs: string[] = [];

function start(): Promise<WorkerProcess> {
  return startWorker({
    port,
    persist,
    vars: {
      ...STACK_VARS,
      ENCODER_URL: encoder.url,
      DEBUG_ROUTES: '1',
      DEBUG_DROP_UPSERTS: '0.1',
      RECONCILE_AFTER_S: '3',
      QUEUE_RETRY_MAX_DELAY_S: '2',
    },
  });
}

beforeAll(async () => {
  encoder = await startEncoder(STACK_ENCODER);
  pngs = (await distinctScenes(N, (batch) => embedImages(encoder.url, encoder.token, batch), 0.99)).pngs;
  port = await freePort();
  worker = await start();
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await encoder?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('liveness: lost queue messages and a restart (wrangler dev + real encoder)', () => {
  it('ends every accepted image indexed, each once, through the reconciler', async () => {
    onTestFailed(() => {
      console.error(
        `wrangler dev (last 150 lines):\n${[...logs, worker?.logs() ?? ''].join('\n').split('\n').slice(-150).join('\n')}`,
      );
    });
    mkdirSync(images, { recursive: true });
    pngs.forEach((png, i) => {
      writeFileSync(join(images, `live-${String(i).padStart(3, '0')}.png`), png);
    });
    const items = loadInput(images, { collection: COLLECTION });
    const base = worker?.url as string;

    // Stop and start the Worker on the same state once a third of the images are indexed.
    const restart = (async () => {
      const deadline = Date.now() + 180_000;
      while (Date.now() < deadline) {
        const s = await stats(base, COLLECTION).catch(() => undefined);
        if (s && s.counts.indexed >= N / 3) {
          logs.push(worker?.logs() ?? '');
          await worker?.stop();
          worker = await start();
          return s.counts.indexed;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      return -1;
    })();

    const summary = await runIndex(items, {
      url: base,
      token: STACK_SECRETS.ADMIN_TOKEN,
      secrets: [STACK_SECRETS.WEBHOOK_SECRET],
      concurrency: 4,
      wait: true,
      waitTimeoutS: 240,
      pollIntervalMs: 500,
    });
    const restartedAt = await restart;
    logs.push(worker?.logs() ?? '');
    const dropped = [...logs.join('\n').matchAll(/test hook: (\d+) upsert message\(s\) dropped/g)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    const final = await stats(base, COLLECTION);
    console.log(
      `liveness: ${formatSummary(summary)}\nrestarted at ${restartedAt} indexed; ${dropped} message(s) dropped by the hook; reconciler ${JSON.stringify(final.reconciler)}`,
    );
    expect(restartedAt).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    expect(summary.pending).toBe(0);
    expect(summary.failed).toEqual([]);
    expect(summary.indexed).toBe(N);
    expect(final.counts).toEqual({ pending: 0, indexed: N, failed: 0 });
    // Every dropped message was made up for by the reconciler (a restart may lose more).
    expect(final.reconciler.reenqueued).toBeGreaterThanOrEqual(dropped);
    expect(final.reconciler.failed).toBe(0);

    // Each image once: its own bytes find it first, and no id appears twice.
    const problems: string[] = [];
    await eachLimit(
      Array.from({ length: N }, (_, i) => i),
      4,
      async (i) => {
        const id = `live-${String(i).padStart(3, '0')}`;
        const ids = (await searchByImage(base, COLLECTION, at(pngs, i), 10)).map((r) => r.id);
        if (ids[0] !== id) problems.push(`${id}: search found ${ids[0]} first`);
        if (new Set(ids).size !== ids.length) problems.push(`${id}: doubled in ${ids.join(',')}`);
      },
    );
    expect(problems.slice(0, 10), `${problems.length} problem(s)`).toEqual([]);
  }, 600_000);
});
