import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import goldenText from '../../../models/koclip-tiny/golden/text.json';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import textFp32 from '../../../models/koclip-tiny/text-fp32.onnx';
import textInt8 from '../../../models/koclip-tiny/text-int8.onnx';
import tokenizerJson from '../../../models/koclip-tiny/tokenizer.json';
import { parseManifest, textTowerIdentity } from '../../../src/core/manifest';
import { cosine } from '../../../src/core/vector';
import { loadModel, modelFileKey, modelManifestKey } from '../../../src/edge/inference/model-registry';
import { embedTexts, TEXT_BATCH_SIZE, textTowerStats } from '../../../src/edge/inference/text-tower';

// Golden embeddings are the PyTorch fp32 reference written by the model kit at export time.
const tiny = parseManifest(manifestJson);
const texts = goldenText.cases.map((c) => c.text);

async function sha256(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Publishes a copy of koclip-tiny under another id to MODELS_BUCKET (the path larger models take). */
async function publishCopy(
  id: string,
  fp32: ArrayBuffer = textFp32,
  version = tiny.version,
  int8: ArrayBuffer = textInt8,
): Promise<void> {
  const tokenizerBytes = new TextEncoder().encode(JSON.stringify(tokenizerJson)).buffer as ArrayBuffer;
  const manifest = structuredClone(tiny);
  manifest.id = id;
  manifest.version = version;
  manifest.files['tokenizer.json'] = {
    sha256: await sha256(tokenizerBytes),
    bytes: tokenizerBytes.byteLength,
  };
  if (int8 !== textInt8)
    manifest.files['text-int8.onnx'] = { sha256: await sha256(int8), bytes: int8.byteLength };
  await env.MODELS_BUCKET.put(modelManifestKey(id), JSON.stringify(manifest));
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'tokenizer.json'), tokenizerBytes);
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'text-int8.onnx'), int8);
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'text-fp32.onnx'), fp32);
}

describe('text tower, bundled koclip-tiny', () => {
  it('reproduces the golden text embeddings with the default int8 tower (cosine >= 0.999)', async () => {
    const result = await embedTexts(env, await loadModel(env, 'koclip-tiny'), texts);
    expect(result.model.text.default_variant).toBe('int8');
    expect(result.embeddings).toHaveLength(texts.length);
    goldenText.cases.forEach((c, i) => {
      const vector = result.embeddings[i] as Float32Array;
      expect(vector).toHaveLength(tiny.projection_dim);
      expect(cosine(vector, c.embedding)).toBeGreaterThanOrEqual(0.999);
    });
    expect(result.tokenCounts).toEqual(goldenText.cases.map((c) => c.input_ids.length));
    expect(textTowerStats().wasmMemoryBytes).toBeGreaterThan(0);
  });

  it('reproduces the golden embeddings with the fp32 tower read from R2 (cosine >= 0.9999)', async () => {
    await env.MODELS_BUCKET.put(modelFileKey(tiny, 'text-fp32.onnx'), textFp32);
    const result = await embedTexts(env, await loadModel(env, 'koclip-tiny', 'fp32'), texts);
    goldenText.cases.forEach((c, i) => {
      expect(cosine(result.embeddings[i] as Float32Array, c.embedding)).toBeGreaterThanOrEqual(0.9999);
    });
    expect(textTowerStats().sessions).toEqual(
      expect.arrayContaining([textTowerIdentity(tiny, 'int8'), textTowerIdentity(tiny, 'fp32')]),
    );
  });

  it('gives each text the same embedding alone as in a padded batch (fp32)', async () => {
    const batch = await embedTexts(env, await loadModel(env, 'koclip-tiny', 'fp32'), texts);
    for (const [i, text] of texts.entries()) {
      const alone = await embedTexts(env, await loadModel(env, 'koclip-tiny', 'fp32'), [text]);
      expect(
        cosine(alone.embeddings[0] as Float32Array, batch.embeddings[i] as Float32Array),
      ).toBeGreaterThan(0.99999);
    }
  });

  it('keeps input order across several runs when a call has more texts than one batch', async () => {
    const many = Array.from({ length: TEXT_BATCH_SIZE + 5 }, (_, i) => texts[i % texts.length] as string);
    const result = await embedTexts(env, await loadModel(env, 'koclip-tiny'), many);
    expect(result.embeddings).toHaveLength(many.length);
    many.forEach((text, i) => {
      const golden = goldenText.cases.find((c) => c.text === text)?.embedding ?? [];
      expect(cosine(result.embeddings[i] as Float32Array, golden)).toBeGreaterThanOrEqual(0.999);
    });
  });

  it('truncates long texts to max_length and says so', async () => {
    const result = await embedTexts(env, await loadModel(env, 'koclip-tiny'), [
      '빨간 원',
      '큰 빨간 원 두 개 '.repeat(30),
    ]);
    expect(result.truncated).toEqual([false, true]);
    expect(result.tokenCounts[1]).toBe(tiny.text.max_length);
  });

  it('serialises concurrent calls without mixing their results', async () => {
    const handle = await loadModel(env, 'koclip-tiny');
    const calls = await Promise.all(texts.map((t) => embedTexts(env, handle, [t])));
    calls.forEach((r, i) => {
      expect(
        cosine(r.embeddings[0] as Float32Array, goldenText.cases[i]?.embedding ?? []),
      ).toBeGreaterThanOrEqual(0.999);
    });
  });
});

describe('text tower, model packages in R2', () => {
  it('loads manifest, tokenizer and tower of a model that is only in MODELS_BUCKET', async () => {
    await publishCopy('koclip-r2-copy');
    const result = await embedTexts(env, await loadModel(env, 'koclip-r2-copy'), texts.slice(0, 2));
    expect(result.model.id).toBe('koclip-r2-copy');
    expect(
      cosine(result.embeddings[1] as Float32Array, goldenText.cases[1]?.embedding ?? []),
    ).toBeGreaterThanOrEqual(0.999);
  });

  it('creates sessions for two variants while runs are going on', async () => {
    await publishCopy('koclip-concurrent');
    const calls = await Promise.all([
      embedTexts(env, await loadModel(env, 'koclip-concurrent'), [texts[0] as string]),
      embedTexts(env, await loadModel(env, 'koclip-concurrent', 'fp32'), [texts[0] as string]),
      embedTexts(env, await loadModel(env, 'koclip-tiny'), [texts[0] as string]),
      embedTexts(env, await loadModel(env, 'koclip-concurrent'), [texts[0] as string]),
    ]);
    for (const call of calls) {
      expect(
        cosine(call.embeddings[0] as Float32Array, goldenText.cases[0]?.embedding ?? []),
      ).toBeGreaterThanOrEqual(0.999);
    }
  });

  it('refuses a tower whose bytes fail the manifest checksum (503)', async () => {
    const corrupt = textFp32.slice(0);
    const view = new Uint8Array(corrupt);
    view[1000] = (view[1000] ?? 0) ^ 0xff;
    await publishCopy('koclip-corrupt', corrupt);
    await expect(
      loadModel(env, 'koclip-corrupt', 'fp32').then((model) => embedTexts(env, model, ['빨간 원'])),
    ).rejects.toMatchObject({
      status: 503,
      code: 'model_unavailable',
    });
  });

  it('answers 404 unknown_model for a model nobody published', async () => {
    await expect(
      loadModel(env, 'no-such-model').then((model) => embedTexts(env, model, ['x'])),
    ).rejects.toMatchObject({
      status: 404,
      code: 'unknown_model',
    });
    await expect(
      loadModel(env, '../etc').then((model) => embedTexts(env, model, ['x'])),
    ).rejects.toMatchObject({
      status: 404,
      code: 'unknown_model',
    });
  });

  it('answers 422 for a model whose text tower runs on the encoder function', async () => {
    const manifest = structuredClone(tiny);
    manifest.id = 'koclip-function-only';
    manifest.text.placement = 'function';
    await env.MODELS_BUCKET.put(modelManifestKey(manifest.id), JSON.stringify(manifest));
    await expect(
      loadModel(env, manifest.id).then((model) => embedTexts(env, model, ['x'])),
    ).rejects.toMatchObject({
      status: 422,
      code: 'text_tower_not_at_edge',
    });
  });
});

describe('text tower sessions', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('replaces the session of a model republished under a new version', async () => {
    await publishCopy('koclip-versioned');
    await embedTexts(env, await loadModel(env, 'koclip-versioned'), ['빨간 원']);
    const old = textTowerIdentity({ ...tiny, id: 'koclip-versioned' }, 'int8');
    expect(old).toMatch(new RegExp(`^koclip-versioned@${tiny.version}#[0-9a-f]{16}:int8$`));
    expect(textTowerStats().sessions).toContain(old);

    await publishCopy('koclip-versioned', textFp32, `${tiny.version}-next`);
    // The registry trusts an R2 manifest for a minute before reading it again.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const result = await embedTexts(env, await loadModel(env, 'koclip-versioned'), ['빨간 원']);
    expect(result.model.version).toBe(`${tiny.version}-next`);
    const sessions = textTowerStats().sessions;
    expect(sessions).toContain(
      textTowerIdentity({ ...tiny, id: 'koclip-versioned', version: `${tiny.version}-next` }, 'int8'),
    );
    expect(sessions).not.toContain(old);
  });

  it('replaces the session of a tower republished under the same version (a new student)', async () => {
    await publishCopy('koclip-restudied');
    const before = await embedTexts(env, await loadModel(env, 'koclip-restudied'), ['빨간 원']);
    const old = textTowerIdentity(before.model, 'int8');
    expect(textTowerStats().sessions).toContain(old);

    // Same id and version, another int8 tower (here the fp32 graph under the int8 name).
    await publishCopy('koclip-restudied', textFp32, tiny.version, textFp32);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const after = await embedTexts(env, await loadModel(env, 'koclip-restudied'), ['빨간 원']);
    expect(after.model.version).toBe(tiny.version);
    const now = textTowerIdentity(after.model, 'int8');
    expect(now).not.toBe(old);
    const sessions = textTowerStats().sessions;
    expect(sessions).toContain(now);
    expect(sessions).not.toContain(old);
    // The new tower ran: fp32 and int8 agree closely but not to the last bit.
    expect(after.embeddings[0]).not.toEqual(before.embeddings[0]);
    expect(cosine(after.embeddings[0] as Float32Array, before.embeddings[0] as Float32Array)).toBeGreaterThan(
      0.99,
    );
  });
});
