/**
 * Turns the image a request names (an indexed id, a URL, or uploaded bytes) into a unit-length
 * embedding: indexed images from their stored vector, the others through the encoder function
 * (the Worker never decodes images). Uploads are checked for size and type first.
 */
import { LIMITS } from '../core/api-schemas';
import { normalise } from '../core/vector';
import { type EncoderConfig, type ExpectedModel, embedImage } from './encoder-client';
import { ApiError } from './errors';
import type { IndexStore } from './index-store/store';

export type ImageInput =
  | { kind: 'image_id'; id: string }
  | { kind: 'image_url'; url: string }
  | { kind: 'image'; bytes: Uint8Array; contentType: string };

export interface ImageQuery {
  vector: Float32Array;
  /** What identifies the image in cache keys and cursors. */
  identity: string;
  sha256?: string;
  id?: string;
}

const SIGNATURES: { type: string; test: (b: Uint8Array) => boolean }[] = [
  { type: 'image/png', test: (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 },
  { type: 'image/jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: 'image/gif', test: (b) => b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38 },
  {
    type: 'image/webp',
    test: (b) =>
      b[0] === 0x52 &&
      b[1] === 0x49 &&
      b[2] === 0x46 &&
      b[3] === 0x46 &&
      b[8] === 0x57 &&
      b[9] === 0x45 &&
      b[10] === 0x42 &&
      b[11] === 0x50,
  },
];

/** Checks an upload's size and magic bytes; answers the image type it found. */
export function checkUpload(bytes: Uint8Array, declaredType: string): string {
  if (bytes.length === 0) throw new ApiError(400, 'empty_image', 'the uploaded image is empty');
  if (bytes.length > LIMITS.imageBytes) {
    throw new ApiError(
      413,
      'image_too_large',
      `images may be at most ${LIMITS.imageBytes} bytes, got ${bytes.length}`,
    );
  }
  const declared = declaredType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (declared && !declared.startsWith('image/') && declared !== 'application/octet-stream') {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `an image upload must be image/* or application/octet-stream, not ${declared}`,
    );
  }
  const found = SIGNATURES.find((s) => s.test(bytes));
  if (!found)
    throw new ApiError(422, 'unsupported_format', 'the upload is not a PNG, JPEG, GIF or WebP image');
  return found.type;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The identity of an image without embedding it (used to look caches up before any work):
 * `id:<id>@g<generation>`, `url:<url>` or `sha256:<hex of the bytes>`.
 */
export async function imageIdentity(input: ImageInput, store: IndexStore): Promise<string> {
  if (input.kind === 'image_url') return `url:${input.url}`;
  if (input.kind === 'image') return `sha256:${await sha256Hex(input.bytes)}`;
  const catalogue = await store.catalogue();
  return `id:${input.id}@g${catalogue?.generation ?? 0}`;
}

/** Embeds the image (stored vector for ids, the encoder otherwise), unit length. */
export async function embedImageInput(
  input: ImageInput,
  deps: { store: IndexStore; model: ExpectedModel; encoder: () => EncoderConfig },
): Promise<ImageQuery> {
  if (input.kind === 'image_id') {
    const found = await deps.store.vector(input.id);
    if (!found) {
      throw new ApiError(
        404,
        'image_not_found',
        `no image '${input.id}' in the ${deps.model.id}@${deps.model.version} index`,
      );
    }
    return {
      vector: normalise(found.vector),
      identity: await imageIdentity(input, deps.store),
      id: input.id,
    };
  }
  if (input.kind === 'image') {
    const type = checkUpload(input.bytes, input.contentType);
    const sha256 = await sha256Hex(input.bytes);
    const [item] = await embedImage(deps.encoder(), deps.model, {
      kind: 'bytes',
      bytes: input.bytes,
      contentType: type,
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
 * The image a request names through `image_id`, `image_url` or an uploaded `image` file; at most
 * one may be given (400 `invalid_request` otherwise). Undefined when none is.
 */
export async function imageInputFrom(
  fields: { image_id?: string | undefined; image_url?: string | undefined },
  file: File | undefined,
): Promise<ImageInput | undefined> {
  const given = [fields.image_id, fields.image_url, file].filter((v) => v !== undefined).length;
  if (given > 1)
    throw new ApiError(400, 'invalid_request', 'give only one of image_id, image_url or an image upload');
  if (fields.image_id !== undefined) return { kind: 'image_id', id: fields.image_id };
  if (fields.image_url !== undefined) return { kind: 'image_url', url: fields.image_url };
  if (file) return { kind: 'image', bytes: new Uint8Array(await file.arrayBuffer()), contentType: file.type };
  return undefined;
}
