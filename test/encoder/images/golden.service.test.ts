/**
 * Golden parity with the model kit (PyTorch/PIL reference written into the package at export):
 * preprocessed pixels, image embeddings through the running service, tokens and text embeddings.
 * Every answer is parsed with the contract's schemas (src/core/contract/encoder-api.ts), the
 * ones the Worker parses them with.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HealthAnswerSchema,
  ImageAnswerSchema,
  TextAnswerSchema,
} from '../../../src/core/contract/encoder-api';
import { EMBEDDING_LIMITS } from '../../../src/core/contract/limits';
import type { ModelManifest } from '../../../src/core/manifest';
import { decodeImage } from '../../../src/encoder/images/image-decode';
import { pixelValues } from '../../../src/encoder/images/pixel-tensor';
import {
  cosine,
  type EmbedAnswer,
  MODEL_DIR,
  type RunningEncoder,
  readModelJson,
  startEncoder,
} from '../support/service-process';

interface ImageCase {
  file: string;
  width: number;
  height: number;
  pixels: string;
  embedding: number[];
}
interface TextCase {
  text: string;
  input_ids: number[];
  embedding: number[];
}

const manifest = readModelJson<ModelManifest>('manifest.json');
const images = readModelJson<{ cases: ImageCase[] }>('golden/image.json').cases;
const texts = readModelJson<{ cases: TextCase[] }>('golden/text.json').cases;

describe('preprocessing reproduces the golden pixel tensors', () => {
  it.each(images.map((c) => [c.file, c] as const))('%s', async (_file, c) => {
    const image = await decodeImage(readFileSync(`${MODEL_DIR}${c.file}`), { pixels: 1e8 });
    expect([image.width, image.height]).toEqual([c.width, c.height]);
    const got = pixelValues(image, manifest.image);
    const raw = readFileSync(`${MODEL_DIR}${c.pixels}`);
    const want = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    expect(got.length).toBe(want.length);
    let maxAbs = 0;
    for (let i = 0; i < want.length; i++)
      maxAbs = Math.max(maxAbs, Math.abs((got[i] as number) - (want[i] as number)));
    // PIL's integer resampling is reproduced exactly; allow one float32 ulp of slack.
    expect(maxAbs).toBeLessThan(1e-6);
  });
});

describe('the service reproduces the golden embeddings', () => {
  let encoder: RunningEncoder;
  beforeAll(async () => {
    encoder = await startEncoder();
  });
  afterAll(() => encoder.stop());

  it.each(images.map((c) => [c.file, c] as const))('image %s: cosine >= 0.999', async (_file, c) => {
    const bytes = readFileSync(`${MODEL_DIR}${c.file}`);
    const type = c.file.endsWith('.jpg') ? 'image/jpeg' : 'image/png';
    const res = await encoder.call('/v1/embed/image', {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': type },
    });
    expect(res.status).toBe(200);
    const body: EmbedAnswer = ImageAnswerSchema.parse(await res.json());
    expect(body).toMatchObject({
      model: manifest.id,
      version: manifest.version,
      dim: manifest.projection_dim,
    });
    const item = body.data[0];
    expect(item).toMatchObject({ index: 0, width: c.width, height: c.height });
    expect(item?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(item?.embedding).toHaveLength(manifest.projection_dim);
    expect(cosine(item?.embedding ?? [], c.embedding)).toBeGreaterThanOrEqual(0.999);
  });

  it('the golden images in one multipart batch keep their order and embeddings', async () => {
    const form = new FormData();
    for (const c of images) form.append('image', new Blob([readFileSync(`${MODEL_DIR}${c.file}`)]), c.file);
    const res = await encoder.call('/v1/embed/image', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body: EmbedAnswer = ImageAnswerSchema.parse(await res.json());
    expect(body.data.map((d) => d.index)).toEqual(images.map((_, i) => i));
    body.data.forEach((d, i) => {
      expect(cosine(d.embedding ?? [], images[i]?.embedding ?? [])).toBeGreaterThanOrEqual(0.999);
    });
  });

  it('text embeddings match the golden ones (int8 tower: cosine >= 0.99)', async () => {
    const res = await encoder.call('/v1/embed/text', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ texts: texts.map((t) => t.text) }),
    });
    expect(res.status).toBe(200);
    const body: EmbedAnswer = TextAnswerSchema.parse(await res.json());
    expect(body).toMatchObject({
      model: manifest.id,
      version: manifest.version,
      dim: manifest.projection_dim,
    });
    body.data.forEach((d, i) => {
      expect(d.index).toBe(i);
      expect(cosine(d.embedding ?? [], texts[i]?.embedding ?? [])).toBeGreaterThanOrEqual(0.99);
    });
  });

  it('a text longer than the model allows is cut and flagged', async () => {
    const long = '빨간 원 '.repeat(manifest.text.max_length);
    const res = await encoder.call('/v1/embed/text', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ texts: ['빨간 원', long] }),
    });
    const body: EmbedAnswer = TextAnswerSchema.parse(await res.json());
    expect(body.data[0]?.truncated).toBeUndefined();
    expect(body.data[1]?.truncated).toBe(true);
  });

  it("accepts the longest text the Worker's /v1/embeddings takes (cut and flagged)", async () => {
    const longest = '빨 '.repeat(EMBEDDING_LIMITS.textChars / 2);
    const res = await encoder.call('/v1/embed/text', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ texts: [longest] }),
    });
    expect(res.status).toBe(200);
    const body: EmbedAnswer = TextAnswerSchema.parse(await res.json());
    expect(body.data[0]?.truncated).toBe(true);
  });

  it('/healthz reports the model, its version and the provider', async () => {
    const res = await encoder.call('/healthz', { auth: false });
    expect(res.status).toBe(200);
    expect(HealthAnswerSchema.parse(await res.json())).toMatchObject({
      status: 'ok',
      models: [{ id: manifest.id, version: manifest.version }],
      provider: 'cpu',
    });
  });
});
