/**
 * Bad input gets a clear 4xx with the error envelope: a table of malformed requests, per-item
 * errors inside a multipart batch, and the size and pixel limits. Answers are parsed with the
 * contract's schemas (src/core/contract/encoder-api.ts); an image's code answers alone with the
 * status the Worker reads for it inside a batch.
 */
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorAnswerSchema,
  ImageAnswerSchema,
  ITEM_ERROR_STATUS,
} from '../../../src/core/contract/encoder-api';
import type { EmbedAnswer, RunningEncoder } from '../support/service-process';
import { startEncoder } from '../support/service-process';

const LIMITS = {
  ENCODER_MAX_IMAGE_BYTES: '200000',
  ENCODER_MAX_BODY_BYTES: '1000000',
  ENCODER_MAX_PIXELS: '1000000',
  ENCODER_MAX_IMAGES: '8',
  ENCODER_MAX_TEXTS: '4',
  ENCODER_MAX_TEXT_CHARS: '100',
};

let encoder: RunningEncoder;
let png = Buffer.alloc(0);
let jpeg = Buffer.alloc(0);
beforeAll(async () => {
  encoder = await startEncoder(LIMITS);
  const base = sharp({ create: { width: 120, height: 80, channels: 3, background: '#3366aa' } });
  png = await base.clone().png().toBuffer();
  jpeg = await base.clone().jpeg().toBuffer();
});
afterAll(() => encoder.stop());

const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const raw = (type: string, body: Uint8Array | string) => ({
  method: 'POST',
  headers: { 'content-type': type },
  body: typeof body === 'string' ? body : new Uint8Array(body),
});
const form = (parts: Array<[string, Blob | string]>) => {
  const f = new FormData();
  for (const [name, value] of parts) f.append(name, value);
  return { method: 'POST', body: f };
};
const img = (bytes: Uint8Array) => new Blob([new Uint8Array(bytes)]);

/** A PNG whose header claims `width x height` (valid CRC) but whose pixel data is a tiny image's. */
function pngClaiming(source: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(source);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

type Init = RequestInit | (() => Promise<RequestInit>);
const CASES: Array<[string, string, Init, number, string]> = [
  ['text/plain body', '/v1/embed/image', raw('text/plain', 'hello'), 415, 'unsupported_media_type'],
  [
    'no content-type',
    '/v1/embed/image',
    { method: 'POST', body: new Uint8Array([1, 2, 3]) },
    415,
    'unsupported_media_type',
  ],
  ['empty image body', '/v1/embed/image', raw('image/png', new Uint8Array()), 400, 'empty_body'],
  [
    'bytes that are no image',
    '/v1/embed/image',
    raw('image/png', 'definitely not a png'),
    422,
    'not_an_image',
  ],
  [
    'truncated JPEG',
    '/v1/embed/image',
    async () => raw('image/jpeg', jpeg.subarray(0, jpeg.length >> 1)),
    422,
    'truncated_image',
  ],
  [
    'truncated PNG',
    '/v1/embed/image',
    async () => raw('image/png', png.subarray(0, png.length >> 1)),
    422,
    'truncated_image',
  ],
  [
    'GIF magic number over junk',
    '/v1/embed/image',
    raw('image/gif', 'GIF89a and then nothing an image decoder could use'),
    422,
    'corrupt_image',
  ],
  [
    'TIFF',
    '/v1/embed/image',
    async () => raw('image/tiff', await sharp(png).tiff().toBuffer()),
    422,
    'unsupported_format',
  ],
  [
    'SVG',
    '/v1/embed/image',
    raw('image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'),
    422,
    'unsupported_format',
  ],
  ['invalid JSON', '/v1/embed/image', json('{"urls": ['), 400, 'bad_json'],
  ['JSON without urls', '/v1/embed/image', json({}), 400, 'bad_request'],
  ['empty url list', '/v1/embed/image', json({ urls: [] }), 400, 'bad_request'],
  ['url list of numbers', '/v1/embed/image', json({ urls: [1] }), 400, 'bad_request'],
  ['urls not a list', '/v1/embed/image', json({ urls: 'https://example.com/a.png' }), 400, 'bad_request'],
  [
    'unknown JSON field',
    '/v1/embed/image',
    json({ urls: ['https://example.com/a.png'], x: 1 }),
    400,
    'bad_request',
  ],
  ['relative url', '/v1/embed/image', json({ urls: ['not a url'] }), 400, 'bad_url'],
  ['file: url', '/v1/embed/image', json({ urls: ['file:///etc/passwd'] }), 400, 'bad_url'],
  ['ftp: url', '/v1/embed/image', json({ urls: ['ftp://example.com/a.png'] }), 400, 'bad_url'],
  [
    'url with credentials',
    '/v1/embed/image',
    json({ urls: ['http://u:p@example.com/a.png'] }),
    400,
    'bad_url',
  ],
  [
    'too many urls',
    '/v1/embed/image',
    json({ urls: Array(9).fill('https://example.com/a.png') }),
    400,
    'too_many_images',
  ],
  ['multipart without image parts', '/v1/embed/image', form([['photo', img(png)]]), 400, 'bad_multipart'],
  ['multipart image part that is text', '/v1/embed/image', form([['image', 'hello']]), 400, 'bad_multipart'],
  [
    'broken multipart body',
    '/v1/embed/image',
    raw('multipart/form-data; boundary=xyz', 'garbage without boundary'),
    400,
    'bad_multipart',
  ],
  ['grid 0x3', '/v1/embed/image?grid=0x3', async () => raw('image/png', png), 400, 'bad_grid'],
  ['grid 9x9', '/v1/embed/image?grid=9x9', async () => raw('image/png', png), 400, 'bad_grid'],
  [
    'grid with two images',
    '/v1/embed/image?grid=2x2',
    async () =>
      form([
        ['image', img(png)],
        ['image', img(png)],
      ]),
    400,
    'bad_grid',
  ],
  [
    'unknown model',
    '/v1/embed/image?model=koclip-nope',
    async () => raw('image/png', png),
    404,
    'unknown_model',
  ],
  [
    'image larger than the byte limit',
    '/v1/embed/image',
    raw('application/octet-stream', new Uint8Array(300_000)),
    413,
    'image_too_large',
  ],
  [
    'body larger than the body limit',
    '/v1/embed/image',
    raw('application/octet-stream', new Uint8Array(1_200_000)),
    413,
    'body_too_large',
  ],
  ['text as text/plain', '/v1/embed/text', raw('text/plain', 'hello'), 415, 'unsupported_media_type'],
  ['text: invalid JSON', '/v1/embed/text', json('{texts'), 400, 'bad_json'],
  ['text: empty list', '/v1/embed/text', json({ texts: [] }), 400, 'bad_request'],
  ['text: not a list', '/v1/embed/text', json({ texts: 'a' }), 400, 'bad_request'],
  ['text: null item', '/v1/embed/text', json({ texts: [null] }), 400, 'bad_request'],
  ['text: too many texts', '/v1/embed/text', json({ texts: ['a', 'b', 'c', 'd', 'e'] }), 400, 'bad_request'],
  ['text: too long', '/v1/embed/text', json({ texts: ['가'.repeat(101)] }), 400, 'bad_request'],
  ['unknown route', '/v1/embed/audio', json({}), 404, 'not_found'],
  ['GET on a POST route', '/v1/embed/image', { method: 'GET' }, 404, 'not_found'],
];

describe('malformed requests are answered 4xx with the error envelope', () => {
  it('has at least 20 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(20));
  it.each(CASES)('%s', async (_name, path, init, status, code) => {
    const res = await encoder.call(path, typeof init === 'function' ? await init() : init);
    const body = ErrorAnswerSchema.parse(await res.json());
    expect({ status: res.status, code: body.error.code }).toEqual({ status, code });
    expect(body.error.message).toEqual(expect.any(String));
    if (code in ITEM_ERROR_STATUS) expect(ITEM_ERROR_STATUS[code]).toBe(status);
  });
});

/** A body sent chunked (no Content-Length), in 64 KiB pieces. */
function chunked(type: string, bytes: Uint8Array): RequestInit {
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + 65_536));
      offset += 65_536;
    },
  });
  return { method: 'POST', headers: { 'content-type': type }, body, duplex: 'half' } as RequestInit;
}

describe('body limit', () => {
  it('counts a chunked body as it streams in: over the limit is 413', async () => {
    const res = await encoder.call(
      '/v1/embed/image',
      chunked('application/octet-stream', new Uint8Array(1_200_000)),
    );
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'body_too_large' } });
  });

  it('a chunked image under the limit is embedded', async () => {
    const res = await encoder.call('/v1/embed/image', chunked('image/png', png));
    expect(res.status).toBe(200);
    const body: EmbedAnswer = ImageAnswerSchema.parse(await res.json());
    expect(body.data[0]?.embedding).toHaveLength(body.dim);
  });
});

describe('per-item errors inside a multipart batch', () => {
  it('fails only the bad items, in order', async () => {
    const tiff = await sharp(png).tiff().toBuffer();
    const res = await encoder.call(
      '/v1/embed/image',
      form([
        ['image', img(png)],
        ['image', img(Buffer.from('junk'))],
        ['image', img(jpeg.subarray(0, jpeg.length >> 1))],
        ['image', img(tiff)],
        ['image', img(jpeg)],
        ['image', img(new Uint8Array(250_000))],
        ['image', img(pngClaiming(png, 5000, 5000))],
      ]),
    );
    expect(res.status).toBe(200);
    const body: EmbedAnswer = ImageAnswerSchema.parse(await res.json());
    expect(body.data.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(body.data.map((d) => d.error?.code ?? 'ok')).toEqual([
      'ok',
      'not_an_image',
      'truncated_image',
      'unsupported_format',
      'ok',
      'image_too_large',
      'too_many_pixels',
    ]);
    expect(body.data[0]?.embedding).toHaveLength(body.dim);
    expect(body.data[4]?.embedding).toHaveLength(body.dim);
  });
});

describe('pixel limit (decompression bombs)', () => {
  it('refuses an image with more pixels than the limit with 413', async () => {
    const big = await sharp({ create: { width: 1100, height: 1000, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    expect(big.length).toBeLessThan(200_000);
    const res = await encoder.call('/v1/embed/image', raw('image/png', big));
    expect(res.status).toBe(413);
    expect(ErrorAnswerSchema.parse(await res.json())).toMatchObject({ error: { code: 'too_many_pixels' } });
  });

  it('checks the header before decoding: a 60000x60000 header over tiny data is 413, not a decode error', async () => {
    const res = await encoder.call('/v1/embed/image', raw('image/png', pngClaiming(png, 60_000, 60_000)));
    expect(res.status).toBe(413);
    expect(ErrorAnswerSchema.parse(await res.json())).toMatchObject({ error: { code: 'too_many_pixels' } });
  });

  it('accepts an image just under the limit', async () => {
    const ok = await sharp({ create: { width: 1000, height: 1000, channels: 3, background: '#123' } })
      .png()
      .toBuffer();
    expect((await encoder.call('/v1/embed/image', raw('image/png', ok))).status).toBe(200);
  });
});
