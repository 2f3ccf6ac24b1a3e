/**
 * The text tower variant (ENCODER_TEXT_VARIANT) and the tower every text answer names: the real
 * encoder on koclip-tiny with its default (int8) and with fp32 answers with each tower's own
 * embeddings, and says which tower made them (`text_variant`, `text_tower` as core/manifest.ts
 * textTowerIdentity computes it) in each /v1/embed/text answer and in /healthz, parsed with the
 * contract's schemas (the Worker keys its caches of these numbers by that tower).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthAnswerSchema, TextAnswerSchema } from '../../../src/core/contract/encoder-api';
import { type ModelManifest, parseManifest, textTowerIdentity } from '../../../src/core/manifest';
import { cosine, type RunningEncoder, readModelJson, startEncoder } from '../support/service-process';

const manifest: ModelManifest = parseManifest(readModelJson('manifest.json'));
const golden = readModelJson<{ cases: { text: string; embedding: number[] }[] }>('golden/text.json').cases;
const texts = golden.map((c) => c.text);

async function embed(encoder: RunningEncoder) {
  const res = await encoder.call('/v1/embed/text', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ texts }),
  });
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
