/**
 * The text tower variant (ENCODER_TEXT_VARIANT) and the tower every text answer names: the real
 * encoder on koclip-tiny with its default (int8) and with fp32 answers with each tower's own
 * embeddings, and says which tower made them (`text_variant`, `text_tower` as core/manifest.ts
 * textTowerIdentity computes it) in each /v1/embed/text answer and in /healthz, parsed with the
 * contract's schemas (the Worker keys its caches of these numbers by that tower). A request may
 * name the tower (`?text_variant=`, what the Worker's /v1/score does): the other one is loaded on
 * first use and answers that request alone.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthAnswerSchema, TextAnswerSchema } from '../../../src/core/contract/encoder-api';
import { type ModelManifest, parseManifest, textTowerIdentity } from '../../../src/core/manifest';
import {
  cosine,
  MODEL_DIR,
  type RunningEncoder,
  readModelJson,
  startEncoder,
} from '../support/service-process';

const manifest: ModelManifest = parseManifest(readModelJson('manifest.json'));
const golden = readModelJson<{ cases: { text: string; embedding: number[] }[] }>('golden/text.json').cases;
const texts = golden.map((c) => c.text);

function post(encoder: RunningEncoder, query = '') {
  return encoder.call(`/v1/embed/text${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ texts }),
  });
}

async function embed(encoder: RunningEncoder, query = '') {
  const res = await post(encoder, query);
  expect(res.status).toBe(200);
  return TextAnswerSchema.parse(await res.json());
}

async function health(encoder: RunningEncoder) {
  return HealthAnswerSchema.parse(await (await encoder.call('/healthz', { auth: false })).json());
}

describe('the text tower an encoder runs', () => {
  let int8: RunningEncoder;
  let fp32: RunningEncoder;
  beforeAll(async () => {
    [int8, fp32] = await Promise.all([startEncoder(), startEncoder({ ENCODER_TEXT_VARIANT: 'fp32' })]);
  });
  afterAll(() => Promise.all([int8?.stop(), fp32?.stop()]));

  it('is named by every text answer: the manifest default without the setting, fp32 with it', async () => {
    expect(manifest.text.default_variant).toBe('int8');
    const a = await embed(int8);
    const b = await embed(fp32);
    expect(a).toMatchObject({ text_variant: 'int8', text_tower: textTowerIdentity(manifest, 'int8') });
    expect(b).toMatchObject({ text_variant: 'fp32', text_tower: textTowerIdentity(manifest, 'fp32') });
    expect(a.text_tower).not.toBe(b.text_tower);
    // Each tower's own numbers: fp32 reproduces the golden (fp32) embeddings closer than int8.
    a.data.forEach((item, i) => {
      const other = b.data[i]?.embedding ?? [];
      const want = golden[i]?.embedding ?? [];
      expect(cosine(item.embedding, other)).toBeLessThan(0.99999);
      expect(cosine(other, want)).toBeGreaterThanOrEqual(0.9999);
      expect(cosine(other, want)).toBeGreaterThan(cosine(item.embedding, want));
    });
  });

  it('is named by /healthz for each model it serves', async () => {
    expect((await health(int8)).models).toEqual([
      expect.objectContaining({
        id: manifest.id,
        version: manifest.version,
        text_variant: 'int8',
        text_tower: textTowerIdentity(manifest, 'int8'),
      }),
    ]);
    expect((await health(fp32)).models).toEqual([
      expect.objectContaining({ text_variant: 'fp32', text_tower: textTowerIdentity(manifest, 'fp32') }),
    ]);
  });
});

describe('the text tower a request names (?text_variant=)', () => {
  let int8: RunningEncoder;
  let int8Only: RunningEncoder;
  const dir = mkdtempSync(join(tmpdir(), 'encoder-int8-only-'));
  beforeAll(async () => {
    // koclip-tiny's files, with a manifest that ships the int8 text tower alone.
    const pkg = join(dir, 'koclip-tiny');
    mkdirSync(pkg);
    for (const name of readdirSync(MODEL_DIR))
      if (name !== 'manifest.json') symlinkSync(join(MODEL_DIR, name), join(pkg, name));
    const only = structuredClone(readModelJson<{ text: { files: Record<string, string> } }>('manifest.json'));
    delete only.text.files.fp32;
    writeFileSync(join(pkg, 'manifest.json'), JSON.stringify(only));
    [int8, int8Only] = await Promise.all([startEncoder(), startEncoder({ ENCODER_MODELS_DIR: dir })]);
  });
  afterAll(async () => {
    await Promise.all([int8?.stop(), int8Only?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is run for that request, the other tower loaded on first use; the default answers the rest', async () => {
    const plain = await embed(int8);
    const fp32 = await embed(int8, '?text_variant=fp32');
    expect(fp32).toMatchObject({ text_variant: 'fp32', text_tower: textTowerIdentity(manifest, 'fp32') });
    fp32.data.forEach((item, i) => {
      expect(cosine(item.embedding, golden[i]?.embedding ?? [])).toBeGreaterThanOrEqual(0.9999);
      expect(cosine(item.embedding, plain.data[i]?.embedding ?? [])).toBeLessThan(0.99999);
    });
    expect(int8.logs()).toContain('loaded the fp32 text tower of koclip-tiny on first use');
    // The default, unnamed or named, is still the int8 tower, and /healthz still names it.
    expect(await embed(int8)).toEqual(plain);
    expect(await embed(int8, '?text_variant=int8')).toEqual(plain);
    expect((await health(int8)).models[0]).toMatchObject({ text_variant: 'int8' });
    // Loaded once: the second request runs the same tower, to the float.
    expect(await embed(int8, '?text_variant=fp32')).toEqual(fp32);
    expect(int8.logs().split('loaded the fp32 text tower').length).toBe(2);
  });

  it('is 400 bad_request when it is no variant, 400 unknown_variant when the package lacks it', async () => {
    for (const query of ['?text_variant=fp16', '?text_variant=FP32', '?text_variant=']) {
      const res = await post(int8, query);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    }
    const res = await post(int8Only, '?text_variant=fp32');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: 'unknown_variant', message: 'model koclip-tiny has no fp32 text tower; it has int8' },
    });
    expect((await embed(int8Only)).text_variant).toBe('int8');
  });
});

describe('the contract', () => {
  const answer = {
    model: manifest.id,
    version: manifest.version,
    dim: manifest.projection_dim,
    text_variant: 'int8',
    text_tower: textTowerIdentity(manifest, 'int8'),
    data: [],
  };

  it('refuses a text answer that names no tower, or a tower of another model, version or variant', () => {
    expect(TextAnswerSchema.safeParse(answer).success).toBe(true);
    const { text_tower: _, ...nameless } = answer;
    expect(TextAnswerSchema.safeParse(nameless).success).toBe(false);
    for (const text_tower of [
      textTowerIdentity({ ...manifest, id: 'other' }, 'int8'),
      textTowerIdentity({ ...manifest, version: 'other' }, 'int8'),
      textTowerIdentity(manifest, 'fp32'),
    ])
      expect(TextAnswerSchema.safeParse({ ...answer, text_tower }).success).toBe(false);
  });
});
