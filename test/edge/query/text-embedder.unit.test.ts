// Both text placements serve every route: a `function`-placed model embeds query texts on the
// encoder function (here a fetch-level stand-in that answers with the real text tower's output
// for the same weights) and keeps them in the edge cache.
import { env, exports } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import textFp32 from '../../../models/koclip-tiny/text-fp32.onnx';
import textInt8 from '../../../models/koclip-tiny/text-int8.onnx';
import tokenizerJson from '../../../models/koclip-tiny/tokenizer.json';
import { sha256Hex } from '../../../src/core/hash';
import { type ModelManifest, parseManifest } from '../../../src/core/manifest';
import { cosine } from '../../../src/core/vector';
import { loadModel, modelFileKey, modelManifestKey } from '../../../src/edge/inference/model-registry';
import { embedTexts } from '../../../src/edge/inference/text-tower';
import { embedQueryTexts } from '../../../src/edge/query/text-embedder';
import { installTextEncoderStandIn, type TextStandIn } from '../support/encoder-stand-in';
import { seedDemo } from '../support/search-fixtures';

const tiny = parseManifest(manifestJson);
const FN_MODEL = 'koclip-fn';

/** Publishes koclip-tiny's weights as a model whose text tower is placed on the encoder function. */
async function publishFunctionModel(): Promise<ModelManifest> {
  const tokenizerBytes = new TextEncoder().encode(JSON.stringify(tokenizerJson));
  const manifest = structuredClone(tiny);
  manifest.id = FN_MODEL;
  manifest.text.placement = 'function';
  manifest.files['tokenizer.json'] = {
    sha256: await sha256Hex(tokenizerBytes),
    bytes: tokenizerBytes.length,
  };
  await env.MODELS_BUCKET.put(modelManifestKey(FN_MODEL), JSON.stringify(manifest));
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'tokenizer.json'), tokenizerBytes);
  return manifest;
}

let standIn: TextStandIn;
let fnManifest: ModelManifest;

/** The encoder's /v1/embed/text for koclip-fn, computed with the edge tower on the same weights. */
function installTextEncoder(): TextStandIn {
  standIn = installTextEncoderStandIn({
    baseUrl: 'http://encoder.test',
    manifest: fnManifest,
    embed: async (texts) => (await embedTexts(env, await loadModel(env, 'koclip-tiny'), texts)).embeddings,
  });
  return standIn;
}

beforeAll(async () => {
  fnManifest = await publishFunctionModel();
  // koclip-fn shares koclip-tiny's embedding space: index the demo set under it.
  await seedDemo(env, { model: FN_MODEL });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('query texts of a function-placed text tower', () => {
  it('are embedded on the encoder, equal the edge tower on the same weights, and cached', async () => {
    installTextEncoder();
    const texts = ['빨간 원 캐시 테스트', '파란 사각형 캐시 테스트'];
    const first = await embedQueryTexts(env, await loadModel(env, FN_MODEL), texts);
    const edge = await embedTexts(env, await loadModel(env, 'koclip-tiny'), texts);
    for (const [i, e] of first.embeddings.entries())
      expect(cosine(e, edge.embeddings[i] as Float32Array)).toBeGreaterThan(0.9999);
    expect(first.cached).toBe(0);
    expect(first.tokenCounts).toEqual(edge.tokenCounts);
    expect(standIn.texts).toEqual([texts]);
    const again = await embedQueryTexts(env, await loadModel(env, FN_MODEL), [
      texts[1] as string,
      '새 문장 하나',
    ]);
    expect(again.cached).toBe(1);
    expect(standIn.texts[1]).toEqual(['새 문장 하나']);
    expect(cosine(again.embeddings[0] as Float32Array, first.embeddings[1] as Float32Array)).toBeGreaterThan(
      0.99999,
    );
  });

  it('serve search, embeddings and score through the Worker', async () => {
    installTextEncoder();
    const search = await exports.default.fetch(
      `http://w/v1/search?q=${encodeURIComponent('빨간 원')}&k=5&model=${FN_MODEL}`,
    );
    expect(search.status).toBe(200);
    const body = (await search.json()) as { results: { metadata: { colour?: string; shape?: string } }[] };
    expect(body.results.filter((r) => r.metadata.colour === 'red').length).toBeGreaterThanOrEqual(4);
    const embeddings = await exports.default.fetch('http://w/v1/embeddings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: FN_MODEL, input: ['빨간 원'] }),
    });
    expect(embeddings.status).toBe(200);
    const score = await exports.default.fetch('http://w/v1/score', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: FN_MODEL, image_id: 'demo-0001', captions: ['빨간 원', '파란 별'] }),
    });
    expect(score.status).toBe(200);
  });

  it('answer with the same errors as image calls when the encoder is down or out of contract', async () => {
    installTextEncoder().mode = 'down';
    await expect(
      loadModel(env, FN_MODEL).then((model) => embedQueryTexts(env, model, ['장애 테스트'])),
    ).rejects.toMatchObject({
      status: 502,
      code: 'encoder_unreachable',
    });
    standIn.mode = 'wrong-version';
    await expect(
      loadModel(env, FN_MODEL).then((model) => embedQueryTexts(env, model, ['장애 테스트 2'])),
    ).rejects.toMatchObject({
      status: 502,
      code: 'encoder_model_mismatch',
    });
    const res = await exports.default.fetch(
      `http://w/v1/search?q=${encodeURIComponent('장애 3')}&model=${FN_MODEL}`,
    );
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('encoder_model_mismatch');
  });
});

describe('query texts of an edge-placed text tower', () => {
  it('run the tower once per text in an isolate, then come from its memory unchanged', async () => {
    const texts = ['격리 캐시 빨간 원', '격리 캐시 파란 별'];
    const first = await embedQueryTexts(env, await loadModel(env, 'koclip-tiny'), texts);
    expect(first.cached).toBe(0);
    const direct = await embedTexts(env, await loadModel(env, 'koclip-tiny'), texts);
    const again = await embedQueryTexts(env, await loadModel(env, 'koclip-tiny'), [
      texts[1] as string,
      '격리 캐시 새 문장',
      texts[1] as string,
    ]);
    expect(again.cached).toBe(2);
    expect(Array.from(again.embeddings[0] as Float32Array)).toEqual(
      Array.from(direct.embeddings[1] as Float32Array),
    );
    expect(again.embeddings[2]).toEqual(again.embeddings[0]);
    expect(again.tokenCounts[0]).toBe(direct.tokenCounts[1]);
    // What a caller gets is its own copy: writing into it changes no later answer.
    (again.embeddings[0] as Float32Array).fill(0);
    const third = await embedQueryTexts(env, await loadModel(env, 'koclip-tiny'), [texts[1] as string]);
    expect(third.cached).toBe(1);
    expect(Array.from(third.embeddings[0] as Float32Array)).toEqual(
      Array.from(direct.embeddings[1] as Float32Array),
    );
  });

  it('are not served from the isolate once another tower is published under the same version', async () => {
    const id = 'koclip-edge-restudied';
    const publish = async (int8: ArrayBuffer) => {
      const tokenizerBytes = new TextEncoder().encode(JSON.stringify(tokenizerJson));
      const manifest = structuredClone(tiny);
      manifest.id = id;
      manifest.files['tokenizer.json'] = {
        sha256: await sha256Hex(tokenizerBytes),
        bytes: tokenizerBytes.length,
      };
      manifest.files['text-int8.onnx'] = { sha256: await sha256Hex(int8), bytes: int8.byteLength };
      await env.MODELS_BUCKET.put(modelManifestKey(id), JSON.stringify(manifest));
      await env.MODELS_BUCKET.put(modelFileKey(manifest, 'tokenizer.json'), tokenizerBytes);
      await env.MODELS_BUCKET.put(modelFileKey(manifest, 'text-int8.onnx'), int8);
    };
    await publish(textInt8);
    const text = '같은 버전 새 학생';
    const before = await embedQueryTexts(env, await loadModel(env, id), [text]);
    expect((await embedQueryTexts(env, await loadModel(env, id), [text])).cached).toBe(1);
    // A re-distilled student keeps the version (the embedding space): here the fp32 graph.
    await publish(textFp32);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 61_000); // past the registry's trust in the R2 manifest
      const after = await embedQueryTexts(env, await loadModel(env, id), [text]);
      expect(after.model.version).toBe(before.model.version);
      expect(after.cached).toBe(0);
      expect(after.embeddings[0]).not.toEqual(before.embeddings[0]);
    } finally {
      vi.useRealTimers();
    }
  });
});
