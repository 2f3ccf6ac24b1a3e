/**
 * Reading a POST /v1/embed/image request (its schemas: src/core/contract/encoder-api.ts): the
 * query (`?model=`, `?grid=RxC`) and the body into image sources: raw bytes (image/* or
 * application/octet-stream), multipart/form-data with `image` file parts, or JSON `{ urls }`.
 * A part that is too large becomes that item's error; a body that cannot be read at all is a
 * 4xx for the whole request.
 */
import type { Context } from 'hono';
import { type Grid, IMAGE_PART, ImageQuerySchema, UrlsRequestSchema } from '../../core/contract/encoder-api';
import { mediaType } from '../../core/contract/media-types';
import type { ImageToEmbed } from '../inference/embedder';
import { EncoderError } from './errors';

export interface ImageRequestLimits {
  imageBytes: number;
  images: number;
}

function tooLarge(bytes: number, limit: number): EncoderError {
  return new EncoderError(413, 'image_too_large', `the image is ${bytes} bytes; the limit is ${limit}`);
}

function checkCount(count: number, limits: ImageRequestLimits): void {
  if (count === 0) throw new EncoderError(400, 'no_images', 'the request holds no image');
  if (count > limits.images) {
    throw new EncoderError(
      400,
      'too_many_images',
      `at most ${limits.images} images per request, got ${count}`,
    );
  }
}

function bytesItem(bytes: Uint8Array, limits: ImageRequestLimits): ImageToEmbed {
  if (bytes.length > limits.imageBytes)
    return { kind: 'error', error: tooLarge(bytes.length, limits.imageBytes) };
  return { kind: 'bytes', bytes };
}

async function readMultipart(c: Context, limits: ImageRequestLimits): Promise<ImageToEmbed[]> {
  let form: FormData;
  try {
    form = await c.req.formData();
  } catch {
    throw new EncoderError(400, 'bad_multipart', 'the multipart body could not be parsed');
  }
  const unknown = [...form.keys()].find((k) => k !== IMAGE_PART);
  if (unknown !== undefined)
    throw new EncoderError(400, 'bad_multipart', `unexpected form field "${unknown}"; use "${IMAGE_PART}"`);
  const parts = form.getAll(IMAGE_PART);
  checkCount(parts.length, limits);
  return Promise.all(
    parts.map(async (part): Promise<ImageToEmbed> => {
      if (typeof part === 'string')
        throw new EncoderError(400, 'bad_multipart', `every "${IMAGE_PART}" part must be a file`);
      if (part.size > limits.imageBytes)
        return { kind: 'error', error: tooLarge(part.size, limits.imageBytes) };
      return bytesItem(new Uint8Array(await part.arrayBuffer()), limits);
    }),
  );
}

async function readUrls(c: Context, limits: ImageRequestLimits): Promise<ImageToEmbed[]> {
  let json: unknown;
  try {
    json = JSON.parse(await c.req.text());
  } catch {
    throw new EncoderError(400, 'bad_json', 'the body is not valid JSON');
  }
  const parsed = UrlsRequestSchema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new EncoderError(400, 'bad_request', `expected { "urls": ["https://..."] } (${detail})`);
  }
  checkCount(parsed.data.urls.length, limits);
  return parsed.data.urls.map((url) => ({ kind: 'url', url }));
}

export async function readImageRequest(c: Context, limits: ImageRequestLimits): Promise<ImageToEmbed[]> {
  const type = mediaType(c.req.header('content-type'));
  if (type === 'multipart/form-data') return readMultipart(c, limits);
  if (type === 'application/json') return readUrls(c, limits);
  if (type.startsWith('image/') || type === 'application/octet-stream') {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0) throw new EncoderError(400, 'empty_body', 'the request body is empty');
    return [bytesItem(bytes, limits)];
  }
  throw new EncoderError(
    415,
    'unsupported_media_type',
    `content-type ${type || '(none)'} is not accepted; send image/*, application/octet-stream, multipart/form-data or application/json`,
  );
}

/** The query of an image request: the model asked for (the default when absent) and the grid. */
export function readImageQuery(c: Context): { model: string | undefined; grid: Grid | undefined } {
  const parsed = ImageQuerySchema.safeParse(c.req.query());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const code = issue?.path[0] === 'grid' ? 'bad_grid' : 'bad_request';
    throw new EncoderError(400, code, issue?.message ?? 'bad query');
  }
  return { model: parsed.data.model, grid: parsed.data.grid };
}
