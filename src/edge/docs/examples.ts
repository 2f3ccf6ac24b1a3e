/**
 * Examples of the OpenAPI document, one place for every route (the routes' definitions name them
 * as `example` / `examples` beside their schemas). Values are what the local stack answers for the
 * embedded koclip-tiny and its demo index, shortened (embeddings cut to a few numbers).
 * test/edge/docs/openapi-examples.test.ts checks that every operation has them.
 */

const MODEL = { model: 'koclip-tiny', version: '2026.11.29-1' } as const;
/** A 1x1 PNG, as a JSON client would send a small image inline. */
const TINY_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

const hit = (id: string, score: number, caption: string, metadata: Record<string, unknown>) => ({
  id,
  score,
  metadata,
  caption,
});

export const ERROR_EXAMPLE = { error: { code: 'invalid_request', message: 'text: must not be blank' } };

export const EMBEDDINGS = {
  request: { input: ['빨간 원', '파란 별 세 개'], model: 'koclip-tiny' },
  response: {
    object: 'list',
    data: [
      { object: 'embedding', index: 0, embedding: [0.0213, -0.0841, 0.0467] },
      { object: 'embedding', index: 1, embedding: [-0.0532, 0.0119, 0.0904] },
    ],
    model: 'koclip-tiny',
    usage: { prompt_tokens: 9, total_tokens: 9 },
    truncated_inputs: [],
  },
};

const MODEL_ENTRY = {
  id: 'koclip-tiny',
  object: 'model',
  created: 0,
  owned_by: 'koclip-edge',
  version: MODEL.version,
  description: 'Tiny Korean CLIP trained on synthetic coloured shapes (the embedded default)',
  default: true,
  projection_dim: 256,
  logit_scale: 3.4,
  prompt_template: '이것은 {} 이다.',
  text: { placement: 'edge', max_length: 32, variants: ['fp32', 'int8'], default_variant: 'int8' },
  image: { size: 64 },
};
export const MODELS = { list: { object: 'list', data: [MODEL_ENTRY] }, one: MODEL_ENTRY };

const RED_CIRCLES = [
  hit('demo-0191', 0.7048, '큰 빨간 동그라미 셋', {
    colour: 'red',
    shape: 'circle',
    count: 3,
    size: 'large',
    position: 'none',
    background: 'beige',
  }),
  hit('demo-0127', 0.6962, '베이지색 배경에 작은 빨간 원이 두 개 있다.', {
    colour: 'red',
    shape: 'circle',
    count: 2,
    size: 'small',
    position: 'none',
    background: 'beige',
  }),
];

export const SEARCH = {
  query: { q: '빨간 원', k: 5, filter: '{"count":[2,3]}' },
  request: {
    text: {
      summary: 'By text, with a metadata filter',
      value: { text: '빨간 원', k: 5, filter: { shape: 'circle', count: [2, 3] }, min_score: 0.3 },
    },
    image_id: { summary: 'More like an indexed image', value: { image_id: 'demo-0191', k: 5 } },
    composite: {
      summary: 'Composite: like an indexed image, but blue, and not large',
      value: {
        positive: [{ image_id: 'demo-0191' }, { text: '파란', weight: 1 }],
        negative: [{ text: '큰' }],
        k: 5,
      },
    },
    image_base64: {
      summary: 'By an image inside the JSON body (data: URL, as in OpenAI vision requests)',
      value: { image_url: `data:image/png;base64,${TINY_PNG}`, k: 5 },
    },
    // No http(s) `image_url` example: replaying it would make the service fetch from a host that is
    // not ours, and a `cursor` example would be refused (a cursor is bound to its query and to the
    // index generation it was issued for). The route's description shows both forms.
  },
  response: {
    object: 'search_results',
    ...MODEL,
    query: { kind: 'text', truncated: false },
    results: RED_CIRCLES,
    // The shape encodeCursor (src/edge/search/cursor.ts) issues for this query at offset 5.
    next_cursor:
      'eyJ2IjoxLCJvIjo1LCJnIjoxLCJmIjoiYWExY2M3NjM0YWVhNzA5NzYwZWU2OTZhMjMwNWE0MmUiLCJxIjoiMTJlNzhmYjZlNmZjMDA2NDg4OTUyOTY2ZDlmNTU0YjEiLCJtIjoia29jbGlwLXRpbnlAMjAyNi4xMS4yOS0xIn0',
  },
};

export const SCORE = {
  request: {
    image_id: {
      summary: 'An indexed image, with the prompt template',
      value: {
        image_id: 'demo-0191',
        captions: ['빨간 원', '파란 별', '초록색 세모'],
        prompt_template: '이것은 {} 이다.',
      },
    },
    image_base64: {
      summary: 'An image as bare base64 in the JSON body',
      value: { image_base64: TINY_PNG, captions: ['빨간 원', '파란 별'] },
    },
    text_variant: {
      summary: "The fp32 text tower's probabilities (the reference forward pass's)",
      value: { image_id: 'demo-0191', captions: ['빨간 원', '파란 별'], text_variant: 'fp32' },
    },
  },
  response: {
    object: 'caption_scores',
    ...MODEL,
    image: { kind: 'image_id', id: 'demo-0191' },
    prompt_template: '이것은 {} 이다.',
    logit_scale: 3.4,
    text_variant: 'int8',
    text_tower: 'koclip-tiny@2026.11.29-1#dd54c6d75f0e3a4d:int8',
    results: [
      { caption: '빨간 원', text: '이것은 빨간 원 이다.', logit: 18.7, prob: 0.9999, truncated: false },
      { caption: '파란 별', text: '이것은 파란 별 이다.', logit: -4.79, prob: 0.0, truncated: false },
      {
        caption: '초록색 세모',
        text: '이것은 초록색 세모 이다.',
        logit: 4.1,
        prob: 0.0001,
        truncated: false,
      },
    ],
    probs: [0.9999, 0.0, 0.0001],
    logits: [18.7, -4.79, 4.1],
    best: 0,
  },
};

export const PATCHES = {
  request: {
    image_base64: {
      summary: 'An image inside the JSON body, a 2x2 grid',
      value: { image_url: `data:image/png;base64,${TINY_PNG}`, text: '빨간 원', rows: 2, cols: 2 },
    },
    image_id: {
      summary: 'An uploaded image by id (its original is kept)',
      value: { image_id: 'sku-1042', text: '빨간 원', rows: 3, cols: 3 },
    },
  },
  response: {
    object: 'patch_scores',
    ...MODEL,
    text: '빨간 원',
    truncated: false,
    rows: 2,
    cols: 2,
    scores: [
      [0.09, 0.62],
      [0.3, 0.71],
    ],
    probs: [
      [0.0, 0.12],
      [0.01, 0.87],
    ],
    best: { row: 1, col: 1, score: 0.71 },
  },
};

const STATUS = {
  id: 'sku-1042',
  collection: 'default',
  state: 'indexed',
  metadata: { colour: 'red', shape: 'circle' },
  content_sha256: '9f2c1e0b7a4d3c58e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7',
  attempts: 1,
  updated_at: '2026-12-02T04:10:00.000Z',
};

export const IMAGES = {
  uploaded: { ...STATUS, state: 'pending', attempts: 0 },
  status: STATUS,
  failed: {
    ...STATUS,
    state: 'failed',
    error: { code: 'unsupported_format', message: 'the image could not be decoded' },
  },
  deleted: { id: 'sku-1042', collection: 'default', deleted: true },
  stats: {
    collection: 'default',
    ...MODEL,
    counts: { pending: 0, indexed: 301, failed: 0 },
    segments: 3,
    retired_segments: 0,
    bytes: 184320,
    generation: 12,
    last_write: '2026-12-02T04:10:00.000Z',
    queue_lag_s: 0,
    reconciler: { reenqueued: 0, failed: 0 },
  },
};

export const WEBHOOK = {
  accepted: {
    accepted: 2,
    events: [
      { id: 'sku-1042', op: 'upsert', seq: 17, collection: 'default' },
      { id: 'sku-0999', op: 'delete', seq: 18, collection: 'default' },
    ],
  },
};

const MIGRATION = {
  id: 'm1-3f9c2a7e',
  collection: 'products',
  from: MODEL,
  to: { model: 'koclip-tiny-student', version: '2026.12.07-1' },
  state: 'copying',
  total: 950,
  copied: 400,
  indexed: 380,
  pending: 20,
  failed: 0,
  failures: [],
  images_per_s: 41.3,
  eta_s: 13.8,
  started_at: '2026-12-07T19:00:00.000Z',
  switched_at: null,
  rollback_until: null,
  finished_at: null,
  error: null,
};

export const COLLECTIONS = {
  collection: { collection: 'products', model: 'koclip-tiny', pinned: false, migration: null },
  setModel: { model: 'koclip-tiny' },
  start: { to: 'koclip-tiny-student' },
  migration: MIGRATION,
  switched: {
    ...MIGRATION,
    state: 'switched',
    copied: 950,
    indexed: 950,
    pending: 0,
    images_per_s: 43.9,
    eta_s: null,
    switched_at: '2026-12-07T19:00:21.600Z',
    rollback_until: '2026-12-08T19:00:21.600Z',
  },
};

const KEY_VIEW = {
  id: 'k_3f9c2a7e5b1d4c08',
  name: 'shop search (browser)',
  prefix: 'koclip_3f9c2a7e5b1d4c08_Xq…',
  scopes: ['search'],
  collections: ['products'],
  origins: ['https://shop.example'],
  expires_at: null,
  limits: { requests_per_day: 100000, encoder_per_day: 1000 },
  created_at: '2026-12-07T09:00:00.000Z',
  revoked_at: null,
  usage_today: { requests: 1520, encoder: 12 },
};

export const KEYS = {
  create: {
    name: 'shop search (browser)',
    scopes: ['search'],
    collections: ['products'],
    origins: ['https://shop.example'],
    limits: { requests_per_day: 100000, encoder_per_day: 1000 },
  },
  created: {
    ...KEY_VIEW,
    usage_today: { requests: 0, encoder: 0 },
    key: 'koclip_3f9c2a7e5b1d4c08_XqP0r3nA9sVt2LmW8yZ4bC6dE1fG5hJ7kN0pQ2sT4uV',
  },
  list: { object: 'list', data: [KEY_VIEW] },
  revoked: { ...KEY_VIEW, revoked_at: '2026-12-07T12:00:00.000Z' },
};
