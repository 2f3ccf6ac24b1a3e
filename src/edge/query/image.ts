/**
 * The image a request names (an indexed id, a URL, or uploaded bytes) and its embedding: indexed
 * images from their stored vector, the others through the encoder function (the Worker never
 * decodes images). Uploads and base64 images in JSON bodies are checked for size and format once,
 * when the request is read.
 */
import { LIMITS } from '../../core/contract/limits';
import { IMAGE_MEDIA_TYPES, mediaType, sniffImageFormat } from '../../core/contract/media-types';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { sha256Hex } from '../../core/hash';
import { normalise } from '../../core/vector';
import { ApiError } from '../http/errors';
import type { IndexReader } from '../index';
import { type EncoderClientConfig, embedImage } from '../inference/encoder-client';

/** An image a request names; an upload's `contentType` is the format its bytes were found to be. */
export type QueryImage =
  | { kind: 'image_id'; id: string }
  | { kind: 'image_url'; url: string }
  | { kind: 'image'; bytes: Uint8Array; contentType: string };

export interface EmbeddedImage {
  vector: Float32Array;
  /** What identifies the image in cache keys and cursors. */
  identity: string;
  sha256?: string;
  id?: string;
}

/** Checks an upload's size and magic bytes; answers the media type of the format it found. */
export function checkUpload(bytes: Uint8Array, declaredType: string): string {
  if (bytes.length === 0) throw new ApiError(400, 'empty_image', 'the uploaded image is empty');
  if (bytes.length > LIMITS.imageBytes) {
    throw new ApiError(
      413,
      'image_too_large',
      `images may be at most ${LIMITS.imageBytes} bytes, got ${bytes.length}`,
    );
  }
  const declared = mediaType(declaredType);
  if (declared && !declared.startsWith('image/') && declared !== 'application/octet-stream') {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `an image upload must be image/* or application/octet-stream, not ${declared}`,
    );
  }
  const format = sniffImageFormat(bytes);
  if (!format)
    throw new ApiError(422, 'unsupported_format', 'the upload is not a PNG, JPEG, GIF or WebP image');
  return IMAGE_MEDIA_TYPES[format];
}

/**
 * The identity of an image without embedding it (used to look caches up before any work):
 * `id:<collection>/<id>@g<generation>`, `url:<url>` or `sha256:<hex of the bytes>`.
 */
export async function imageIdentity(input: QueryImage, store: IndexReader): Promise<string> {
  if (input.kind === 'image_url') return `url:${input.url}`;
  if (input.kind === 'image') return `sha256:${await sha256Hex(input.bytes)}`;
  return `id:${store.index.collection}/${input.id}@g${await store.generation()}`;
}

/** Embeds the image (stored vector for ids, the encoder otherwise), unit length. */
export async function embedQueryImage(
  input: QueryImage,
  deps: { store: IndexReader; model: EmbeddingSpace; encoder: () => EncoderClientConfig },
): Promise<EmbeddedImage> {
  if (input.kind === 'image_id') {
    const found = await deps.store.vector(input.id);
    if (!found) {
      throw new ApiError(
        404,
        'image_not_found',
        `no image '${input.id}' in the ${deps.store.index.collection} collection of the ${deps.model.model}@${deps.model.version} index`,
      );
    }
    return {
      vector: normalise(found.vector),
      identity: await imageIdentity(input, deps.store),
      id: input.id,
    };
  }
  if (input.kind === 'image') {
    const sha256 = await sha256Hex(input.bytes);
    const [item] = await embedImage(deps.encoder(), deps.model, {
      kind: 'bytes',
      bytes: input.bytes,
      contentType: input.contentType,
    });
    return {
      vector: normalise((item as { embedding: Float32Array }).embedding),
      identity: `sha256:${sha256}`,
      sha256,
    };
  }
  const [item] = await embedImage(deps.encoder(), deps.model, { kind: 'url', url: input.url });
  return {
    vector: normalise((item as { embedding: Float32Array }).embedding),
    identity: `url:${input.url}`,
    ...(item?.sha256 ? { sha256: item.sha256 } : {}),
  };
}

/**
 * The image a request names through `image_id`, `image_url` (http(s), or a `data:` URL carrying
 * the bytes), `image_base64` or an uploaded `image` file; at most one may be given (400
 * `invalid_request` otherwise). Bytes, however they came, are checked here (size, format).
 * Undefined when none is given.
 */
export async function queryImageFrom(
  fields: {
    image_id?: string | undefined;
    image_url?: string | undefined;
    image_base64?: string | undefined;
  },
  file: File | undefined,
): Promise<QueryImage | undefined> {
  const given = [fields.image_id, fields.image_url, fields.image_base64, file].filter(
    (v) => v !== undefined,
  ).length;
  if (given > 1) {
    throw new ApiError(
      400,
      'invalid_request',
      'give only one of image_id, image_url, image_base64 or an image upload',
    );
  }
  if (fields.image_id !== undefined) return { kind: 'image_id', id: fields.image_id };
  if (fields.image_url?.startsWith('data:')) {
    const { bytes, declaredType } = decodeDataUrl(fields.image_url);
    return { kind: 'image', bytes, contentType: checkUpload(bytes, declaredType) };
  }
  if (fields.image_url !== undefined) return { kind: 'image_url', url: fields.image_url };
  if (fields.image_base64 !== undefined) {
    const bytes = decodeBase64(fields.image_base64, 'image_base64');
    return { kind: 'image', bytes, contentType: checkUpload(bytes, 'application/octet-stream') };
  }
  if (!file) return undefined;
  const bytes = new Uint8Array(await file.arrayBuffer());
  return { kind: 'image', bytes, contentType: checkUpload(bytes, file.type) };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `data:<media type>[;params];base64,<data>` -> its bytes and declared media type (400
 * `invalid_data_url` when it is not a base64 data URL).
 */
export function decodeDataUrl(url: string): { bytes: Uint8Array; declaredType: string } {
  const comma = url.indexOf(',');
  const header = comma < 0 ? '' : url.slice(5, comma);
  const params = header.split(';').map((p) => p.trim().toLowerCase());
  if (comma < 0 || params.at(-1) !== 'base64') {
    throw new ApiError(
      400,
      'invalid_data_url',
      'image_url: a data URL must look like data:image/png;base64,<base64 of the file>',
    );
  }
  return { bytes: decodeBase64(url.slice(comma + 1), 'image_url'), declaredType: params[0] ?? '' };
}

/**
 * Standard base64 (padding optional, whitespace ignored) -> bytes; 413 `image_too_large` before
 * decoding when the bytes would exceed the image limit, 400 `invalid_base64` when malformed.
 */
export function decodeBase64(text: string, field: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  const size = Math.floor((clean.length * 3) / 4) - padding;
  if (size > LIMITS.imageBytes) {
    throw new ApiError(
      413,
      'image_too_large',
      `images may be at most ${LIMITS.imageBytes} bytes, got ${size}`,
    );
  }
  if (!BASE64.test(clean) || clean.length % 4 === 1) {
    throw new ApiError(400, 'invalid_base64', `${field}: not valid base64`);
  }
  const binary = atob(clean);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
