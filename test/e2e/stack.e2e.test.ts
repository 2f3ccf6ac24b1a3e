/**
 * End to end, no stand-ins: the real encoder process (src/encoder) on a loopback port, the Worker
 * under `wrangler dev` (local workerd, local R2/KV/Cache) pointed at it, and the index seeded by
 * `npm run seed:demo` through the Worker's own upload path. Uploads travel Worker -> encoder ->
 * image tower and back.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let encoder: RunningEncoder;
let worker: ChildProcess | undefined;
let workerLogs = '';
let base = '';
const persist = mkdtempSync(join(tmpdir(), 'e2e-image-routes-'));
const ADMIN_TOKEN = 'e2e-admin-token-0123';

beforeAll(async () => {
  encoder = await startEncoder();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  worker = spawn(
    join(ROOT, 'node_modules/.bin/wrangler'),
    [
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--persist-to',
      persist,
      '--show-interactive-dev-session=false',
      '--var',
      `ENCODER_URL:${encoder.url}`,
      '--var',
      `ENCODER_TOKEN:${TOKEN}`,
      '--var',
      `ADMIN_TOKEN:${ADMIN_TOKEN}`,
      '--var',
      'ENCODER_TIMEOUT_MS:30000',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  worker.stdout?.on('data', (c: Buffer) => {
    workerLogs += c.toString();
  });
  worker.stderr?.on('data', (c: Buffer) => {
    workerLogs += c.toString();
  });
  let up = false;
  for (let i = 0; i < 240 && !up; i++) {
    try {
      up = (await fetch(`${base}/healthz`)).ok;
    } catch {}
    if (!up) await new Promise((r) => setTimeout(r, 500));
  }
  if (!up) throw new Error(`wrangler dev did not come up:\n${workerLogs}`);
  // The demo set goes in through the one write path (uploads -> queue -> encoder -> writer).
  const seeded = spawnSync(
    process.execPath,
    [
      '--experimental-transform-types',
      '--disable-warning=ExperimentalWarning',
      '--import',
      './src/encoder/ts-hooks.mjs',
      'scripts/seed-demo-index.ts',
      '--url',
      base,
      '--token',
      ADMIN_TOKEN,
      '--progress',
      'none',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (seeded.status !== 0) throw new Error(`seed failed: ${seeded.stdout}\n${seeded.stderr}`);
}, 300_000);

afterAll(async () => {
  worker?.kill('SIGTERM');
  await encoder?.stop();
  rmSync(persist, { recursive: true, force: true });
});

const upload = (fields: Record<string, string | string[]>, image = 'demo-0005') => {
  const form = new FormData();
  form.set('image', new Blob([demoPng(image)], { type: 'image/png' }), `${image}.png`);
  for (const [k, v] of Object.entries(fields))
    for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  return form;
};

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
