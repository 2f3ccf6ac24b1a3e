/**
 * End to end, no stand-ins: the real encoder process (src/encoder) on a loopback port, the Worker
 * under `wrangler dev` (local workerd, local R2/KV/Cache) pointed at it, and the index seeded by
 * `npm run seed:demo` through the Worker's own upload path. Uploads travel Worker -> encoder ->
 * image tower and back.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, TS_RUNNER, type WorkerProcess } from '../../scripts/stack/index';
import { ROOT, type RunningEncoder, startEncoder, TOKEN } from '../encoder/support/service-process';

const demoIndex = JSON.parse(readFileSync(join(ROOT, 'models/koclip-tiny/demo/index.json'), 'utf8')) as {
  dim: number;
  items: { id: string; metadata: Record<string, unknown> }[];
};
const embeddings = new Float32Array(
  readFileSync(join(ROOT, 'models/koclip-tiny/demo/embeddings.f32')).buffer.slice(0),
);
const demoPng = (id: string) => readFileSync(join(ROOT, `models/koclip-tiny/demo/images/${id}.png`));
const demoRow = (id: string) => {
  const row = demoIndex.items.findIndex((i) => i.id === id);
  return embeddings.subarray(row * demoIndex.dim, (row + 1) * demoIndex.dim);
};

let encoder: RunningEncoder;
let worker: WorkerProcess | undefined;
let base = '';
const ADMIN_TOKEN = 'e2e-admin-token-0123';

beforeAll(async () => {
  encoder = await startEncoder();
  // Not a supervised stack: the last test stops the encoder under the Worker.
  worker = await startWorker({
    vars: { ENCODER_URL: encoder.url, ENCODER_TOKEN: TOKEN, ADMIN_TOKEN, ENCODER_TIMEOUT_MS: '30000' },
  });
  base = worker.url;
  // The demo set goes in through the one write path (uploads -> queue -> encoder -> writer); run
  // without blocking, so that this process keeps reading the Worker's output meanwhile.
  await promisify(execFile)(
    TS_RUNNER,
    ['scripts/seed-demo-index.ts', '--url', base, '--token', ADMIN_TOKEN, '--progress', 'none'],
    { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
  );
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await encoder?.stop();
});

const upload = (fields: Record<string, string | string[]>, image = 'demo-0005') => {
  const form = new FormData();
  form.set('image', new Blob([demoPng(image)], { type: 'image/png' }), `${image}.png`);
  for (const [k, v] of Object.entries(fields))
    for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  return form;
};

describe('composite queries end to end (POST /v1/search positive / negative parts)', () => {
  // Before the image routes' block, whose last test stops the encoder.
  type Answer = {
    query: { kind: string; positive?: { kind: string; sha256?: string }[] };
    results: { id: string; metadata: Record<string, unknown> }[];
    next_cursor: string | null;
    error?: { code: string; message: string };
  };
  const search = async (body: unknown) => {
    const response = await fetch(`${base}/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Answer };
  };
  /** Image embeddings the encoder made (its /metrics, every status). */
  const imageCalls = async () => {
    const text = await (await fetch(`${encoder.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('encoder_requests_total{') && l.includes('/v1/embed/image'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  };
  const png = demoPng('demo-0005').toString('base64');

  it('embeds an image part with the real image tower, like the same image by its indexed id', async () => {
    const before = await imageCalls();
    const bytes = await search({ positive: [{ image_base64: png }, { text: '파란' }], k: 8 });
    expect(bytes.status, JSON.stringify(bytes.body)).toBe(200);
    expect(await imageCalls()).toBe(before + 1);
    expect(bytes.body.query.kind).toBe('composite');
    expect(bytes.body.query.positive?.[0]).toMatchObject({
      kind: 'image',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    // The encoder embeds demo-0005 as the kit did (golden parity), so the composite ranks as with
    // its stored row, which (as an indexed part) is never answered itself.
    const byId = await search({ positive: [{ image_id: 'demo-0005' }, { text: '파란' }], k: 7 });
    expect(
      bytes.body.results
        .map((h) => h.id)
        .filter((id) => id !== 'demo-0005')
        .slice(0, 5),
    ).toEqual(byId.body.results.map((h) => h.id).slice(0, 5));
  });

  it('filters and pages a composite with its cursor, and refuses it on another query', async () => {
    const query = {
      positive: [{ image_base64: png, weight: 0.5 }, { text: '별' }, { text: '세모' }],
      negative: [{ text: '큰' }],
      filter: { count: [1, 2] },
    };
    const whole = await search({ ...query, k: 12 });
    expect(whole.status).toBe(200);
    expect(whole.body.results.every((h) => [1, 2].includes(h.metadata.count as number))).toBe(true);
    const paged: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 3; i++) {
      const page: { status: number; body: Answer } = await search({
        ...query,
        k: 4,
        ...(cursor ? { cursor } : {}),
      });
      expect(page.status).toBe(200);
      paged.push(...page.body.results.map((h) => h.id));
      cursor = page.body.next_cursor;
    }
    expect(paged).toEqual(whole.body.results.map((h) => h.id));
    const other = await search({ ...query, negative: [{ text: '작은' }], k: 4, cursor });
    expect(other.status).toBe(400);
    expect(other.body.error?.code).toBe('invalid_cursor');
  });

  it('refuses too many parts and weights out of range with a 400 naming the field, before the encoder', async () => {
    const before = await imageCalls();
    for (const [body, field] of [
      [{ positive: Array.from({ length: 9 }, () => ({ text: '원' })) }, 'positive'],
      [{ positive: [{ image_base64: png }, { image_base64: png }, { image_base64: png }] }, 'positive'],
      [{ positive: [{ image_base64: png, weight: 0 }] }, 'positive.0.weight'],
      [{ positive: [{ image_base64: png }], negative: [{ text: '큰', weight: 12 }] }, 'negative.0.weight'],
    ] as const) {
      const { status, body: answer } = await search(body);
      expect(status).toBe(400);
      expect(answer.error?.code).toBe('invalid_request');
      expect(answer.error?.message).toContain(field);
    }
    expect(await imageCalls()).toBe(before);
  });
});

describe('image routes end to end (wrangler dev + real encoder)', () => {
  it('searches by an uploaded image embedded by the real image tower', async () => {
    const response = await fetch(`${base}/v1/search`, { method: 'POST', body: upload({ k: '5' }) });
    const body = (await response.json()) as {
      results: { id: string; score: number }[];
      query: { kind: string };
    };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.query.kind).toBe('image');
    expect(body.results).toHaveLength(5);
    // The encoder's embedding of demo-0005 matches the kit's own (golden parity), so its best
    // match scores like the demo image against itself.
    const self = demoRow('demo-0005');
    let selfScore = 0;
    for (let i = 0; i < self.length; i++) selfScore += (self[i] as number) ** 2;
    expect(body.results[0]?.score).toBeGreaterThan(selfScore - 0.01);
  });

  it('scores captions against an upload, then serves the same request from the cache', async () => {
    const fields = { captions: ['분홍색 원', '파란 별', `e2e ${Date.now()}`] };
    const first = await fetch(`${base}/v1/score`, { method: 'POST', body: upload(fields) });
    const body = (await first.json()) as { probs: number[]; image: { sha256: string } };
    expect(first.status, JSON.stringify(body)).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(body.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    const second = await fetch(`${base}/v1/score`, { method: 'POST', body: upload(fields) });
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(await second.json()).toEqual(body);
  });

  it('scores the cells of a grid through the encoder (?grid=RxC)', async () => {
    const response = await fetch(`${base}/v1/patches`, {
      method: 'POST',
      body: upload({ text: '빨간 원', rows: '2', cols: '3' }, 'demo-0013'),
    });
    const body = (await response.json()) as { scores: number[][]; probs: number[][] };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.scores.map((r) => r.length)).toEqual([3, 3]);
    for (const s of body.scores.flat()) expect(Math.abs(s)).toBeLessThanOrEqual(1);
    expect(body.probs.flat().reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  });

  it("passes the encoder's refusal of a private image URL through as 403", async () => {
    const response = await fetch(`${base}/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image_url: 'http://127.0.0.1:9/x.png' }),
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toEqual(expect.any(String));
  });

  it('answers 502 encoder_unreachable once the encoder is gone', async () => {
    await encoder.stop();
    const response = await fetch(`${base}/v1/search`, { method: 'POST', body: upload({}) });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: { code: 'encoder_unreachable' } });
  });
});
