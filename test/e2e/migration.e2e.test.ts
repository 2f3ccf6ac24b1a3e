import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type ImageServer, startImageServer } from '../../scripts/index/image-server';
import { distinctScenes, embedImages } from '../../scripts/index/synthetic-images';
import { runMigrateCli } from '../../scripts/migrate/cli';
import {
  type EncoderProcess,
  STACK_ENCODER,
  STACK_VARS,
  startEncoder,
  startWorker,
  type WorkerProcess,
} from '../../scripts/stack/index';
import type { Migration } from '../../src/core/contract/collection-schemas';
import { twoPackages } from '../model/support/external-data';
import {
  adminHeaders,
  deliver,
  eachLimit,
  searchByImage,
  signed,
  stats,
  waitForStats,
} from './support/indexing-stack';

const A = 'koclip-tiny';
const B = 'koclip-tiny-next';
const N = 1000;
const ADDED = 100;
const DELETED = 50;
const COLLECTION = 'move';
const id = (i: number) => `mv-${String(i).padStart(4, '0')}`;
const at = <T>(list: T[], i: number): T => list[i] as T;

const tmp = mkdtempSync(join(tmpdir(), 'e2e-migration-'));
const persist = join(tmp, 'state');
let encoder: EncoderProcess;
let worker: WorkerProcess | undefined;
let images: ImageServer;
let pngs: Buffer[] = [];
let base = '';

beforeAll(async () => {
  const models = twoPackages(join(tmp, 'models'), B, persist);
  encoder = await startEncoder({
    ...STACK_ENCODER,
    env: { ENCODER_MODELS_DIR: models, ENCODER_MODELS: `${A},${B}`, ENCODER_DEFAULT_MODEL: A },
  });
  pngs = (await distinctScenes(N + ADDED, (batch) => embedImages(encoder.url, encoder.token, batch), 0.99))
    .pngs;
  images = await startImageServer();
  for (let i = 0; i < N; i++) images.put(`${id(i)}.png`, at(pngs, i));
  worker = await startWorker({
    persist,
    vars: { ...STACK_VARS, ENCODER_URL: encoder.url, MIGRATION_SETTLE_S: '1', QUEUE_RETRY_MAX_DELAY_S: '2' },
  });
  base = worker.url;
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await encoder?.stop();
  await images?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, {
    ...init,
    headers: { ...adminHeaders, 'content-type': 'application/json', ...init.headers },
  });

async function migration(mid: string): Promise<Migration> {
  const response = await admin(`/v1/collections/${COLLECTION}/migrations/${mid}`);
  if (!response.ok) throw new Error(`migration answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Migration;
}

describe('a collection moves to a new model under load (wrangler dev + real encoder, two packages)', () => {
  it('re-embeds every image, switches in one step with no failed search, keeps every write, rolls back', async () => {
    onTestFailed(() => {
      // Without the access log of the searches and polls, which would hide everything else.
      const lines = (worker?.logs() ?? '').split('\n').filter((l) => !/ (GET|PUT|POST) \/v1\//.test(l));
      console.error(`wrangler dev (last 120 lines but the access log):\n${lines.slice(-120).join('\n')}`);
    });

    // 1. 1,000 images under the default model, by signed webhook.
    const batches = await Promise.all(
      Array.from({ length: N / 100 }, (_, c) =>
        signed(
          Array.from({ length: 100 }, (_, k) => ({
            op: 'upsert',
            id: id(c * 100 + k),
            collection: COLLECTION,
            image_url: `${images.url}/${id(c * 100 + k)}.png`,
            metadata: { n: c * 100 + k },
          })),
        ),
      ),
    );
    for (const answer of await Promise.all(batches.map((b) => deliver(base, b))))
      expect(answer.status).toBe(202);
    await waitForStats(base, COLLECTION, (s) => s.counts.indexed === N && s.counts.pending === 0, 300);

    // 2. Start the migration; a searcher and a writer run until it has switched.
    const start = await admin(`/v1/collections/${COLLECTION}/migrations`, {
      method: 'POST',
      body: JSON.stringify({ to: B }),
    });
    const started = (await start.json()) as Migration;
    expect(start.status, JSON.stringify(started)).toBe(202);
    expect(started).toMatchObject({ state: 'copying', from: { model: A }, to: { model: B }, total: N });
    const again = await admin(`/v1/collections/${COLLECTION}/migrations`, {
      method: 'POST',
      body: JSON.stringify({ to: B }),
    });
    expect(again.status).toBe(409);

    let switched = false;
    const pages: { status: number; model: string; after: boolean }[] = [];
    const searcher = (async () => {
      const queries = ['빨간 원', '파란 별 두 개', '초록 삼각형', '큰 노란 사각형'];
      for (let q = 0; !switched || pages.filter((p) => p.after).length < 20; q++) {
        const after = switched;
        const response = await fetch(
          `${base}/v1/search?q=${encodeURIComponent(at(queries, q % queries.length))}&k=10&collection=${COLLECTION}`,
        );
        const body = (await response.json()) as { model?: string };
        pages.push({ status: response.status, model: body.model ?? '', after });
      }
    })();
    const added = Array.from({ length: ADDED }, (_, k) => N + k);
    const stride = Math.floor(N / DELETED);
    const deleted = Array.from({ length: DELETED }, (_, k) => k * stride + (stride >> 1));
    const writer = (async () => {
      await eachLimit(added, 4, async (i) => {
        const response = await fetch(`${base}/v1/images/${id(i)}?collection=${COLLECTION}`, {
          method: 'PUT',
          headers: { ...adminHeaders, 'content-type': 'image/png' },
          body: at(pngs, i),
        });
        if (response.status !== 202)
          throw new Error(`upload ${id(i)}: ${response.status} ${await response.text()}`);
      });
      const del = await deliver(
        base,
        await signed(deleted.map((i) => ({ op: 'delete', id: id(i), collection: COLLECTION }))),
      );
      if (del.status !== 202) throw new Error(`deletes: ${del.status}`);
    })();

    // The bulk CLI's follower (`npm run migrate -- move --follow <id>`) waits for the switch.
    const out = {
      text: '',
      isTTY: false,
      columns: 200,
      write(c: string | Uint8Array) {
        out.text += c.toString();
        return true;
      },
    };
    const code = await runMigrateCli(
      [
        COLLECTION,
        '--follow',
        started.id,
        '--url',
        base,
        '--progress',
        'lines',
        '--poll-interval',
        '0.5',
        '--timeout',
        '300',
      ],
      {
        stdout: out as unknown as NodeJS.WritableStream,
        stderr: out as unknown as NodeJS.WriteStream,
        env: { ADMIN_TOKEN: adminHeaders.authorization.slice('Bearer '.length) },
      },
    );
    switched = true;
    expect(code, out.text).toBe(0);
    expect(out.text).toMatch(/switched/);
    const final = await migration(started.id);
    await Promise.all([searcher, writer]);
    console.log(
      `migration: ${final.state} after ${((Date.parse(final.switched_at ?? '') - Date.parse(final.started_at)) / 1000).toFixed(1)} s, ` +
        `copied ${final.copied}, ${final.images_per_s} images/s; ${pages.length} searches`,
    );
    expect(final.state).toBe('switched');
    expect(final.error).toBeNull();

    // No failed search; every page one model; the old model never after the new one's first page.
    expect(pages.filter((p) => p.status !== 200)).toEqual([]);
    expect(new Set(pages.map((p) => p.model))).toEqual(new Set([A, B]));
    const firstB = pages.findIndex((p) => p.model === B);
    expect(pages.slice(firstB).every((p) => p.model === B)).toBe(true);
    expect(pages.filter((p) => p.after).every((p) => p.model === B)).toBe(true);

    // 3. The collection reads B; B has every image, the writes made meanwhile included.
    const collection = (await (await admin(`/v1/collections/${COLLECTION}`)).json()) as { model: string };
    expect(collection.model).toBe(B);
    const expected = { pending: 0, indexed: N - DELETED + ADDED, failed: 0 };
    const onB = await waitForStats(base, COLLECTION, (s) => s.counts.pending === 0, 120);
    expect(onB).toMatchObject({ model: B, counts: expected });
    const status = (i: number, model?: string) =>
      fetch(`${base}/v1/images/${id(i)}?collection=${COLLECTION}${model ? `&model=${model}` : ''}`, {
        headers: adminHeaders,
      }).then((r) => r.status);
    for (const i of added.slice(0, 20)) expect(await status(i)).toBe(200);
    for (const i of deleted.slice(0, 20)) expect(await status(i)).toBe(404);
    const sample = [...added.slice(0, 10), ...[0, 1, 2, 3, N / 2, N - 1].filter((i) => !deleted.includes(i))];
    for (const i of sample) {
      const hits = await searchByImage(base, COLLECTION, at(pngs, i), 3);
      expect(at(hits, 0).id).toBe(id(i));
    }
    // The old index got the same writes (dual writes), so a rollback loses nothing.
    const onA = await fetch(`${base}/v1/index/stats?collection=${COLLECTION}&model=${A}`, {
      headers: adminHeaders,
    });
    expect(((await onA.json()) as { counts: unknown }).counts).toEqual(expected);

    // 4. Rollback: reads return to A in one step; a second rollback is refused.
    const rolled = await admin(`/v1/collections/${COLLECTION}/migrations/${started.id}/rollback`, {
      method: 'POST',
    });
    expect(rolled.status).toBe(200);
    expect(((await rolled.json()) as Migration).state).toBe('rolled_back');
    const back = await fetch(`${base}/v1/search?q=${encodeURIComponent('빨간 원')}&collection=${COLLECTION}`);
    expect(((await back.json()) as { model: string }).model).toBe(A);
    expect((await stats(base, COLLECTION)).model).toBe(A);
    const closed = await admin(`/v1/collections/${COLLECTION}/migrations/${started.id}/rollback`, {
      method: 'POST',
    });
    expect(closed.status).toBe(409);
  }, 900_000);
});
