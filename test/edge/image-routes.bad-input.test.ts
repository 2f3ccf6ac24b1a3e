import { exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/contract/limits';
import type { StandIn } from './support/encoder-stand-in';
import { demoImages, installDemoEncoder, seedDemoOnce } from './support/search-fixtures';

type Body =
  | { json: unknown }
  | { form: Record<string, string | File | (string | File)[]> }
  | { raw: string; type: string };
interface Case {
  name: string;
  method?: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: Body;
  status: number;
  code: string | RegExp;
  /** Part of the error message, where the case pins it (filters name their field). */
  message?: string;
}

const png = () => new File([demoImages['demo-0001'] as ArrayBuffer], 'a.png', { type: 'image/png' });
const file = (bytes: Uint8Array | string, type: string) => new File([bytes], 'f', { type });
const big = (n: number) => new File([new Uint8Array(n).fill(0x89)], 'big.png', { type: 'image/png' });
const captions = (n: number) => Array.from({ length: n }, (_, i) => `캡션 ${i}`);

const search = (
  query: Record<string, string>,
  status: number,
  code: string | RegExp,
  name: string,
): Case => ({
  name: `GET /v1/search ${name}`,
  path: '/v1/search',
  query,
  status,
  code,
});
const post = (path: string, body: Body, status: number, code: string | RegExp, name: string): Case => ({
  name: `POST ${path} ${name}`,
  method: 'POST',
  path,
  body,
  status,
  code,
});

const CASES: Case[] = [
  search({}, 400, 'invalid_request', 'without any query'),
  search({ text: '원', image_id: 'demo-0001' }, 400, 'invalid_request', 'with text and image_id'),
  search({ text: '원', k: '0' }, 400, 'invalid_query', 'k = 0'),
  search({ text: '원', k: '101' }, 400, 'invalid_query', 'k = 101'),
  search({ text: '원', k: 'ten' }, 400, 'invalid_query', 'k not a number'),
  search({ text: '원', k: '2.5' }, 400, 'invalid_query', 'k fractional'),
  search({ text: '원', min_score: '1.5' }, 400, 'invalid_query', 'min_score > 1'),
  search({ text: '원', min_score: 'high' }, 400, 'invalid_query', 'min_score not a number'),
  search({ text: '원', filter: 'colour=red' }, 400, 'invalid_query', 'filter not JSON'),
  search({ text: '원', filter: '[1,2]' }, 400, 'invalid_query', 'filter an array'),
  search({ text: '원', filter: '{"a":{"b":1}}' }, 400, 'invalid_query', 'filter with a nested object'),
  search({ text: '원', filter: '{"a":[]}' }, 400, 'invalid_query', 'filter with an empty list'),
  ...(
    [
      ['{"year":{"$gt":"soon"}}', 'filter.year: $gt needs a number or an ISO date'],
      ['{"year":{"$lte":null}}', 'filter.year: $lte needs a number or an ISO date'],
      ['{"taken":{"$lt":"2024-02-30"}}', 'filter.taken: $lt needs a number or an ISO date'],
      ['{"colour":{"$in":"red"}}', 'filter.colour: $in needs a list'],
      ['{"colour":{"$nin":[]}}', 'filter.colour: $nin needs a list'],
      ['{"colour":{"$eq":["red"]}}', 'filter.colour: $eq needs a string, number, boolean or null'],
      ['{"colour":{"$regex":"r"}}', 'filter.colour: unknown operator "$regex"'],
      ['{"colour":{}}', 'filter.colour: needs at least one operator'],
      ['{"colour":"red","count":{"$gte":1,"$ne":[2]}}', 'filter.count: $ne needs a string'],
    ] as const
  ).map(([filter, message]) => ({
    ...search({ text: '원', filter }, 400, 'invalid_query', `filter ${filter}`),
    message,
  })),
  search({ text: '원', cursor: 'not-a-cursor' }, 400, 'invalid_cursor', 'with a garbage cursor'),
  search({ text: '원', cursor: 'a b' }, 400, 'invalid_cursor', 'with a cursor of bad characters'),
  search({ text: '   ' }, 400, 'invalid_query', 'blank text'),
  search({ text: '원'.repeat(1001) }, 400, 'invalid_query', 'text over 1000 characters'),
  search({ image_url: 'ftp://images.test/a.png' }, 400, 'invalid_query', 'ftp image_url'),
  search({ image_url: 'not a url' }, 400, 'invalid_query', 'image_url not a URL'),
  search({ image_id: 'has space' }, 400, 'invalid_query', 'image_id with a space'),
  search({ text: '원', model: 'Bad_Model' }, 400, 'invalid_query', 'malformed model id'),
  search({ text: '원', model: 'koclip-nope' }, 404, 'unknown_model', 'unknown model'),
  search({ image_id: 'demo-9999' }, 404, 'image_not_found', 'unknown image_id'),
  search({ image_id: '가'.repeat(200) }, 404, 'image_not_found', 'image_id longer than any KV key'),
  post('/v1/search', { raw: 'text=원', type: 'text/plain' }, 415, 'unsupported_media_type', 'as text/plain'),
  post(
    '/v1/search',
    { raw: '{"text": "원"', type: 'application/json' },
    400,
    /invalid_request|bad_request/,
    'with broken JSON',
  ),
  post('/v1/search', { json: ['원'] }, 400, 'invalid_request', 'with a JSON array'),
  post('/v1/search', { json: { text: '원', k: -1 } }, 400, 'invalid_request', 'k negative'),
  post('/v1/search', { json: { text: 5 } }, 400, 'invalid_request', 'text a number'),
  post(
    '/v1/search',
    { form: { image: file('hello', 'text/plain') } },
    415,
    'unsupported_media_type',
    'upload of a text file',
  ),
  post(
    '/v1/search',
    { form: { image: file(new Uint8Array(64), 'application/octet-stream') } },
    422,
    'unsupported_format',
    'upload that is not an image',
  ),
  post(
    '/v1/search',
    { form: { image: file(new Uint8Array(0), 'image/png') } },
    400,
    'empty_image',
    'empty upload',
  ),
  post('/v1/search', { form: { image: png(), text: '원' } }, 400, 'invalid_request', 'upload and text'),
  post('/v1/search', { form: { image: [png(), png()] } }, 400, 'invalid_request', 'two uploads'),
  post('/v1/search', { form: { image: 'not a file' } }, 400, 'invalid_request', 'image as a text field'),
  post(
    '/v1/search',
    { form: { text: '원', filter: '{"colour":' } },
    400,
    'invalid_request',
    'broken filter JSON in a form',
  ),
  {
    ...post(
      '/v1/search',
      { json: { text: '원', filter: { year: { $gt: true } } } },
      400,
      'invalid_request',
      'JSON filter with a boolean range bound',
    ),
    message: 'filter.year: $gt needs a number or an ISO date',
  },
  post(
    '/v1/search',
    { form: { image: big(10 * 1024 * 1024 + 1) } },
    413,
    'image_too_large',
    'upload over 10 MiB',
  ),
  post(
    '/v1/search',
    { form: { image: big(LIMITS.bodyBytes + 1024 * 1024) } },
    413,
    'payload_too_large',
    'body over the limit',
  ),
  post('/v1/score', { json: { image_id: 'demo-0001' } }, 400, 'invalid_request', 'without captions'),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: [] } },
    400,
    'invalid_request',
    'with no captions',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: captions(65) } },
    400,
    'invalid_request',
    'with 65 captions',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: ['원', ' '] } },
    400,
    'invalid_request',
    'with a blank caption',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: 3 } },
    400,
    'invalid_request',
    'captions a number',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: ['원'.repeat(1001)] } },
    400,
    'invalid_request',
    'caption too long',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: ['원'], prompt_template: '사진' } },
    400,
    'invalid_request',
    'template without {}',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: ['원'], prompt_template: '{} {}' } },
    400,
    'invalid_request',
    'template with two {}',
  ),
  post('/v1/score', { json: { captions: ['원'] } }, 400, 'invalid_request', 'without an image'),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', image_url: 'https://images.test/a.png', captions: ['원'] } },
    400,
    'invalid_request',
    'with two images',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-9999', captions: ['원'] } },
    404,
    'image_not_found',
    'unknown image_id',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', captions: ['원'], model: 'koclip-nope' } },
    404,
    'unknown_model',
    'unknown model',
  ),
  post(
    '/v1/score',
    { form: { image: file('GIF', 'image/gif'), captions: ['원'] } },
    422,
    'unsupported_format',
    'upload that is not an image',
  ),
  post(
    '/v1/score',
    { form: { image: png(), captions: ['원', ' '] } },
    400,
    'invalid_request',
    'upload with a blank caption',
  ),
  post(
    '/v1/score',
    { raw: 'captions=원', type: 'application/x-www-form-urlencoded' },
    415,
    'unsupported_media_type',
    'url-encoded',
  ),
  post(
    '/v1/patches',
    { json: { image_url: 'https://images.test/a.png', text: '원', rows: 0 } },
    400,
    'invalid_request',
    'rows = 0',
  ),
  post(
    '/v1/patches',
    { json: { image_url: 'https://images.test/a.png', text: '원', cols: 9 } },
    400,
    'invalid_request',
    'cols = 9',
  ),
  post(
    '/v1/patches',
    { form: { image: png(), text: '원', rows: 'x' } },
    400,
    'invalid_request',
    'rows not a number',
  ),
  post(
    '/v1/patches',
    { json: { image_url: 'https://images.test/a.png' } },
    400,
    'invalid_request',
    'without text',
  ),
  post(
    '/v1/patches',
    { json: { image_url: 'https://images.test/a.png', text: ' ' } },
    400,
    'invalid_request',
    'blank text',
  ),
  post('/v1/patches', { json: { text: '원' } }, 400, 'invalid_request', 'without an image'),
  post(
    '/v1/patches',
    { json: { image_id: 'demo-0001', text: '원' } },
    404,
    'image_not_found',
    'with an indexed id whose original is not kept (the demo seed keeps vectors only)',
  ),
  post(
    '/v1/patches',
    { form: { image: file(new Uint8Array(10), 'image/png'), text: '원' } },
    422,
    'unsupported_format',
    'upload that is not an image',
  ),
  // Images inside JSON bodies (image_base64, or a data: URL in image_url): the upload's checks.
  post(
    '/v1/search',
    { json: { image_url: 'data:text/plain;base64,aGVsbG8=' } },
    415,
    'unsupported_media_type',
    'JSON data URL of a text file',
  ),
  post(
    '/v1/search',
    { json: { image_url: 'data:image/png,not-base64' } },
    400,
    'invalid_data_url',
    'JSON data URL without ;base64',
  ),
  post(
    '/v1/search',
    { json: { image_url: 'data:image/png;base64' } },
    400,
    'invalid_data_url',
    'JSON data URL without a comma',
  ),
  post(
    '/v1/search',
    { json: { image_url: 'data:image/png;base64,' } },
    400,
    'empty_image',
    'empty JSON data URL',
  ),
  post('/v1/search', { json: { image_base64: '' } }, 400, 'empty_image', 'empty image_base64'),
  post(
    '/v1/search',
    { json: { image_base64: 'not base64!' } },
    400,
    'invalid_base64',
    'image_base64 not base64',
  ),
  post(
    '/v1/search',
    { json: { image_base64: 'QUJD=A' } },
    400,
    'invalid_base64',
    'image_base64 padding inside',
  ),
  post(
    '/v1/search',
    { json: { image_base64: btoa('\0'.repeat(64)) } },
    422,
    'unsupported_format',
    'image_base64 that is not an image',
  ),
  post(
    '/v1/search',
    { json: { image_url: `data:image/png;base64,${btoa('GIF89a')}`, text: '원' } },
    400,
    'invalid_request',
    'JSON image and text',
  ),
  post(
    '/v1/search',
    { json: { image_base64: btoa('x'), image_url: 'https://images.test/a.png' } },
    400,
    'invalid_request',
    'image_base64 and image_url',
  ),
  post('/v1/search', { json: { image_base64: 42 } }, 400, 'invalid_request', 'image_base64 a number'),
  post(
    '/v1/search',
    { json: { image_base64: 'A'.repeat(LIMITS.bodyBytes + 1024) } },
    413,
    'payload_too_large',
    'JSON body with a base64 image over the body limit',
  ),
  post(
    '/v1/score',
    { json: { image_base64: btoa('\0'.repeat(16)), captions: ['원'] } },
    422,
    'unsupported_format',
    'image_base64 that is not an image',
  ),
  post(
    '/v1/score',
    { json: { image_id: 'demo-0001', image_base64: btoa('x'), captions: ['원'] } },
    400,
    'invalid_request',
    'image_id and image_base64',
  ),
  post(
    '/v1/patches',
    { json: { image_url: 'data:application/pdf;base64,JVBERi0=', text: '원' } },
    415,
    'unsupported_media_type',
    'JSON data URL of a PDF',
  ),
  post(
    '/v1/patches',
    { json: { image_base64: '%%%', text: '원' } },
    400,
    'invalid_base64',
    'image_base64 not base64',
  ),
];

function request(c: Case): Request {
  const url = `http://worker.test${c.path}${c.query ? `?${new URLSearchParams(c.query)}` : ''}`;
  if (!c.body) return new Request(url, { method: c.method ?? 'GET' });
  if ('json' in c.body)
    return new Request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(c.body.json),
    });
  if ('raw' in c.body)
    return new Request(url, { method: 'POST', headers: { 'content-type': c.body.type }, body: c.body.raw });
  const form = new FormData();
  for (const [k, v] of Object.entries(c.body.form)) {
    for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  }
  return new Request(url, { method: 'POST', body: form });
}

let standIn: StandIn;
beforeAll(async () => {
  await seedDemoOnce();
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

describe(`bad input to search, score and patches (${CASES.length} cases) -> 4xx JSON errors`, () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const response = await exports.default.fetch(request(c));
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    expect({ status: response.status, code: body.error?.code }).toEqual({
      status: c.status,
      code: expect.stringMatching(c.code),
    });
    expect(body.error?.message).toEqual(expect.any(String));
    if (c.message) expect(body.error?.message).toContain(c.message);
  });

  it('never reached the encoder', () => {
    expect(standIn.calls).toEqual([]);
  });
});
