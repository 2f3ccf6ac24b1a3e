import { env, exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosine, softmax } from '../../../src/core/vector';
import { loadModel } from '../../../src/edge/inference/model-registry';
import { embedTexts } from '../../../src/edge/inference/text-tower';
import type { StandIn } from '../support/encoder-stand-in';
import {
  demoImages,
  demoUrl,
  demoVector,
  GRID_CELLS,
  installDemoEncoder,
  manifest,
} from '../support/search-fixtures';

interface PatchesBody {
  object: string;
  model: string;
  version: string;
  text: string;
  truncated: boolean;
  rows: number;
  cols: number;
  scores: number[][];
  probs: number[][];
  best: { row: number; col: number; score: number };
}

async function patches(body: unknown) {
  const init =
    body instanceof FormData
      ? { method: 'POST', body }
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const response = await exports.default.fetch(new Request('http://worker.test/v1/patches', init));
  return { status: response.status, body: (await response.json()) as PatchesBody };
}

let standIn: StandIn;
beforeAll(async () => {
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

/** Reference: cosine of the text tower's embedding with each cell's embedding (row-major). */
async function expectScoresFor(body: PatchesBody, text: string) {
  const query = (await embedTexts(env, await loadModel(env, manifest.id), [text]))
    .embeddings[0] as Float32Array;
  const flat = GRID_CELLS.map((id) => cosine(query, demoVector(id)));
  expect(body.scores.flat()).toHaveLength(6);
  body.scores.flat().forEach((s, i) => {
    expect(s).toBeCloseTo(flat[i] as number, 5);
  });
  const probs = softmax(flat.map((s) => Math.exp(manifest.logit_scale) * s));
  body.probs.flat().forEach((p, i) => {
    expect(p).toBeCloseTo(probs[i] as number, 6);
  });
  const best = flat.indexOf(Math.max(...flat));
  expect(body.best).toEqual({ row: Math.floor(best / 3), col: best % 3, score: body.scores.flat()[best] });
}

describe('POST /v1/patches', () => {
  it('scores every cell of an uploaded image, asking the encoder for the grid', async () => {
    const form = new FormData();
    form.set('image', new File([demoImages['demo-0013'] as ArrayBuffer], 'grid.png', { type: 'image/png' }));
    form.set('text', '빨간 원');
    form.set('rows', '2');
    form.set('cols', '3');
    const { status, body } = await patches(form);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      object: 'patch_scores',
      model: manifest.id,
      version: manifest.version,
      text: '빨간 원',
      rows: 2,
      cols: 3,
    });
    expect(body.scores.map((r) => r.length)).toEqual([3, 3]);
    await expectScoresFor(body, '빨간 원');
    expect(standIn.calls.at(-1)?.url).toMatch(/\/v1\/embed\/image\?model=koclip-tiny&grid=2x3$/);
  });

  it('takes an image URL and a prompt template', async () => {
    const { status, body } = await patches({
      image_url: demoUrl('demo-0013'),
      text: '파란 별',
      rows: 2,
      cols: 3,
      prompt_template: '{} 사진',
    });
    expect(status).toBe(200);
    expect(body.text).toBe('파란 별 사진');
    await expectScoresFor(body, '파란 별 사진');
  });

  it('answers 502 when the encoder returns the wrong number of cells', async () => {
    // The stand-in knows a 2x3 grid for this image; asking 3x3 gets the wrong count back.
    const { status, body } = await patches({ image_url: demoUrl('demo-0013'), text: '원', rows: 3, cols: 3 });
    expect(status).toBe(502);
    expect(body).toMatchObject({ error: { code: 'encoder_bad_response' } });
  });
});
