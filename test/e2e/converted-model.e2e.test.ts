/**
 * A converted package of the real KoCLIP architecture, served end to end by the local stack with
 * its text tower on the encoder (`function` placement), held to the library's own forward pass.
 *
 * The checkpoint is a small random-weight koclip-base (RoBERTa text tower + CLIP ViT-B/32:
 * pre/post LayerNorm, class token, quick_gelu) written by transformers' Flax modules and
 * flax.serialization (`make-fixture`); `convert` turns it into a package; `model:publish --local`
 * puts what the Worker reads into the Worker's local R2; the encoder loads the package folder.
 * Images go in through the upload path (Worker -> queue -> encoder -> writer). The reference is
 * `koclip_kit.reference`: the library's embeddings of the same texts, images and grid cells.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EncoderProcess,
  ROOT,
  STACK_ENCODER,
  STACK_VARS,
  startEncoder,
  startWorker,
  type WorkerProcess,
} from '../../scripts/stack/index';
import { adminHeaders, waitForStats } from './support/indexing-stack';

const MODEL = 'koclip-e2e-base';
const PYTHON = join(ROOT, 'scripts/model/.venv/bin/python');
const TEXTS = ['빨간 원', '파란 별 두 개', '초록 삼각형', '사진에 작은 노란 사각형이 보인다.'];
const IMAGES = [
  'demo-0000',
  'demo-0001',
  'demo-0002',
  'demo-0003',
  'demo-0004',
  'demo-0005',
  'demo-0006',
  'demo-0007',
];
const GRID = { rows: 2, cols: 3 };
/** Library reference against the served result: the bar for a converted package. */
const MIN_COSINE = 0.999;

interface Reference {
  model: string;
  version: string;
  dim: number;
  logit_scale: number;
  texts: { text: string; embedding: number[] }[];
  images: { file: string; embedding: number[]; cells: number[][] }[];
}

const tmp = mkdtempSync(join(tmpdir(), 'e2e-converted-'));
const persist = join(tmp, 'state');
let ref: Reference;
let encoder: EncoderProcess | undefined;
let worker: WorkerProcess | undefined;
let base = '';
/** The Worker's embeddings of TEXTS (from the encoder's int8 text tower). */
const served: number[][] = [];

function run(command: string, args: string[]): void {
  const done = spawnSync(command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, JAX_PLATFORMS: 'cpu' },
  });
  if (done.status !== 0)
    throw new Error(`${[command, ...args].join(' ')} failed:\n${done.stdout}\n${done.stderr}`);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
};
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
const refText = (text: string) => ref.texts.find((t) => t.text === text)?.embedding as number[];
const refImage = (id: string) =>
  ref.images.find((i) => i.file === `${id}.png`) as Reference['images'][number];
const png = (id: string) => readFileSync(join(ROOT, `models/koclip-tiny/demo/images/${id}.png`));

beforeAll(async () => {
  if (!existsSync(PYTHON)) throw new Error('the model kit venv is missing: run ./scripts/setup.sh');
  const checkpoint = join(tmp, 'checkpoint');
  const pkg = join(tmp, 'models', MODEL);
  const images = join(tmp, 'images');
  mkdirSync(images, { recursive: true });
  for (const id of IMAGES)
    copyFileSync(join(ROOT, `models/koclip-tiny/demo/images/${id}.png`), join(images, `${id}.png`));
  writeFileSync(join(tmp, 'texts.txt'), `${TEXTS.join('\n')}\n`);

  run(PYTHON, [
    '-m',
    'koclip_kit',
    'make-fixture',
    '--out',
    checkpoint,
    '--format',
    'flax',
    '--arch',
    'base',
    '--seed',
    '7',
  ]);
  run(PYTHON, ['-m', 'koclip_kit', 'convert', checkpoint, '--out', pkg, '--id', MODEL, '--version', 'e2e-1']);
  const refPath = join(tmp, 'reference.json');
  run(PYTHON, [
    '-m',
    'koclip_kit.reference',
    checkpoint,
    pkg,
    '--texts',
    join(tmp, 'texts.txt'),
    '--images',
    images,
    '--grid',
    `${GRID.rows}x${GRID.cols}`,
    '--out',
    refPath,
  ]);
  ref = JSON.parse(readFileSync(refPath, 'utf8')) as Reference;
  run(process.execPath, ['scripts/model/publish.mjs', pkg, '--local', '--persist-to', persist]);

  // Two halves, not a supervised stack: the last test stops the encoder under the Worker.
  encoder = await startEncoder({
    ...STACK_ENCODER,
    env: { ENCODER_MODELS_DIR: join(tmp, 'models'), ENCODER_MODELS: MODEL, ENCODER_DEFAULT_MODEL: MODEL },
  });
  worker = await startWorker({
    persist,
    vars: { ...STACK_VARS, ENCODER_URL: encoder.url, DEFAULT_MODEL: MODEL },
  });
  base = worker.url;

  for (const id of IMAGES) {
    const put = await fetch(`${base}/v1/images/${id}`, {
      method: 'PUT',
      headers: { ...adminHeaders, 'content-type': 'image/png' },
      body: png(id),
    });
    if (put.status !== 202) throw new Error(`upload of ${id} answered ${put.status}: ${await put.text()}`);
  }
  await waitForStats(base, 'default', (s) => s.counts.indexed === IMAGES.length, 120);

  const embedded = await fetch(`${base}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, input: TEXTS }),
  });
  if (!embedded.ok) throw new Error(`embeddings answered ${embedded.status}: ${await embedded.text()}`);
  const { data } = (await embedded.json()) as { data: { index: number; embedding: number[] }[] };
  for (const item of data) served[item.index] = item.embedding;
}, 420_000);

afterAll(async () => {
  await worker?.stop();
  await encoder?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe(`a converted koclip-base-architecture package (${MODEL}), text tower on the encoder`, () => {
  it('is served from R2 with function placement', async () => {
    const response = await fetch(`${base}/v1/models/${MODEL}`);
    const body = (await response.json()) as { id: string; version: string; text: { placement: string } };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.version).toBe(ref.version);
    expect(body.text.placement).toBe('function');
  });

  it('embeds Korean text like the library (the encoder runs the text tower)', () => {
    expect(served).toHaveLength(TEXTS.length);
    TEXTS.forEach((text, i) => {
      expect(served[i]).toHaveLength(ref.dim);
      expect(cosine(served[i] as number[], refText(text))).toBeGreaterThanOrEqual(MIN_COSINE);
    });
  });

  it('indexes uploads with the library image embeddings (search by an indexed image)', async () => {
    for (const id of IMAGES.slice(0, 3)) {
      const response = await fetch(`${base}/v1/search?image_id=${id}&k=${IMAGES.length}`);
      const body = (await response.json()) as { results: { id: string; score: number }[] };
      expect(response.status, JSON.stringify(body)).toBe(200);
      // The query image itself is left out of its own results.
      expect(body.results.map((r) => r.id).sort()).toEqual(IMAGES.filter((i) => i !== id).sort());
      for (const r of body.results) {
        const expected = cosine(refImage(id).embedding, refImage(r.id).embedding);
        expect(Math.abs(r.score - expected)).toBeLessThan(2e-3);
      }
    }
  });

  it('searches by Korean text with the scores and order of the library embeddings', async () => {
    for (const text of TEXTS) {
      const response = await fetch(`${base}/v1/search?q=${encodeURIComponent(text)}&k=${IMAGES.length}`);
      const body = (await response.json()) as { results: { id: string; score: number }[] };
      expect(response.status, JSON.stringify(body)).toBe(200);
      expect(body.results.map((r) => r.id).sort()).toEqual([...IMAGES].sort());
      // Scores are the served text embedding (held to the library above) against the library's
      // image embeddings; the tolerance covers the index's fp16 rows.
      const query = served[TEXTS.indexOf(text)] as number[];
      const expected = new Map(IMAGES.map((id) => [id, cosine(query, refImage(id).embedding)]));
      for (const r of body.results)
        expect(Math.abs(r.score - (expected.get(r.id) as number))).toBeLessThan(2e-3);
      // Ranked by score: any two results whose reference scores differ by more than the
      // tolerance come in the reference's order.
      for (let i = 0; i < body.results.length; i++)
        for (let j = i + 1; j < body.results.length; j++) {
          const a = expected.get(body.results[i]?.id as string) as number;
          const b = expected.get(body.results[j]?.id as string) as number;
          expect(a).toBeGreaterThan(b - 4e-3);
        }
    }
  });

  it('scores captions against an indexed image like the library (its fp32 text tower, by default)', async () => {
    const response = await fetch(`${base}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image_id: 'demo-0003', captions: TEXTS }),
    });
    const body = (await response.json()) as {
      logit_scale: number;
      text_variant: string;
      results: { caption: string; prob: number }[];
    };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.logit_scale).toBeCloseTo(ref.logit_scale, 5);
    expect(body.text_variant).toBe('fp32');
    // The library's own text and image embeddings (test/e2e/score-reference.e2e.test.ts holds the
    // same at projection 512 and logit scale 100).
    const logits = TEXTS.map(
      (t) => Math.exp(ref.logit_scale) * cosine(refText(t), refImage('demo-0003').embedding),
    );
    const max = Math.max(...logits);
    const sum = logits.reduce((s, l) => s + Math.exp(l - max), 0);
    for (const r of body.results) {
      const expected = Math.exp((logits[TEXTS.indexOf(r.caption)] as number) - max) / sum;
      expect(Math.abs(r.prob - expected)).toBeLessThan(1e-3);
    }
  });

  it('ranks the grid cells of an image like the library', async () => {
    const form = new FormData();
    form.set('image', new Blob([png('demo-0005')], { type: 'image/png' }), 'demo-0005.png');
    form.set('text', TEXTS[0] as string);
    form.set('rows', String(GRID.rows));
    form.set('cols', String(GRID.cols));
    const response = await fetch(`${base}/v1/patches`, { method: 'POST', body: form });
    const body = (await response.json()) as { scores: number[][] };
    expect(response.status, JSON.stringify(body)).toBe(200);
    const cells = refImage('demo-0005').cells;
    expect(body.scores.flat()).toHaveLength(cells.length);
    body.scores.flat().forEach((score, i) => {
      expect(Math.abs(score - cosine(served[0] as number[], cells[i] as number[]))).toBeLessThan(2e-3);
    });
  });

  it('answers 502 when the encoder that runs its text tower is down', async () => {
    await encoder?.stop();
    const response = await fetch(`${base}/v1/search?q=${encodeURIComponent('보라색 하트')}`);
    const body = (await response.json()) as { error: { code: string } };
    expect(response.status).toBe(502);
    expect(body.error.code).toMatch(/^encoder_/);
  });
});
