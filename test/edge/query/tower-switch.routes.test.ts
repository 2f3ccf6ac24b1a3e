// Never another tower's numbers (issue 19, "Cache keys"): a model's text tower switched under the
// same version (an `edge` package republished with another default variant; the encoder restarted
// with another ENCODER_TEXT_VARIANT for a `function` one) answers /v1/score, /v1/search and
// /v1/embeddings with the new tower's numbers, although the old tower's answers are still in the
// isolate, the Cache API and KV. The Worker reads an R2 manifest again, and asks the encoder which
// tower it runs, once a minute has passed: the tests move the clock past it. (Since issue 23 a
// `function` model's /v1/score asks the encoder for its fp32 tower whatever its default, so there
// the score stays the fp32 tower's across the switch; test/edge/score/text-variant.routes.test.ts.)
import { env, exports } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ModelManifest, TextVariant } from '../../../src/core/manifest';
import { cosine } from '../../../src/core/vector';
import { forgetEncoderTextTowers } from '../../../src/edge/inference/encoder-text';
import { installTextEncoderStandIn, type TextStandIn } from '../support/encoder-stand-in';
import { demoVector, seedDemo } from '../support/search-fixtures';
import { publishTiny as publish, reference, TOWERS, tiny } from '../support/tiny-towers';

/** Indexes the demo set under `id` (koclip-tiny's embedding space). */
async function seed(id: string): Promise<void> {
  await seedDemo(env, { model: id });
}

/** The text encoder of the `function` model `manifest`, running koclip-tiny's towers. */
function encoderOf(manifest: ModelManifest): TextStandIn {
  return installTextEncoderStandIn({ baseUrl: 'http://encoder.test', manifest, embed: reference });
}

const call = (path: string, body?: unknown) =>
  exports.default.fetch(
    new Request(
      `http://worker.test${path}`,
      body === undefined
        ? undefined
        : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    ),
  );

interface Answers {
  score: { cache: string | null; logits: number[] };
  search: { id: string; score: number }[];
  embedding: number[];
}

const IMAGE = 'demo-0042';
const CAPTIONS = ['빨간 원 하나', '파란 별 두 개', '초록색 작은 세모'];
const QUERY = '노란 마름모 세 개';

/** What the Worker answers for `model` to one score, one search and one embeddings request. */
async function ask(model: string): Promise<Answers> {
  const score = await call('/v1/score', { model, image_id: IMAGE, captions: CAPTIONS });
  expect(score.status).toBe(200);
  const search = await call(`/v1/search?${new URLSearchParams({ q: QUERY, k: '5', model })}`);
  expect(search.status).toBe(200);
  const embeddings = await call('/v1/embeddings', { model, input: [QUERY] });
  expect(embeddings.status).toBe(200);
  return {
    score: {
      cache: score.headers.get('x-cache'),
      logits: ((await score.json()) as { logits: number[] }).logits,
    },
    search: ((await search.json()) as { results: { id: string; score: number }[] }).results,
    embedding: ((await embeddings.json()) as { data: { embedding: number[] }[] }).data[0]?.embedding ?? [],
  };
}

/** The largest difference between two vectors. */
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...Array.from(a, (x, i) => Math.abs(x - (b[i] as number))));

/**
 * Holds `answers` to the numbers of the `variant` text tower (and not to those of `other`); the
 * score to those of `scoreVariant` (a `function` model's scores are its fp32 tower's).
 */
async function expectTower(
  answers: Answers,
  variant: TextVariant,
  other: TextVariant,
  scoreVariant: TextVariant = variant,
) {
  const otherOf = (v: TextVariant): TextVariant => (v === 'fp32' ? 'int8' : 'fp32');
  const mine = await Promise.all([reference(CAPTIONS, scoreVariant), reference([QUERY], variant)]);
  const theirs = await Promise.all([reference(CAPTIONS, otherOf(scoreVariant)), reference([QUERY], other)]);
  // The embedding is the tower's own output, to the float.
  expect(maxDiff(answers.embedding, mine[1][0] as Float32Array)).toBeLessThan(1e-6);
  expect(maxDiff(answers.embedding, theirs[1][0] as Float32Array)).toBeGreaterThan(1e-4);
  // Scores and logits are against fp16-stored image vectors: nearer the tower's than the other's.
  const scale = Math.exp(tiny.logit_scale);
  const image = demoVector(IMAGE);
  answers.score.logits.forEach((logit, i) => {
    const near = scale * cosine(image, mine[0][i] as Float32Array);
    const far = scale * cosine(image, theirs[0][i] as Float32Array);
    expect(Math.abs(logit - near)).toBeLessThan(Math.abs(logit - far) / 4);
  });
  for (const hit of answers.search) {
    const near = cosine(demoVector(hit.id), mine[1][0] as Float32Array);
    const far = cosine(demoVector(hit.id), theirs[1][0] as Float32Array);
    expect(Math.abs(hit.score - near)).toBeLessThan(Math.abs(hit.score - far) / 4);
  }
}

/** Runs `work` with the clock a minute and a second on (Date only, as the registry reads it). */
async function aMinuteLater<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(Date.now() + 61_000);
    return await work();
  } finally {
    vi.useRealTimers();
  }
}

beforeAll(async () => {
  await publish(TOWERS, { placement: 'edge', defaultVariant: 'int8' });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('an edge-placed text tower switched under the same version', () => {
  it('answers score, search and embeddings with the new tower once the Worker reads the package again', async () => {
    const id = 'koclip-switch-edge';
    await publish(id, { placement: 'edge', defaultVariant: 'int8' });
    await seed(id);
    const before = await ask(id);
    expect(before.score.cache).toBe('MISS');
    expect((await ask(id)).score.cache).toBe('HIT');
    await expectTower(before, 'int8', 'fp32');
    // The same version republished with the fp32 tower as its default.
    await publish(id, { placement: 'edge', defaultVariant: 'fp32' });
    const after = await aMinuteLater(() => ask(id));
    expect(after.score.cache).toBe('MISS');
    await expectTower(after, 'fp32', 'int8');
  });
});

describe('a function-placed text tower switched under the same version', () => {
  it('answers score, search and embeddings with the tower the encoder now runs', async () => {
    const id = 'koclip-switch-fn';
    const encoder = encoderOf(await publish(id, { placement: 'function', defaultVariant: 'int8' }));
    await seed(id);
    const before = await ask(id);
    expect(before.score.cache).toBe('MISS');
    const again = await ask(id);
    expect(again.score.cache).toBe('HIT');
    expect(encoder.texts.flat()).toEqual([...CAPTIONS, QUERY]); // the second round was all cached
    await expectTower(before, 'int8', 'fp32', 'fp32');
    // The encoder restarted with ENCODER_TEXT_VARIANT=fp32.
    encoder.variant = 'fp32';
    const after = await aMinuteLater(() => ask(id));
    // The score was the fp32 tower's already: still good.
    expect(after.score).toEqual(again.score);
    await expectTower(after, 'fp32', 'int8');
    // Back to int8: the int8 answers, still cached, serve again.
    encoder.variant = 'int8';
    const calls = encoder.texts.length;
    const back = await aMinuteLater(() => aMinuteLater(() => ask(id)));
    expect(back.score).toEqual(again.score);
    expect(encoder.texts.length).toBe(calls);
  });

  it('an answer of another tower is kept under its own key and moves every later lookup to it', async () => {
    const id = 'koclip-switch-fn-answer';
    const encoder = encoderOf(await publish(id, { placement: 'function', defaultVariant: 'int8' }));
    await seed(id);
    await ask(id);
    encoder.variant = 'fp32';
    // Within the minute: a text nobody asked yet goes to the encoder, which answers with fp32 ...
    const fresh = await call('/v1/embeddings', { model: id, input: ['처음 보는 문장'] });
    expect(fresh.status).toBe(200);
    // ... and from then on this isolate looks every text up under the fp32 tower (the score was
    // the fp32 tower's, and cached, all along).
    const after = await ask(id);
    expect(after.score.cache).toBe('HIT');
    await expectTower(after, 'fp32', 'int8');
  });

  it('one answer never mixes towers: cached texts of the old tower are embedded again', async () => {
    const id = 'koclip-switch-fn-mixed';
    const encoder = encoderOf(await publish(id, { placement: 'function', defaultVariant: 'int8' }));
    await seed(id);
    const old = CAPTIONS.slice(0, 2);
    expect((await call('/v1/embeddings', { model: id, input: old })).status).toBe(200);
    encoder.variant = 'fp32';
    // Two captions cached under int8, one new: the encoder answers the new one with fp32.
    const res = await call('/v1/embeddings', { model: id, input: CAPTIONS });
    expect(res.status).toBe(200);
    const got = ((await res.json()) as { data: { embedding: number[] }[] }).data.map((d) => d.embedding);
    const fp32 = await reference(CAPTIONS, 'fp32');
    got.forEach((e, i) => {
      expect(maxDiff(e, fp32[i] as Float32Array)).toBeLessThan(1e-6);
    });
  });

  it('asks the encoder which tower it runs at most once a minute per isolate', async () => {
    const id = 'koclip-switch-fn-asks';
    const encoder = encoderOf(await publish(id, { placement: 'function', defaultVariant: 'int8' }));
    await seed(id);
    await ask(id);
    await ask(id);
    expect(encoder.health).toBe(1);
    await aMinuteLater(() => ask(id));
    expect(encoder.health).toBe(2);
  });

  it('keeps serving cached answers while the encoder is down, in a warm isolate and a fresh one', async () => {
    const id = 'koclip-switch-fn-down';
    const encoder = encoderOf(await publish(id, { placement: 'function', defaultVariant: 'int8' }));
    await seed(id);
    const before = await ask(id);
    encoder.mode = 'down';
    const warm = await aMinuteLater(() => ask(id));
    expect(warm.score).toEqual({ cache: 'HIT', logits: before.score.logits });
    expect(warm.embedding).toEqual(before.embedding);
    // A fresh isolate asks /healthz, gets no answer, and takes the manifest's default (int8).
    forgetEncoderTextTowers();
    const fresh = await ask(id);
    expect(fresh.score).toEqual({ cache: 'HIT', logits: before.score.logits });
    expect(fresh.embedding).toEqual(before.embedding);
  });
});
