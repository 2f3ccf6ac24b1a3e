import { env, exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import { dot } from '../../../src/core/vector';
import { loadModel } from '../../../src/edge/inference/model-registry';
import { embedTexts } from '../../../src/edge/inference/text-tower';
import { encodeCursor } from '../../../src/edge/search/cursor';
import type { StandIn } from '../support/encoder-stand-in';
import {
  demo,
  demoImages,
  demoStore,
  demoUrl,
  demoVector,
  installDemoEncoder,
  manifest,
  seedDemoOnce,
  space,
} from '../support/search-fixtures';

interface Hit {
  id: string;
  score: number;
  metadata: Record<string, unknown>;
  caption?: string;
}
interface SearchBody {
  object: string;
  model: string;
  version: string;
  query: { kind: string; truncated?: boolean };
  results: Hit[];
  next_cursor: string | null;
}

const call = (path: string, init?: RequestInit) =>
  exports.default.fetch(new Request(`http://worker.test${path}`, init));
const get = async (query: Record<string, string>) => {
  const response = await call(`/v1/search?${new URLSearchParams(query)}`);
  return { status: response.status, body: (await response.json()) as SearchBody };
};
const post = async (body: unknown) => {
  const response = await call('/v1/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as SearchBody };
};

/** Exact fp32 scores of a query over the demo set (the reference the index search must reproduce). */
function reference(query: Float32Array, keep: (i: (typeof demo.items)[number]) => boolean = () => true) {
  return demo.items
    .filter(keep)
    .map((item) => ({ id: item.id, score: dot(query, item.vector), metadata: item.metadata }))
    .sort((a, b) => b.score - a.score);
}

/**
 * The route's page is the exact top-k up to fp16 rounding: every id it returns has its fp32 score,
 * none scores clearly below the k-th best, and none clearly better was left out.
 */
const TOLERANCE = 2e-3;
function expectMatchesReference(results: Hit[], ref: ReturnType<typeof reference>, k: number) {
  expect(results).toHaveLength(Math.min(k, ref.length));
  const exact = new Map(ref.map((r) => [r.id, r.score]));
  const kth = ref[results.length - 1]?.score as number;
  for (const hit of results) {
    expect(Math.abs(hit.score - (exact.get(hit.id) as number))).toBeLessThan(TOLERANCE);
    expect(exact.get(hit.id) as number).toBeGreaterThan(kth - TOLERANCE);
  }
  expect((results.at(-1) as Hit).score).toBeGreaterThan(kth - TOLERANCE);
}

/** The image itself ranks first wherever the embedding space tells it apart from the rest. */
function expectSelfFirst(results: Hit[], id: string, ref: ReturnType<typeof reference>) {
  expect(results[0]?.score).toBeGreaterThan((ref[0]?.score as number) - TOLERANCE);
  if ((ref[0]?.score as number) - (ref[1]?.score as number) > TOLERANCE) expect(results[0]?.id).toBe(id);
}

async function textVector(text: string): Promise<Float32Array> {
  return (await embedTexts(env, await loadModel(env, manifest.id), [text])).embeddings[0] as Float32Array;
}

let standIn: StandIn;
beforeAll(async () => {
  await seedDemoOnce();
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

describe('GET|POST /v1/search by text', () => {
  it('answers the exact top-k of the text tower embedding over the seeded demo index', async () => {
    const { status, body } = await get({ text: '빨간 원', k: '10' });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      object: 'search_results',
      model: space.model,
      version: space.version,
      query: { kind: 'text', truncated: false },
    });
    expectMatchesReference(body.results, reference(await textVector('빨간 원')), 10);
    const first = body.results[0] as Hit;
    const item = demo.items.find((i) => i.id === first.id);
    expect(first.metadata).toEqual(item?.metadata);
    expect(first.caption).toBe(item?.caption);
  });

  it('answers the same to GET ?q= and to POST JSON', async () => {
    const a = await get({ q: '파란 별 두 개', k: '5' });
    const b = await post({ text: '파란 별 두 개', k: 5 });
    expect(a.status).toBe(200);
    expect(b.body.results).toEqual(a.body.results);
  });

  it('defaults to k = 10', async () => {
    expect((await get({ text: '별' })).body.results).toHaveLength(10);
  });

  it('filters on metadata equality and lists of values', async () => {
    const { body } = await post({ text: '빨간 원', k: 100, filter: { colour: 'red', shape: 'circle' } });
    const redCircles = demo.items.filter((i) => i.metadata.colour === 'red' && i.metadata.shape === 'circle');
    expect(body.results.map((h) => h.id).sort()).toEqual(redCircles.map((i) => i.id).sort());
    expect(body.next_cursor).toBeNull();
    const q = await textVector('세모');
    const listed = await get({
      text: '세모',
      k: '20',
      filter: JSON.stringify({ count: [2, 3], size: 'small' }),
    });
    expectMatchesReference(
      listed.body.results,
      reference(q, (i) => [2, 3].includes(i.metadata.count as number) && i.metadata.size === 'small'),
      20,
    );
    expect((await post({ text: '세모', filter: { colour: 'ultraviolet' } })).body.results).toEqual([]);
  });

  it('drops results under min_score', async () => {
    const all = (await get({ text: '초록색 네모', k: '50' })).body.results;
    const floor = (all[4] as Hit).score;
    const { body } = await get({ text: '초록색 네모', k: '50', min_score: String(floor) });
    expect(body.results.map((h) => h.id)).toEqual(all.slice(0, body.results.length).map((h) => h.id));
    expect(body.results.every((h) => h.score >= floor)).toBe(true);
    expect(body.results.length).toBeGreaterThanOrEqual(4);
    expect(body.results.length).toBeLessThanOrEqual(6);
  });

  it('pages with next_cursor through the same ranking as one large page', async () => {
    const whole = (await get({ text: '노란 삼각형', k: '28' })).body.results.map((h) => h.id);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: SearchBody } = await get({
        text: '노란 삼각형',
        k: '7',
        ...(cursor ? { cursor } : {}),
      });
      expect(page.status).toBe(200);
      paged.push(...page.body.results.map((h) => h.id));
      cursor = page.body.next_cursor;
    } while (cursor && paged.length < 28);
    expect(paged).toEqual(whole);
  });

  it('ends the pages at the last result', async () => {
    const first = await post({ text: '원', k: 2, filter: { colour: 'red', shape: 'circle' } });
    let cursor = first.body.next_cursor;
    let seen = first.body.results.length;
    while (cursor) {
      const page = await post({ text: '원', k: 2, filter: { colour: 'red', shape: 'circle' }, cursor });
      seen += page.body.results.length;
      cursor = page.body.next_cursor;
    }
    expect(seen).toBe(
      demo.items.filter((i) => i.metadata.colour === 'red' && i.metadata.shape === 'circle').length,
    );
  });

  it('refuses a cursor from another query (400) or an older index generation (409)', async () => {
    const { body } = await get({ text: '빨간 원', k: '3' });
    const other = await call(
      `/v1/search?${new URLSearchParams({ text: '파란 별', k: '3', cursor: body.next_cursor as string })}`,
    );
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('invalid_cursor');
    const generation = ((await demoStore(env).catalogue())?.generation ?? 0) - 1;
    const old = await encodeCursor(3, generation, {
      model: space.model,
      version: space.version,
      collection: 'default',
      source: 'text:빨간 원',
    });
    const stale = await call(`/v1/search?${new URLSearchParams({ text: '빨간 원', k: '3', cursor: old })}`);
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe('cursor_stale');
  });
});

describe('search quality of koclip-tiny on its demo set (partial Korean queries)', () => {
  // Pinned to the quality the model kit measured for these weights (int8 precision@10 of
  // colour+shape on its test split): the Worker's text tower + index must reproduce it on the
  // demo set. Weights that learned nothing (the preliminary smoke package: 0.03) skip this.
  const evaluation = manifest.evaluation as { onnx_int8?: Record<string, number> };
  const precision = evaluation.onnx_int8?.['precision@10_colour_shape'] ?? 0;
  it.skipIf(precision < 0.5).each([
    ['빨간 원', { colour: 'red', shape: 'circle' }],
    ['파란 별 두 개', { colour: 'blue', shape: 'star' }],
    ['초록색 세모', { colour: 'green', shape: 'triangle' }],
  ])('%s -> the top results have %j', async (text, wanted) => {
    const { body } = await get({ text, k: '5' });
    const fits = (metadata: Record<string, unknown>) =>
      Object.entries(wanted).every(([f, v]) => metadata[f] === v);
    const available = demo.items.filter((i) => fits(i.metadata)).length;
    const matching = body.results.filter((h) => fits(h.metadata)).length;
    // One miss of slack below what the measured precision predicts for the top 5.
    expect(matching).toBeGreaterThanOrEqual(Math.max(1, Math.round(precision * Math.min(5, available)) - 1));
    if (precision >= 0.9) expect(body.results[0]?.metadata).toMatchObject(wanted);
  });
});

describe('everyday Korean on koclip-tiny (its text tower retrained on paraphrases, koclip_kit.lit)', () => {
  // The kit measured R-precision over a paraphrase set whose frames training never saw (in the
  // manifest); here the Worker's own int8 tower and index answer count queries phrased as people
  // type them (other colour and shape words, counters, spacing, a typo) with that count first.
  const evaluation = manifest.evaluation as { paraphrases?: { onnx_int8: { r_precision: number } } };
  it.skipIf(!evaluation.paraphrases).each([
    ['초록색 세모 두 개', { colour: 'green', shape: 'triangle', count: 2 }],
    ['녹색 삼각형 2개 보여주세요', { colour: 'green', shape: 'triangle', count: 2 }],
    ['핑크 마름모 3개', { colour: 'pink', shape: 'diamond', count: 3 }],
    ['분홍빛 마름모꼴 셋', { colour: 'pink', shape: 'diamond', count: 3 }],
    ['보라색 동그라미 하나', { colour: 'purple', shape: 'circle', count: 1 }],
    ['보라 원형 한개만 있는 사진', { colour: 'purple', shape: 'circle', count: 1 }],
    ['빨강 원 세 개', { colour: 'red', shape: 'circle', count: 3 }],
    ['빨깐 동그라미 세개', { colour: 'red', shape: 'circle', count: 3 }],
  ])('%s -> the first hit is %j', async (text, wanted) => {
    expect(demo.items.some((i) => Object.entries(wanted).every(([f, v]) => i.metadata[f] === v))).toBe(true);
    const { status, body } = await get({ text, k: '3' });
    expect(status).toBe(200);
    expect(body.results[0]?.metadata).toMatchObject(wanted);
  });
});

describe('search by image', () => {
  it('by indexed id: the stored vector, without the image itself', async () => {
    const { status, body } = await get({ image_id: 'demo-0100', k: '10' });
    expect(status).toBe(200);
    expect(body.query.kind).toBe('image_id');
    expect(body.results.map((h) => h.id)).not.toContain('demo-0100');
    const stored = demoVector('demo-0100');
    expectMatchesReference(
      body.results,
      reference(stored, (i) => i.id !== 'demo-0100'),
      10,
    );
  });

  it('by upload (multipart): the encoder embeds it and the image finds itself first', async () => {
    const form = new FormData();
    form.set('image', new File([demoImages['demo-0005'] as ArrayBuffer], 'x.png', { type: 'image/png' }));
    form.set('k', '3');
    const response = await call('/v1/search', { method: 'POST', body: form });
    const body = (await response.json()) as SearchBody;
    expect(response.status).toBe(200);
    expect(body.query.kind).toBe('image');
    expect(body.results).toHaveLength(3);
    expectSelfFirst(body.results, 'demo-0005', reference(demoVector('demo-0005')));
  });

  it('by URL: the encoder fetches it', async () => {
    const { status, body } = await post({
      image_url: demoUrl('demo-0200'),
      k: 4,
      filter: { shape: demo.items[200]?.metadata.shape },
    });
    expect(status).toBe(200);
    const shape = demo.items[200]?.metadata.shape;
    expectSelfFirst(
      body.results,
      'demo-0200',
      reference(demoVector('demo-0200'), (i) => i.metadata.shape === shape),
    );
    expect(body.results.every((h) => h.metadata.shape === shape)).toBe(true);
    expect(standIn.calls.at(-1)?.contentType).toBe('application/json');
  });

  it('a broken encoder -> 502 with a clear error', async () => {
    standIn.mode = 'status500';
    try {
      const response = await call('/v1/search', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image_url: demoUrl('demo-0001') }),
      });
      expect(response.status).toBe(502);
      expect(await response.json()).toMatchObject({ error: { code: 'encoder_error' } });
    } finally {
      standIn.mode = 'ok';
    }
  });
});

describe('empty index', () => {
  it('answers 404 index_empty for a model that has no index', async () => {
    // A second model (same package under another id, published to MODELS_BUCKET the way large
    // models are) whose embedding space has no index; the demo index stays untouched.
    const id = 'koclip-tiny-unindexed';
    await env.MODELS_BUCKET.put(`models/${id}/manifest.json`, JSON.stringify({ ...manifestJson, id }));
    const response = await call(`/v1/search?${new URLSearchParams({ text: '원', model: id })}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      error: { code: 'index_empty', message: expect.stringContaining(id) },
    });
  });
});

describe('OpenAPI document', () => {
  it('describes search, score and patches with their JSON and multipart bodies', async () => {
    const doc = (await (await call('/openapi.json')).json()) as {
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { content: Record<string, unknown> }; parameters?: { name: string }[] }
        >
      >;
    };
    expect(doc.paths['/v1/search']?.get?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['text', 'q', 'image_id', 'image_url', 'k', 'min_score', 'filter', 'cursor']),
    );
    for (const path of ['/v1/search', '/v1/score', '/v1/patches']) {
      expect(Object.keys(doc.paths[path]?.post?.requestBody?.content ?? {}).sort()).toEqual([
        'application/json',
        'multipart/form-data',
      ]);
    }
  });
});
