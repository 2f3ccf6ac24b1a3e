// Which text tower embeds a score's captions (issue 23, "Faithful probabilities"): a `function`
// model answers /v1/score with its fp32 tower unless `text_variant: "int8"` is asked; an `edge`
// model with the edge's own tower unless `fp32` is asked, which the encoder then runs; each answer
// names its tower, the caches (score answers, query embeddings; isolate, Cache API, KV) never serve
// one variant's numbers for the other, and a bad or missing variant is a 4xx that changes nothing.
// The encoder is the text stand-in running koclip-tiny's real int8 and fp32 ONNX towers.
import { env, exports } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ModelManifest, type TextVariant, textTowerIdentity } from '../../../src/core/manifest';
import { cosine } from '../../../src/core/vector';
import { IndexReader } from '../../../src/edge/index';
import { isolateScores, scoreCacheDigest } from '../../../src/edge/score/cache';
import type { ScoreBody } from '../../../src/edge/score/score';
import { scoreCacheUrl } from '../../../src/edge/storage-keys';
import { installTextEncoderStandIn, type TextStandIn } from '../support/encoder-stand-in';
import { demoVector, seedDemo } from '../support/search-fixtures';
import { publishTiny, reference, TOWERS, tiny } from '../support/tiny-towers';

const IMAGE = 'demo-0042';
const CAPTIONS = ['빨간 원 하나', '파란 별 두 개', '초록색 작은 세모'];

async function score(body: Record<string, unknown>) {
  const response = await exports.default.fetch(
    new Request('http://worker.test/v1/score', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
  return {
    status: response.status,
    cache: response.headers.get('x-cache'),
    tier: response.headers.get('x-cache-tier'),
    body: (await response.json()) as ScoreBody & { error?: { code: string; message: string } },
  };
}

/** A model of koclip-tiny's weights, its demo index, and a text encoder serving it. */
async function serve(
  id: string,
  text: { placement: 'edge' | 'function'; defaultVariant: TextVariant; variants?: TextVariant[] },
): Promise<{ manifest: ModelManifest; encoder: TextStandIn }> {
  const manifest = await publishTiny(id, text);
  await seedDemo(env, { model: id });
  const encoder = installTextEncoderStandIn({ baseUrl: 'http://encoder.test', manifest, embed: reference });
  return { manifest, encoder };
}

/**
 * Holds logits (of `captions` against the stored vector of IMAGE) to the `variant` tower's numbers:
 * each much nearer them than the other tower's (the stored vector is fp16, so not to the float).
 */
async function expectNumbersOf(logits: number[], variant: TextVariant, captions = CAPTIONS) {
  const other: TextVariant = variant === 'fp32' ? 'int8' : 'fp32';
  const [mine, theirs] = await Promise.all([reference(captions, variant), reference(captions, other)]);
  const scale = Math.exp(tiny.logit_scale);
  const image = demoVector(IMAGE);
  logits.forEach((logit, i) => {
    const near = Math.abs(logit - scale * cosine(image, mine[i] as Float32Array));
    const far = Math.abs(logit - scale * cosine(image, theirs[i] as Float32Array));
    expect(near).toBeLessThan(far / 4);
  });
}

beforeAll(async () => {
  await publishTiny(TOWERS, { placement: 'edge', defaultVariant: 'int8' });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a function-placed model', () => {
  it('scores with its fp32 text tower by default, and with int8 when asked; each answer names its tower', async () => {
    const id = 'koclip-variant-fn';
    const { manifest, encoder } = await serve(id, { placement: 'function', defaultVariant: 'int8' });
    const exact = await score({ model: id, image_id: IMAGE, captions: CAPTIONS });
    expect(exact.status, JSON.stringify(exact.body)).toBe(200);
    expect(exact.body).toMatchObject({
      text_variant: 'fp32',
      text_tower: textTowerIdentity(manifest, 'fp32'),
    });
    await expectNumbersOf(exact.body.logits, 'fp32');
    const fast = await score({ model: id, image_id: IMAGE, captions: CAPTIONS, text_variant: 'int8' });
    expect(fast.status).toBe(200);
    expect(fast.body).toMatchObject({
      text_variant: 'int8',
      text_tower: textTowerIdentity(manifest, 'int8'),
    });
    await expectNumbersOf(fast.body.logits, 'int8');
    // The encoder was asked for each tower by name, although it runs int8 by default.
    expect(encoder.asked).toEqual(['fp32', 'int8']);
    const explicit = await score({ model: id, image_id: IMAGE, captions: CAPTIONS, text_variant: 'fp32' });
    expect(explicit).toMatchObject({ cache: 'HIT', body: exact.body });
  });

  it("never answers one variant from the other's cached score, in any tier", async () => {
    const id = 'koclip-variant-fn-cache';
    const { encoder } = await serve(id, { placement: 'function', defaultVariant: 'int8' });
    const request = { model: id, image_id: IMAGE, captions: CAPTIONS };
    const fp32 = await score(request);
    expect(fp32).toMatchObject({ status: 200, cache: 'MISS' });
    // The int8 answer of the same request is not the cached fp32 one, and the other way round.
    const int8 = await score({ ...request, text_variant: 'int8' });
    expect(int8).toMatchObject({ status: 200, cache: 'MISS', body: { text_variant: 'int8' } });
    expect(int8.body.logits).not.toEqual(fp32.body.logits);
    for (const tier of ['isolate', 'cache-api', 'kv'] as const) {
      if (tier !== 'isolate') isolateScores.clear();
      if (tier === 'kv') {
        // Drop the colo copies too: only KV holds the answers now.
        for (const body of [fp32.body, int8.body])
          await caches.default.delete(await scoreUrl(body.text_tower, body));
      }
      const again = await score(request);
      expect(again).toMatchObject({ cache: 'HIT', tier, body: fp32.body });
      const againInt8 = await score({ ...request, text_variant: 'int8' });
      expect(againInt8).toMatchObject({ cache: 'HIT', body: int8.body });
    }
    expect(encoder.texts).toHaveLength(2);
  });

  it("never embeds a caption from the other variant's cached query embedding", async () => {
    const id = 'koclip-variant-fn-qemb';
    const { encoder } = await serve(id, { placement: 'function', defaultVariant: 'int8' });
    const fp32 = await score({ model: id, image_id: IMAGE, captions: CAPTIONS });
    const int8 = await score({ model: id, image_id: IMAGE, captions: CAPTIONS, text_variant: 'int8' });
    const calls = encoder.texts.length;
    // Another caption order is another score (a miss), of captions each variant has embedded.
    const reversed = [...CAPTIONS].reverse();
    for (const [variant, first] of [
      ['fp32', fp32],
      ['int8', int8],
    ] as const) {
      const again = await score({ model: id, image_id: IMAGE, captions: reversed, text_variant: variant });
      expect(again).toMatchObject({ status: 200, cache: 'MISS', body: { text_variant: variant } });
      expect(again.body.logits).toEqual([...first.body.logits].reverse());
    }
    expect(encoder.texts).toHaveLength(calls);
    // A fresh isolate (no score in its memory) finds the same in the edge cache.
    isolateScores.clear();
    const shuffled = [CAPTIONS[1], CAPTIONS[0], CAPTIONS[2]] as string[];
    const int8Again = await score({ model: id, image_id: IMAGE, captions: shuffled, text_variant: 'int8' });
    await expectNumbersOf(int8Again.body.logits, 'int8', shuffled);
    expect(encoder.texts).toHaveLength(calls);
  });

  it('refuses an answer of another variant than it asked for (an encoder older than text_variant)', async () => {
    const id = 'koclip-variant-fn-old';
    const { encoder } = await serve(id, { placement: 'function', defaultVariant: 'int8' });
    encoder.mode = 'ignores-variant';
    const request = { model: id, image_id: IMAGE, captions: CAPTIONS };
    const refused = await score(request);
    expect(refused.status).toBe(502);
    expect(refused.body.error?.code).toBe('encoder_bad_response');
    // Nothing of it was kept: the upgraded encoder's answer is a miss, and the fp32 tower's.
    encoder.mode = 'ok';
    const fixed = await score(request);
    expect(fixed).toMatchObject({ status: 200, cache: 'MISS', body: { text_variant: 'fp32' } });
    await expectNumbersOf(fixed.body.logits, 'fp32');
  });

  it("without an fp32 tower: int8 by default (the encoder's), 400 naming int8 when fp32 is asked", async () => {
    const id = 'koclip-variant-fn-int8-only';
    const { encoder } = await serve(id, {
      placement: 'function',
      defaultVariant: 'int8',
      variants: ['int8'],
    });
    const plain = await score({ model: id, image_id: IMAGE, captions: CAPTIONS });
    expect(plain).toMatchObject({ status: 200, body: { text_variant: 'int8' } });
    expect(encoder.asked).toEqual([null]);
    const refused = await score({ model: id, image_id: IMAGE, captions: ['노란 별'], text_variant: 'fp32' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toEqual({
      code: 'unknown_variant',
      message: `model ${id} has no fp32 text tower; it has int8`,
    });
    expect(encoder.texts).toHaveLength(1);
  });
});

describe('an edge-placed model', () => {
  it("scores with the edge's own (int8) tower by default, and asks the encoder for fp32", async () => {
    const id = 'koclip-variant-edge';
    const { manifest, encoder } = await serve(id, { placement: 'edge', defaultVariant: 'int8' });
    const plain = await score({ model: id, image_id: IMAGE, captions: CAPTIONS });
    expect(plain.body).toMatchObject({
      text_variant: 'int8',
      text_tower: textTowerIdentity(manifest, 'int8'),
    });
    await expectNumbersOf(plain.body.logits, 'int8');
    expect(encoder.texts).toHaveLength(0);
    // int8 named is the same tower: the cached answer.
    const named = await score({ model: id, image_id: IMAGE, captions: CAPTIONS, text_variant: 'int8' });
    expect(named).toMatchObject({ cache: 'HIT', body: plain.body });
    const exact = await score({ model: id, image_id: IMAGE, captions: CAPTIONS, text_variant: 'fp32' });
    expect(exact).toMatchObject({ status: 200, cache: 'MISS' });
    expect(exact.body).toMatchObject({
      text_variant: 'fp32',
      text_tower: textTowerIdentity(manifest, 'fp32'),
    });
    await expectNumbersOf(exact.body.logits, 'fp32');
    expect(encoder.asked).toEqual(['fp32']);
  });
});

describe('bad input', () => {
  it('a text_variant that is no variant is 400 invalid_request, before any work', async () => {
    const id = 'koclip-variant-bad';
    const { encoder } = await serve(id, { placement: 'function', defaultVariant: 'int8' });
    for (const text_variant of ['fp16', 'FP32', '', 8]) {
      const refused = await score({ model: id, image_id: IMAGE, captions: CAPTIONS, text_variant });
      expect(refused.status).toBe(400);
      expect(refused.body.error?.code).toBe('invalid_request');
      expect(refused.body.error?.message).toContain('text_variant');
    }
    expect(encoder.texts).toHaveLength(0);
    expect(await score({ model: id, image_id: IMAGE, captions: CAPTIONS })).toMatchObject({ cache: 'MISS' });
  });
});

/** The Cache API URL of a cached score answer of CAPTIONS against IMAGE (as ScoreCache keys it). */
async function scoreUrl(tower: string, body: ScoreBody): Promise<string> {
  const index = { collection: 'default', model: body.model, version: body.version };
  const generation = await new IndexReader(env, index).generation();
  const digest = await scoreCacheDigest(`id:default/${IMAGE}@g${generation}`, CAPTIONS, undefined);
  return scoreCacheUrl({ model: body.model, version: body.version, tower }, digest);
}
