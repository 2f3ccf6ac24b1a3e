/**
 * Composite queries of POST /v1/search on the Worker's real local bindings and its own text tower
 * (onnxruntime-web in workerd), over the seeded koclip-tiny demo index: the table of composite
 * queries judged by the demo labels (./support/composite-table.ts), the answer's account of how
 * the query was built, every kind of part against the formula computed here from the same
 * embeddings, filters, min_score and cursors for each kind, bad input (refused with a 400 naming
 * the field, before the encoder and the quota), and the encoder quota of image parts.
 * Image bytes and URLs go to the encoder stand-in, which answers the real image tower's demo
 * embeddings (../support/encoder-stand-in.ts).
 */
import { env, exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedKey, KeyView } from '../../../src/core/contract/key-schemas';
import { LIMITS } from '../../../src/core/contract/limits';
import { dot } from '../../../src/core/vector';
import { app } from '../../../src/edge/app';
import { IndexReader } from '../../../src/edge/index';
import { loadModel } from '../../../src/edge/inference/model-registry';
import { embedQueryTexts } from '../../../src/edge/query/text-embedder';
import { combineParts, NEGATIVE_SCALE, NULL_TEXT, TEXT_SCALE } from '../../../src/edge/search/composite';
import { installTextEncoderStandIn, type StandIn, type TextStandIn } from '../support/encoder-stand-in';
import {
  demo,
  demoImages,
  demoUrl,
  demoVector,
  installDemoEncoder,
  manifest,
  seedDemo,
  seedDemoOnce,
  space,
  writeVectors,
} from '../support/search-fixtures';
import { publishTiny, reference, TOWERS } from '../support/tiny-towers';
import {
  type CaseFigures,
  COMPOSITE_CASES,
  caseFigures,
  type Labels,
  meanPrecision,
  NAMED,
  runsOf,
  scoreRun,
} from './support/composite-table';

interface Hit {
  id: string;
  score: number;
  metadata: Record<string, unknown>;
}
interface Part {
  kind: string;
  weight: number;
  text?: string;
  truncated?: boolean;
  id?: string;
  url?: string;
  sha256?: string;
}
interface SearchBody {
  query: {
    kind: string;
    truncated?: boolean;
    formula?: { name: string; text_scale: number; negative_scale: number };
    positive?: Part[];
    negative?: Part[];
  };
  results: Hit[];
  next_cursor: string | null;
  error?: { code: string; message: string };
}

const call = (path: string, init?: RequestInit) =>
  exports.default.fetch(new Request(`http://worker.test${path}`, init));
const post = async (body: unknown) => {
  const response = await call('/v1/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as SearchBody };
};

const labelsOf = (id: string) => demo.items.find((i) => i.id === id)?.metadata as Labels;
const items = demo.items.map((i) => ({ id: i.id, metadata: i.metadata as Labels }));
const base64Of = (bytes: ArrayBuffer) => {
  let binary = '';
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
};

type RefPart = { text: string; weight?: number } | { vector: Float32Array; weight?: number };

/** The query vector the formula gives for these parts, from the Worker's own text embeddings. */
async function expectedVector(positive: RefPart[], negative: { text: string; weight?: number }[] = []) {
  const model = await loadModel(env, manifest.id);
  const texts = [
    ...positive.flatMap((p) => ('text' in p ? [p.text] : [])),
    ...negative.map((n) => n.text),
    NULL_TEXT,
  ];
  const embedded = await embedQueryTexts(env, model, texts);
  const of = (t: string) => embedded.embeddings[texts.indexOf(t)] as Float32Array;
  return combineParts({
    positive: positive.map((p) =>
      'text' in p
        ? { kind: 'text' as const, vector: of(p.text), weight: p.weight ?? 1 }
        : { kind: 'image' as const, vector: p.vector, weight: p.weight ?? 1 },
    ),
    negative: negative.map((n) => ({ vector: of(n.text), weight: n.weight ?? 1 })),
    nullText: of(NULL_TEXT),
  }) as Float32Array;
}

/** Exact fp32 ranking of the demo set for a query vector. */
function ranking(query: Float32Array, keep: (i: (typeof demo.items)[number]) => boolean = () => true) {
  return demo.items
    .filter(keep)
    .map((item) => ({ id: item.id, score: dot(query, item.vector) }))
    .sort((a, b) => b.score - a.score);
}

/** The page is the exact top-k up to the index's fp16 rounding (as test/edge/search/search.routes.test.ts). */
const TOLERANCE = 2e-3;
function expectMatchesReference(results: Hit[], ref: ReturnType<typeof ranking>, k: number) {
  expect(results).toHaveLength(Math.min(k, ref.length));
  const exact = new Map(ref.map((r) => [r.id, r.score]));
  const kth = ref[results.length - 1]?.score as number;
  for (const hit of results) {
    expect(Math.abs(hit.score - (exact.get(hit.id) as number))).toBeLessThan(TOLERANCE);
    expect(exact.get(hit.id) as number).toBeGreaterThan(kth - TOLERANCE);
  }
}

let standIn: StandIn;
beforeAll(async () => {
  await seedDemoOnce();
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

describe('the composite table on the demo index (precision@10 from the demo labels)', () => {
  const figures = new Map<string, CaseFigures>();
  beforeAll(async () => {
    for (const c of COMPOSITE_CASES) {
      const scores = [];
      for (const run of runsOf(c, items)) {
        const { status, body } = await post({ ...run.body, k: 10 });
        expect(status, JSON.stringify(body)).toBe(200);
        scores.push(
          scoreRun(
            c,
            run,
            body.results.map((h) => h.id),
            labelsOf,
            items,
          ),
        );
      }
      figures.set(c.name, caseFigures(c, scores));
    }
    console.log(
      [...figures.values()]
        .map(
          (f) =>
            `${f.name}: p@10 ${f.precision.toFixed(3)} (${f.runs} runs), first relevant ${f.firstRelevant.toFixed(2)}` +
            `, never-labels in top 10 mean ${f.violations.mean.toFixed(2)} max ${f.violations.max}`,
        )
        .join('\n'),
    );
  }, 120_000);

  it('holds precision@10 >= 0.8 over the table', () => {
    expect(figures.size).toBe(COMPOSITE_CASES.length);
    expect(meanPrecision([...figures.values()])).toBeGreaterThanOrEqual(0.8);
  });

  it('"this red circle + 파란" ranks a blue circle first, for every red circle of the set', () => {
    const f = figures.get(NAMED.imagePlusText) as CaseFigures;
    expect(f.runs).toBe(
      items.filter((i) => i.metadata.colour === 'red' && i.metadata.shape === 'circle').length,
    );
    expect(f.firstRelevant).toBe(1);
  });

  it('"빨간 원, not 큰" ranks no large image in its top 10', () => {
    const f = figures.get(NAMED.notLarge) as CaseFigures;
    expect(f.runs).toBe(1);
    expect(f.violations.max).toBe(0);
  });
});

describe('POST /v1/search with positive and negative parts', () => {
  it('says how the query was built and answers the formula over the same embeddings', async () => {
    const redCircle = items.find((i) => i.metadata.colour === 'red' && i.metadata.shape === 'circle')
      ?.id as string;
    const { status, body } = await post({
      positive: [{ image_id: redCircle }, { text: '파란', weight: 2 }],
      negative: [{ text: '큰', weight: 0.5 }],
      k: 10,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.query).toEqual({
      kind: 'composite',
      truncated: false,
      formula: { name: 'centred-sum', text_scale: TEXT_SCALE, negative_scale: NEGATIVE_SCALE },
      positive: [
        { kind: 'image_id', id: redCircle, weight: 1 },
        { kind: 'text', text: '파란', weight: 2, truncated: false },
      ],
      negative: [{ kind: 'text', text: '큰', weight: 0.5, truncated: false }],
    });
    const q = await expectedVector(
      [{ vector: demoVector(redCircle) }, { text: '파란', weight: 2 }],
      [{ text: '큰', weight: 0.5 }],
    );
    // The image a part names is left out, as in a search by image_id.
    expect(body.results.map((h) => h.id)).not.toContain(redCircle);
    expectMatchesReference(
      body.results,
      ranking(q, (i) => i.id !== redCircle),
      10,
    );
  });

  it('weights move the answer: more weight on a text pulls its attribute up', async () => {
    const blueDiamond = items.find((i) => i.metadata.colour === 'blue' && i.metadata.shape === 'diamond')
      ?.id as string;
    const red = async (weight: number) =>
      (
        await post({ positive: [{ image_id: blueDiamond }, { text: '빨간', weight }], k: 10 })
      ).body.results.filter((h) => h.metadata.colour === 'red').length;
    expect(await red(0.1)).toBeLessThan(await red(3));
  });

  it('takes image bytes (image_base64, data: URL) and URLs through the encoder, one call each', async () => {
    const before = standIn.calls.length;
    const { status, body } = await post({
      positive: [
        { image_base64: base64Of(demoImages['demo-0001'] as ArrayBuffer) },
        { image_url: demoUrl('demo-0200'), weight: 0.5 },
        { text: '별' },
      ],
      k: 10,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(standIn.calls.length - before).toBe(2);
    expect(body.query.positive?.map((p) => p.kind)).toEqual(['image', 'image_url', 'text']);
    expect(body.query.positive?.[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(body.query.positive?.[1]?.url).toBe(demoUrl('demo-0200'));
    const q = await expectedVector([
      { vector: demoVector('demo-0001') },
      { vector: demoVector('demo-0200'), weight: 0.5 },
      { text: '별' },
    ]);
    expectMatchesReference(body.results, ranking(q), 10);
  });
});

/** One composite of each kind of part, for the filter and cursor checks. */
const MODES = [
  { name: 'texts averaged', body: { positive: [{ text: '파란 별' }, { text: '푸른 별' }] } },
  { name: 'indexed image + text', body: { positive: [{ image_id: 'demo-0100' }, { text: '작은' }] } },
  {
    name: 'image bytes + text',
    body: {
      positive: [{ image_base64: base64Of(demoImages['demo-0005'] as ArrayBuffer) }, { text: '두 개' }],
    },
  },
  { name: 'text, not a text', body: { positive: [{ text: '빨간 원' }], negative: [{ text: '큰' }] } },
];

describe.each(MODES)('composite of $name: filters, min_score and cursors', ({ body: query }) => {
  it('filters on metadata like any search', async () => {
    const { status, body } = await post({ ...query, k: 20, filter: { shape: ['circle', 'star'], count: 2 } });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.results.length).toBeGreaterThan(0);
    for (const hit of body.results) {
      expect(['circle', 'star']).toContain(hit.metadata.shape);
      expect(hit.metadata.count).toBe(2);
    }
    const unfiltered = (await post({ ...query, k: 100 })).body.results.filter(
      (h) => ['circle', 'star'].includes(h.metadata.shape as string) && h.metadata.count === 2,
    );
    // The filtered page continues the unfiltered ranking: its images among the unfiltered top 100
    // come first, in that order.
    const m = Math.min(20, unfiltered.length);
    expect(m).toBeGreaterThan(0);
    expect(body.results.slice(0, m).map((h) => h.id)).toEqual(unfiltered.slice(0, m).map((h) => h.id));
  });

  it('drops results under min_score', async () => {
    const all = (await post({ ...query, k: 30 })).body.results;
    const floor = (all[5] as Hit).score;
    const { body } = await post({ ...query, k: 30, min_score: floor });
    expect(body.results.every((h) => h.score >= floor)).toBe(true);
    expect(body.results.map((h) => h.id)).toEqual(all.slice(0, body.results.length).map((h) => h.id));
  });

  it('pages with next_cursor through the same ranking as one large page', async () => {
    const whole = (await post({ ...query, k: 24 })).body.results.map((h) => h.id);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: SearchBody } = await post({
        ...query,
        k: 8,
        ...(cursor ? { cursor } : {}),
      });
      expect(page.status).toBe(200);
      paged.push(...page.body.results.map((h) => h.id));
      cursor = page.body.next_cursor;
    } while (cursor && paged.length < 24);
    expect(paged).toEqual(whole);
  });

  it("refuses its cursor on another query, and another query's cursor (400 invalid_cursor)", async () => {
    const first = await post({ ...query, k: 3 });
    const cursor = first.body.next_cursor as string;
    const reweighted = {
      ...query,
      positive: query.positive.map((p, i) => (i === 0 ? { ...p, weight: 2 } : p)),
    };
    for (const other of [reweighted, { ...query, negative: [{ text: '노란' }] }, { text: '파란 별' }]) {
      const { status, body } = await post({ ...other, k: 3, cursor });
      expect(status).toBe(400);
      expect(body.error?.code).toBe('invalid_cursor');
    }
    const textCursor = (await post({ text: '파란 별', k: 3 })).body.next_cursor as string;
    const { status, body } = await post({ ...query, k: 3, cursor: textCursor });
    expect(status).toBe(400);
    expect(body.error?.code).toBe('invalid_cursor');
  });
});

describe('bad input: a clear 400 naming the field, before the encoder and the quota', () => {
  const png = () => base64Of(demoImages['demo-0001'] as ArrayBuffer);
  const texts = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `원 ${i}` }));
  it.each([
    ['too many positive parts', { positive: texts(LIMITS.compositeParts + 1) }, 'positive', 'at most 8'],
    [
      'too many negatives',
      { positive: [{ text: '원' }], negative: texts(LIMITS.compositeNegatives + 1) },
      'negative',
      'at most 4',
    ],
    [
      'too many images for the encoder',
      { positive: [{ image_base64: png() }, { image_url: demoUrl('demo-0002') }, { image_base64: png() }] },
      'positive',
      'at most 2 parts may be image_url or image_base64',
    ],
    [
      'a weight of 0',
      { positive: [{ text: '원' }, { text: '별', weight: 0 }] },
      'positive.1.weight',
      'more than 0',
    ],
    ['a negative weight', { positive: [{ text: '원', weight: -1 }] }, 'positive.0.weight', 'more than 0'],
    ['a weight over 10', { positive: [{ text: '원', weight: 10.5 }] }, 'positive.0.weight', 'at most 10'],
    ['a weight that is not a number', { positive: [{ text: '원', weight: '2' }] }, 'positive.0.weight', ''],
    [
      'a negative weight out of range',
      { positive: [{ text: '원' }], negative: [{ text: '큰', weight: 11 }] },
      'negative.0.weight',
      'at most 10',
    ],
    [
      'a part with two sources',
      { positive: [{ text: '원', image_id: 'demo-0001' }] },
      'positive.0',
      'exactly one',
    ],
    ['an empty part', { positive: [{}] }, 'positive.0', 'exactly one'],
    ['an unknown key in a part', { positive: [{ text: '원', colour: 'red' }] }, 'positive.0', 'colour'],
    [
      'a negative image',
      { positive: [{ text: '원' }], negative: [{ image_id: 'demo-0001' }] },
      'negative.0',
      '',
    ],
    ['a blank text', { positive: [{ text: '  ' }] }, 'positive.0.text', 'blank'],
    ['no positive parts', { positive: [] }, 'positive', 'at least one'],
    ['negatives only', { negative: [{ text: '큰' }] }, 'negative', 'positive parts too'],
    ['parts and a text', { text: '원', positive: [{ text: '별' }] }, 'positive', 'not both (text)'],
    ['parts and an image', { image_id: 'demo-0001', positive: [{ text: '별' }] }, 'positive', 'image_id'],
    [
      'a part that is not base64',
      { positive: [{ text: '원' }, { image_base64: '!!not base64!!' }] },
      'positive.1',
      'not valid base64',
    ],
  ])('%s', async (_, request, field, words) => {
    const calls = standIn.calls.length;
    const { status, body } = await post({ ...request, k: 5 });
    expect(status, JSON.stringify(body)).toBe(400);
    expect(body.error?.message).toContain(field);
    expect(body.error?.message).toContain(words);
    expect(standIn.calls.length).toBe(calls);
  });

  it('an unknown indexed image is 404 image_not_found', async () => {
    const { status, body } = await post({ positive: [{ image_id: 'no-such-image' }, { text: '원' }] });
    expect(status).toBe(404);
    expect(body.error?.code).toBe('image_not_found');
  });
});

describe('encoder quota of image parts (AUTH_MODE=keys)', () => {
  const ADMIN = 'Bearer test-admin-token';
  const send = (path: string, init: RequestInit & { auth: string }) =>
    app.fetch(
      new Request(`http://worker.test${path}`, {
        ...init,
        headers: { authorization: init.auth, 'content-type': 'application/json' },
      }),
      { ...env, AUTH_MODE: 'keys' },
    );
  const usage = async (id: string) => {
    const listed = (await (await send('/v1/keys', { auth: ADMIN })).json()) as { data: KeyView[] };
    return listed.data.find((k) => k.id === id)?.usage_today.encoder;
  };

  it('charges one unit per image the encoder embeds, none for image_id parts or refused requests', async () => {
    const created = (await (
      await send('/v1/keys', {
        method: 'POST',
        auth: ADMIN,
        body: JSON.stringify({ name: 'composite', scopes: ['search'], limits: { encoder_per_day: 2 } }),
      })
    ).json()) as CreatedKey;
    const auth = `Bearer ${created.key}`;
    const search = (body: unknown) =>
      send('/v1/search', { method: 'POST', auth, body: JSON.stringify(body) });
    const png = base64Of(demoImages['demo-0013'] as ArrayBuffer);
    expect((await search({ positive: [{ image_id: 'demo-0001' }, { text: '원' }] })).status).toBe(200);
    // Refused input spends nothing.
    const refused = await search({
      positive: [{ image_base64: png }, { image_base64: png }, { image_base64: png }],
    });
    expect(refused.status).toBe(400);
    expect(await usage(created.id)).toBe(0);
    const two = await search({ positive: [{ image_base64: png }, { image_url: demoUrl('demo-0003') }] });
    expect(two.status, await two.clone().text()).toBe(200);
    expect(await usage(created.id)).toBe(2);
    const third = await search({ positive: [{ image_base64: png }, { text: '원' }] });
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe('quota_exceeded');
  });
});

describe('a composite cursor after the index changed', () => {
  it('is 409 cursor_stale, indexed-image parts included', async () => {
    const collection = 'composite-stale';
    await seedDemo(env, { collection });
    const query = { positive: [{ image_id: 'demo-0100' }, { text: '작은' }], negative: [{ text: '큰' }] };
    const first = await post({ ...query, collection, k: 3 });
    expect(first.status).toBe(200);
    await writeVectors(env, { collection, ...space }, [
      { id: 'composite-extra', vector: demoVector('demo-0007') },
    ]);
    expect((await new IndexReader(env, { collection, ...space }).catalogue())?.count).toBe(
      demo.items.length + 1,
    );
    const { status, body } = await post({ ...query, collection, k: 3, cursor: first.body.next_cursor });
    expect(status).toBe(409);
    expect(body.error?.code).toBe('cursor_stale');
  });
});

describe('a composite on a model whose text tower runs on the encoder (function placement)', () => {
  const MODEL = 'koclip-composite-function';
  let texts: TextStandIn;
  beforeAll(async () => {
    // The encoder stand-in for images is replaced by the text side of the encoder here (last).
    standIn.restore();
    await publishTiny(TOWERS, { placement: 'edge', defaultVariant: 'int8' });
    const manifest = await publishTiny(MODEL, { placement: 'function', defaultVariant: 'int8' });
    await seedDemo(env, { model: MODEL });
    texts = installTextEncoderStandIn({ baseUrl: 'http://encoder.test', manifest, embed: reference });
  });
  afterAll(() => texts.restore());

  it('asks the encoder for its texts and the empty text, and combines them alike', async () => {
    const { status, body } = await post({
      model: MODEL,
      positive: [{ image_id: 'demo-0100' }, { text: '파란' }],
      negative: [{ text: '큰' }],
      k: 10,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(texts.texts.flat()).toEqual(expect.arrayContaining(['파란', '큰', NULL_TEXT]));
    const [blue, large, empty] = await reference(['파란', '큰', NULL_TEXT], 'int8');
    const q = combineParts({
      positive: [
        { kind: 'image', vector: demoVector('demo-0100'), weight: 1 },
        { kind: 'text', vector: blue as Float32Array, weight: 1 },
      ],
      negative: [{ vector: large as Float32Array, weight: 1 }],
      nullText: empty as Float32Array,
    }) as Float32Array;
    expectMatchesReference(
      body.results,
      ranking(q, (i) => i.id !== 'demo-0100'),
      10,
    );
  });
});
