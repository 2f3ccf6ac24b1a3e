import { env, exports } from 'cloudflare:workers';
import { Hono } from 'hono';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import goldenText from '../../../models/koclip-tiny/golden/text.json';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import { EMBEDDING_LIMITS } from '../../../src/core/contract/limits';
import { parseManifest } from '../../../src/core/manifest';
import { cosine } from '../../../src/core/vector';
import { toErrorResponse } from '../../../src/edge/http/errors';

const tiny = parseManifest(manifestJson);
const BASE = 'http://edge.test';

/** A search key made through the keys API, as a user gives the OpenAI client its key. */
async function searchKey(): Promise<string> {
  const res = await exports.default.fetch(
    new Request(`${BASE}/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'openai client', scopes: ['search'] }),
    }),
  );
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

/** The official client, changed only in baseURL and its key; its fetch goes to the Worker inside workerd. */
const client = new OpenAI({
  apiKey: await searchKey(),
  baseURL: `${BASE}/v1`,
  maxRetries: 0,
  fetch: (input: string | URL | Request, init?: RequestInit) =>
    exports.default.fetch(new Request(input, init)),
});

function post(
  body: string | ReadableStream,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) {
  return exports.default.fetch(
    new Request(`${BASE}/v1/embeddings`, { method: 'POST', body, headers, duplex: 'half' } as RequestInit),
  );
}

async function expectError(res: Response, status: number, code?: string): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  if (code) expect(body.error.code).toBe(code);
  return body.error.message;
}

describe('POST /v1/embeddings with the official openai client', () => {
  it('round-trips a list of texts (client default: base64 on the wire)', async () => {
    const texts = goldenText.cases.map((c) => c.text);
    const res = await client.embeddings.create({ model: 'koclip-tiny', input: texts });
    expect(res.object).toBe('list');
    expect(res.model).toBe('koclip-tiny');
    expect(res.data.map((d) => d.index)).toEqual(texts.map((_, i) => i));
    res.data.forEach((d, i) => {
      expect(d.object).toBe('embedding');
      expect(d.embedding).toHaveLength(tiny.projection_dim);
      expect(cosine(d.embedding, goldenText.cases[i]?.embedding ?? [])).toBeGreaterThanOrEqual(0.999);
    });
    const tokens = goldenText.cases.reduce((n, c) => n + c.input_ids.length, 0);
    expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('answers float arrays when asked, equal to the base64 answer', async () => {
    const asFloat = await client.embeddings.create({
      model: 'koclip-tiny',
      input: '빨간 원',
      encoding_format: 'float',
    });
    const asDefault = await client.embeddings.create({ model: 'koclip-tiny', input: '빨간 원' });
    expect(Array.isArray(asFloat.data[0]?.embedding)).toBe(true);
    expect(Array.from(asDefault.data[0]?.embedding ?? [])).toEqual(
      Array.from(Float32Array.from(asFloat.data[0]?.embedding ?? [])),
    );
  });

  it('accepts dimensions equal to the model dimension', async () => {
    const res = await client.embeddings.create({
      model: 'koclip-tiny',
      input: 'x',
      dimensions: tiny.projection_dim,
    });
    expect(res.data[0]?.embedding).toHaveLength(tiny.projection_dim);
  });

  it('refuses a key the service did not issue with 401, which the client surfaces', async () => {
    const stranger = new OpenAI({
      apiKey: 'sk-not-ours',
      baseURL: `${BASE}/v1`,
      maxRetries: 0,
      fetch: (input: string | URL | Request, init?: RequestInit) =>
        exports.default.fetch(new Request(input, init)),
    });
    const err = await stranger.embeddings
      .create({ model: 'koclip-tiny', input: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
  });

  it('surfaces errors through the client as APIError with our envelope', async () => {
    const err = await client.embeddings.create({ model: 'nope', input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({ code: 'unknown_model' });
  });
});

describe('POST /v1/embeddings over plain fetch', () => {
  it('uses the default model when none is named, and reports truncation', async () => {
    const res = await post(JSON.stringify({ input: ['빨간 원', '큰 빨간 원 두 개 '.repeat(30)] }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-truncated-inputs')).toBe('1');
    expect(res.headers.get('x-model-version')).toBe(tiny.version);
    const body = (await res.json()) as {
      model: string;
      truncated_inputs: number[];
      usage: { prompt_tokens: number };
    };
    expect(body.model).toBe('koclip-tiny');
    expect(body.truncated_inputs).toEqual([1]);
    expect(body.usage.prompt_tokens).toBe(4 + tiny.text.max_length);
  });

  it('omits the truncation header when nothing was cut', async () => {
    const res = await post(JSON.stringify({ input: '빨간 원' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-truncated-inputs')).toBeNull();
  });

  it('embeds odd but valid text: lone surrogates, control characters, one very long word', async () => {
    const input = ['\ud800 빨간', 'a\u0000b\u0007c', '가'.repeat(500), '   ', '🙂🙂🙂'];
    const res = await post(JSON.stringify({ input }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { embedding: number[] }[] };
    expect(body.data).toHaveLength(input.length);
    for (const d of body.data) expect(d.embedding.every(Number.isFinite)).toBe(true);
  });

  const tooMany = Array.from({ length: EMBEDDING_LIMITS.inputs + 1 }, () => 'a');
  const badBodies: [string, unknown, number, string][] = [
    ['a token array', { input: [1, 2, 3] }, 400, 'invalid_request'],
    ['an array of token arrays', { input: [[1, 2]] }, 400, 'invalid_request'],
    ['no input', { model: 'koclip-tiny' }, 400, 'invalid_request'],
    ['a null input', { input: null }, 400, 'invalid_request'],
    ['a number input', { input: 42 }, 400, 'invalid_request'],
    ['an empty string', { input: '' }, 400, 'invalid_request'],
    ['an empty list', { input: [] }, 400, 'invalid_request'],
    ['an empty string in a list', { input: ['a', ''] }, 400, 'invalid_request'],
    ['too many inputs', { input: tooMany }, 400, 'invalid_request'],
    [
      'a text over the character limit',
      { input: 'a'.repeat(EMBEDDING_LIMITS.textChars + 1) },
      400,
      'invalid_request',
    ],
    ['an unknown model', { input: 'a', model: 'koclip-huge' }, 404, 'unknown_model'],
    ['a malformed model id', { input: 'a', model: '../../secret' }, 404, 'unknown_model'],
    ['an unknown encoding_format', { input: 'a', encoding_format: 'int8' }, 400, 'invalid_request'],
    ['other dimensions', { input: 'a', dimensions: 128 }, 400, 'unsupported_dimensions'],
    ['dimensions as a string', { input: 'a', dimensions: '256' }, 400, 'invalid_request'],
    ['a JSON array body', ['a'], 400, 'invalid_request'],
    ['a JSON string body', 'a', 400, 'invalid_request'],
  ];
  it.each(badBodies)('rejects %s', async (_, body, status, code) => {
    await expectError(await post(JSON.stringify(body)), status, code);
  });

  it('rejects malformed JSON with 400', async () => {
    await expectError(await post('{"input": "a",'), 400, 'bad_request');
  });

  it('rejects a non-JSON content type with 415', async () => {
    await expectError(await post('input=a', { 'content-type': 'application/x-www-form-urlencoded' }), 415);
    await expectError(await post('a', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
  });

  it('rejects a body over the limit with 413, by Content-Length and while streaming', async () => {
    const big = JSON.stringify({ input: 'a'.repeat(EMBEDDING_LIMITS.bodyBytes) });
    await expectError(await post(big), 413, 'payload_too_large');
    const chunk = new TextEncoder().encode('a'.repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > EMBEDDING_LIMITS.bodyBytes + chunk.length) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    await expectError(await post(stream), 413, 'payload_too_large');
  });

  it('answers GET with a JSON 405 and Allow: POST', async () => {
    const res = await exports.default.fetch(`${BASE}/v1/embeddings`);
    expect(res.headers.get('allow')).toBe('POST');
    await expectError(res, 405, 'method_not_allowed');
  });
});

describe('error envelope', () => {
  it('answers unknown paths with a JSON 404', async () => {
    await expectError(await exports.default.fetch(`${BASE}/v2/nothing`), 404, 'not_found');
  });

  it('answers a broken model package in R2 with 503 model_unavailable', async () => {
    await env.MODELS_BUCKET.put(
      'models/koclip-broken/manifest.json',
      '{"format": "koclip-model/1", "id": 5}',
    );
    await expectError(
      await post(JSON.stringify({ input: 'a', model: 'koclip-broken' })),
      503,
      'model_unavailable',
    );
  });

  it('turns an unexpected exception into a generic 500 that hides its message', async () => {
    const probe = new Hono();
    probe.get('/boom', () => {
      throw new Error('secret internals: /srv/keys');
    });
    probe.onError((err, c) => toErrorResponse(c, err));
    const message = await expectError(await probe.request('/boom'), 500, 'internal_error');
    expect(message).toBe('internal error');
  });
});
