/**
 * Load, end to end with no stand-ins: the Worker under `wrangler dev` (miniflare's local Queue,
 * R2 and Durable Objects), the real encoder process, and a loopback server for the images.
 * 1,000 distinct images arrive through 50 concurrent signed webhook calls; 10% of the deliveries
 * arrive twice (re-signed, accepted again and applied idempotently, or replayed exactly and
 * refused 409); 100 images are re-sent with new metadata, then 50 are deleted. The index must end
 * with exactly 950 records, each with its latest metadata; a search with each remaining image's
 * own bytes returns that image first, and no search returns a deleted one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ImageServer, startImageServer } from '../../scripts/index/image-server';
import { distinctScenes, embedImages } from '../../scripts/index/synthetic-images';
import {
  type EncoderProcess,
  STACK_ENCODER,
  STACK_VARS,
  startEncoder,
  startWorker,
  type WorkerProcess,
} from '../../scripts/stack/index';
import {
  deliver,
  eachLimit,
  searchByImage,
  signed,
  stats,
  status,
  waitForStats,
} from './support/indexing-stack';

const N = 1000;
const CALLS = 50;
const COLLECTION = 'load';
const at = <T>(list: T[], i: number): T => list[i] as T;
const id = (i: number) => `load-${String(i).padStart(4, '0')}`;

let encoder: EncoderProcess;
let worker: WorkerProcess | undefined;
let base = '';
let images: ImageServer;
let pngs: Buffer[] = [];
let maxPairCosine = 0;
const persist = mkdtempSync(join(tmpdir(), 'e2e-indexing-load-'));

beforeAll(async () => {
  encoder = await startEncoder(STACK_ENCODER);
  // Distinct images: koclip-tiny embeddings of any two below cosine 0.99, so that an image's own
  // bytes find it first whatever the index's vector encoding rounds.
  const set = await distinctScenes(N, (batch) => embedImages(encoder.url, encoder.token, batch), 0.99);
  pngs = set.pngs;
  maxPairCosine = set.maxPairCosine;
  images = await startImageServer();
  pngs.forEach((png, i) => {
    images.put(`${id(i)}.png`, png);
  });
  worker = await startWorker({ persist, vars: { ...STACK_VARS, ENCODER_URL: encoder.url } });
  base = worker.url;
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await encoder?.stop();
  await images?.close();
  rmSync(persist, { recursive: true, force: true });
});

const upsert = (i: number, v: number) => ({
  op: 'upsert',
  id: id(i),
  collection: COLLECTION,
  image_url: `${images.url}/${id(i)}.png`,
  metadata: { n: i, v },
});

describe('indexing under load (wrangler dev + real encoder)', () => {
  it('ends with exactly the 950 latest records, each found first by its own bytes, no deleted one ever', async () => {
    expect(maxPairCosine).toBeLessThan(0.99);
    const before = await stats(base, COLLECTION);
    expect(before.counts).toEqual({ pending: 0, indexed: 0, failed: 0 });

    // 1. 1,000 images in 50 concurrent calls of 20; 5 deliveries (10%) arrive twice: 3 re-signed
    //    (a sender's retry: accepted again, applied once), 2 replayed byte for byte (409).
    const per = N / CALLS;
    const deliveries = await Promise.all(
      Array.from({ length: CALLS }, (_, c) =>
        signed(Array.from({ length: per }, (_, k) => upsert(c * per + k, 1))),
      ),
    );
    const resigned = [3, 17, 31];
    const replayed = [8, 42];
    const now = Math.floor(Date.now() / 1000);
    const extra = [
      ...(await Promise.all(resigned.map((c) => signed(JSON.parse(at(deliveries, c).body).events, now - 7)))),
      ...replayed.map((c) => at(deliveries, c)),
    ];
    const t0 = performance.now();
    const answers = await Promise.all([...deliveries, ...extra].map((d) => deliver(base, d)));
    const firstWave = answers.slice(0, CALLS);
    const extraAnswers = answers.slice(CALLS);
    // Each replay pair: one 202, one 409 (whichever arrived second).
    for (const [k, c] of replayed.entries()) {
      const pair = [at(firstWave, c).status, at(extraAnswers, resigned.length + k).status].sort();
      expect(pair, JSON.stringify(at(extraAnswers, resigned.length + k).body)).toEqual([202, 409]);
    }
    for (const [k, c] of firstWave.entries())
      if (!replayed.includes(k)) expect(c.status, JSON.stringify(c.body)).toBe(202);
    for (const k of resigned.keys()) expect(at(extraAnswers, k).status).toBe(202);
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted).toHaveLength(CALLS + resigned.length);
    for (const a of accepted) expect((a.body as { accepted: number }).accepted).toBe(per);

    // 2. 100 images re-sent with new metadata (v: 2), in 5 concurrent calls, while the first
    //    wave is still being indexed; then 50 deletes (half of them of re-sent images).
    const changed = Array.from({ length: 100 }, (_, k) => k * 10 + 3);
    const updates = await Promise.all(
      Array.from({ length: 5 }, (_, c) =>
        signed(changed.slice(c * 20, c * 20 + 20).map((i) => upsert(i, 2))),
      ),
    );
    for (const a of await Promise.all(updates.map((d) => deliver(base, d)))) expect(a.status).toBe(202);
    const deleted = [...changed.slice(0, 25), ...Array.from({ length: 25 }, (_, k) => k * 10 + 5)];
    const deletes = await signed(deleted.map((i) => ({ op: 'delete', id: id(i), collection: COLLECTION })));
    const del = await deliver(base, deletes);
    expect(del.status, JSON.stringify(del.body)).toBe(202);
    // The exact replay of the deletes changes nothing either.
    expect((await deliver(base, deletes)).status).toBe(409);

    // 3. Exactly 950 records, all indexed.
    const final = await waitForStats(
      base,
      COLLECTION,
      (s) => s.counts.pending === 0 && s.counts.indexed + s.counts.failed >= N - deleted.length,
      600,
    );
    expect(final.counts).toEqual({ pending: 0, indexed: 950, failed: 0 });
    const indexedS = (performance.now() - t0) / 1000;

    // 4. Each record has its latest metadata; deleted ones are gone.
    const gone = new Set(deleted);
    const updated = new Set(changed);
    const wrong: string[] = [];
    await eachLimit(
      Array.from({ length: N }, (_, i) => i),
      8,
      async (i) => {
        const s = await status(base, COLLECTION, id(i));
        if (gone.has(i)) {
          if (s.status !== 404) wrong.push(`${id(i)}: deleted but ${s.status} ${JSON.stringify(s.body)}`);
          return;
        }
        const want = { n: i, v: updated.has(i) ? 2 : 1 };
        if (
          s.status !== 200 ||
          s.body.state !== 'indexed' ||
          JSON.stringify(s.body.metadata) !== JSON.stringify(want)
        )
          wrong.push(`${id(i)}: ${s.status} ${JSON.stringify(s.body)}`);
      },
    );
    expect(wrong.slice(0, 10), `${wrong.length} wrong record(s)`).toEqual([]);

    // 5. Search by each image's own bytes: a remaining image comes first (with its latest
    //    metadata), a deleted one never appears, and no id appears twice in an answer.
    const misses: string[] = [];
    await eachLimit(
      Array.from({ length: N }, (_, i) => i),
      4,
      async (i) => {
        const results = await searchByImage(base, COLLECTION, at(pngs, i), 5);
        const ids = results.map((r) => r.id);
        if (new Set(ids).size !== ids.length) misses.push(`${id(i)}: duplicate ids ${ids.join(',')}`);
        for (const r of ids) if (gone.has(Number(r.slice(5)))) misses.push(`${id(i)}: deleted ${r} returned`);
        if (!gone.has(i)) {
          if (ids[0] !== id(i)) misses.push(`${id(i)}: first was ${ids[0]} (${results[0]?.score})`);
          else if (results[0]?.metadata.v !== (updated.has(i) ? 2 : 1))
            misses.push(`${id(i)}: stale metadata`);
        }
      },
    );
    expect(misses.slice(0, 10), `${misses.length} bad search(es)`).toEqual([]);
    console.log(
      `load: ${N} images (max pairwise cosine ${maxPairCosine.toFixed(4)}) indexed to 950 records in ` +
        `${indexedS.toFixed(1)} s; ${final.segments} segment(s); ${N} searches by image in ${((performance.now() - t0) / 1000 - indexedS).toFixed(1)} s`,
    );
  }, 900_000);
});
