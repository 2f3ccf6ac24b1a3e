import { env, exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import goldenText from '../../../models/koclip-tiny/golden/text.json';
import { textTowerIdentity } from '../../../src/core/manifest';
import { cosine, softmax } from '../../../src/core/vector';
import { isolateScores, scoreCacheDigest } from '../../../src/edge/score/cache';
import type { ScoreBody } from '../../../src/edge/score/score';
import { scoreCacheUrl } from '../../../src/edge/storage-keys';
import type { StandIn } from '../support/encoder-stand-in';
import {
  demoImages,
  demoStore,
  demoUrl,
  demoVector,
  installDemoEncoder,
  manifest,
  seedDemo,
  seedDemoOnce,
  space,
} from '../support/search-fixtures';

async function score(
  body: unknown,
): Promise<{ status: number; cache: string | null; tier: string | null; body: ScoreBody }> {
  const init =
    body instanceof FormData
      ? { method: 'POST', body }
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const response = await exports.default.fetch(new Request('http://worker.test/v1/score', init));
  return {
    status: response.status,
    cache: response.headers.get('x-cache'),
    tier: response.headers.get('x-cache-tier'),
    body: (await response.json()) as ScoreBody,
  };
}

/** A caption no earlier run has cached (the Cache API outlives a test file). */
const fresh = () => `무작위 ${crypto.randomUUID()}`;

let standIn: StandIn;
beforeAll(async () => {
  await seedDemoOnce();
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

describe('POST /v1/score', () => {
  it('matches a reference from the golden text embeddings and the demo image embedding', async () => {
    const captions = goldenText.cases.map((c) => c.text);
    const { status, body } = await score({ image_id: 'demo-0042', captions: [...captions] });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      object: 'caption_scores',
      model: space.model,
      version: space.version,
      logit_scale: manifest.logit_scale,
    });
    const scale = Math.exp(manifest.logit_scale);
    const image = demoVector('demo-0042');
    // The Worker runs the int8 text tower (golden parity >= 0.999) over fp16-stored image vectors.
    goldenText.cases.forEach((c, i) => {
      expect(Math.abs((body.logits[i] as number) / scale - cosine(image, c.embedding))).toBeLessThan(0.02);
    });
    const probs = softmax(body.logits);
    body.probs.forEach((p, i) => {
      expect(p).toBeCloseTo(probs[i] as number, 12);
    });
    expect(body.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(body.best).toBe(body.probs.indexOf(Math.max(...body.probs)));
    expect(body.results.map((r) => r.caption)).toEqual(captions);
    expect(body.results[2]).toEqual({
      caption: captions[2],
      text: captions[2],
      logit: body.logits[2],
      prob: body.probs[2],
      truncated: false,
    });
  });

  it('applies the prompt template to every caption', async () => {
    const captions = ['빨간 원', '파란 별', fresh()];
    const templated = await score({ image_id: 'demo-0007', captions, prompt_template: '이것은 {} 이다.' });
    expect(templated.status).toBe(200);
    expect(templated.body.results.map((r) => r.text)).toEqual(captions.map((c) => `이것은 ${c} 이다.`));
    expect(templated.body.prompt_template).toBe('이것은 {} 이다.');
    const direct = await score({ image_id: 'demo-0007', captions: captions.map((c) => `이것은 ${c} 이다.`) });
    direct.body.logits.forEach((l, i) => {
      expect(templated.body.logits[i]).toBeCloseTo(l, 5);
    });
  });

  it('answers the second identical request from the cache (isolate, then Cache API, then KV)', async () => {
    const request = { image_id: 'demo-0003', captions: ['세모', fresh(), '별'] };
    const first = await score(request);
    expect(first).toMatchObject({ status: 200, cache: 'MISS', tier: null });
    const second = await score(request);
    expect(second).toMatchObject({ status: 200, cache: 'HIT', tier: 'isolate' });
    expect(second.body).toEqual(first.body);
    // A fresh isolate (its memory dropped) finds the colo copy, and holds it again.
    isolateScores.clear();
    expect(await score(request)).toMatchObject({ cache: 'HIT', tier: 'cache-api', body: first.body });
    expect(await score(request)).toMatchObject({ cache: 'HIT', tier: 'isolate', body: first.body });
    // Drop the colo copy too: KV still has it (and refills the Cache API and the isolate).
    isolateScores.clear();
    const generation = await demoStore(env).generation();
    expect(generation).toBe((await demoStore(env).catalogue())?.generation);
    const digest = await scoreCacheDigest(`id:default/demo-0003@g${generation}`, request.captions, undefined);
    const tower = { ...space, tower: textTowerIdentity(manifest) };
    expect(await caches.default.delete(scoreCacheUrl(tower, digest))).toBe(true);
    expect(await score(request)).toMatchObject({ cache: 'HIT', tier: 'kv', body: first.body });
    expect(await score(request)).toMatchObject({ cache: 'HIT', tier: 'isolate' });
    isolateScores.clear();
    expect(await score(request)).toMatchObject({ cache: 'HIT', tier: 'cache-api' });
  });

  it('an index write makes image-id answers miss, even those the isolate holds', async () => {
    const request = { image_id: 'demo-0004', captions: [fresh(), '원'] };
    expect(await score(request)).toMatchObject({ cache: 'MISS' });
    expect(await score(request)).toMatchObject({ cache: 'HIT', tier: 'isolate' });
    const before = await demoStore(env).generation();
    await seedDemo(env); // the same images written again: a new generation
    expect(await demoStore(env).generation()).toBeGreaterThan(before);
    const after = await score(request);
    expect(after).toMatchObject({ status: 200, cache: 'MISS', tier: null });
    expect(await score(request)).toMatchObject({ cache: 'HIT', tier: 'isolate', body: after.body });
  });

  it('misses when captions, their order, the template or the image change', async () => {
    const captions = [fresh(), '원'];
    expect((await score({ image_id: 'demo-0010', captions })).cache).toBe('MISS');
    expect((await score({ image_id: 'demo-0010', captions: [...captions].reverse() })).cache).toBe('MISS');
    expect((await score({ image_id: 'demo-0010', captions, prompt_template: '{} 사진' })).cache).toBe('MISS');
    expect((await score({ image_id: 'demo-0011', captions })).cache).toBe('MISS');
    expect((await score({ image_id: 'demo-0010', captions })).cache).toBe('HIT');
  });

  it('scores an upload through the encoder once, then by its hash from the cache', async () => {
    const captions = ['분홍색 원', fresh()];
    const form = () => {
      const f = new FormData();
      f.set('image', new File([demoImages['demo-0005'] as ArrayBuffer], 'a.png', { type: 'image/png' }));
      for (const c of captions) f.append('captions', c);
      return f;
    };
    const before = standIn.calls.length;
    const first = await score(form());
    expect(first).toMatchObject({ status: 200, cache: 'MISS' });
    expect(first.body.image).toMatchObject({
      kind: 'image',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const scale = Math.exp(manifest.logit_scale);
    const byId = await score({ image_id: 'demo-0005', captions });
    byId.body.logits.forEach((l, i) => {
      expect(Math.abs((first.body.logits[i] as number) - l) / scale).toBeLessThan(2e-3);
    });
    expect(standIn.calls.length).toBe(before + 1);
    expect(await score(form())).toMatchObject({ cache: 'HIT', body: first.body });
    expect(standIn.calls.length).toBe(before + 1);
  });

  it('scores an image URL (captions as one JSON-array form field work too)', async () => {
    const f = new FormData();
    f.set('image_url', demoUrl('demo-0120'));
    f.set('captions', JSON.stringify(['초록색', fresh()]));
    const { status, body } = await score(f);
    expect(status).toBe(200);
    expect(body.image.kind).toBe('image_url');
    expect(body.results).toHaveLength(2);
  });

  it('answers 504 when the encoder times out and does not cache the failure', async () => {
    standIn.mode = 'hang';
    const request = new Request('http://worker.test/v1/score', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image_url: demoUrl('demo-0009'), captions: ['원'] }),
    });
    try {
      const { app } = await import('../../../src/edge/app');
      const response = await app.fetch(request, { ...env, ENCODER_TIMEOUT_MS: '200' });
      expect(response.status).toBe(504);
      expect(await response.json()).toMatchObject({ error: { code: 'encoder_timeout' } });
    } finally {
      standIn.mode = 'ok';
    }
    expect((await score({ image_url: demoUrl('demo-0009'), captions: ['원'] })).cache).toBe('MISS');
  });
});
