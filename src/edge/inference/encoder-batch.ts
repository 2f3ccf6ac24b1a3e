/**
 * Batches of images in encoder calls (src/core/contract/encoder-api.ts), for the queue consumer:
 * bytes as multipart requests with an `image` part each, URLs as JSON `{ urls }` requests, each
 * call within the contract's limits (images per call, bytes per body), and an outcome per image.
 * Transport, auth and answer checks are those of ./encoder-client.ts.
 */
import {
  ENCODER_LIMITS,
  ENCODER_PATHS,
  IMAGE_PART,
  ImageAnswerSchema,
  itemErrorStatus,
} from '../../core/contract/encoder-api';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { ApiError } from '../http/errors';
import {
  call,
  checkedAnswer,
  type EncoderClientConfig,
  type EncoderImage,
  encoderPath,
  IMAGE_STATUSES,
  type ImageEmbedding,
  imageEmbedding,
  urlsBody,
} from './encoder-client';

/** One image's outcome in a batch: its embedding, or the encoder's reason it could not embed it. */
export type BatchItem =
  | ({ ok: true } & ImageEmbedding)
  | { ok: false; status: number; code: string; message: string };

/** Room for one multipart part's boundary and headers beside its bytes. */
const PART_OVERHEAD_BYTES = 1024;

/**
 * Embeds several images, one call per kind and per chunk the contract's limits allow: bytes as
 * multipart requests (an `image` part each), URLs as JSON `{ urls }` requests. Answers one item per
 * image, in order; an image the encoder could not embed is an item error (for a single image the
 * encoder answers its error as the whole response, with its status: it becomes that item's error
 * too). Faults of the encoder itself (5xx, timeout, unreachable, out-of-contract answers) reject
 * with an ApiError, as embedImage's do.
 */
export async function embedImages(
  config: EncoderClientConfig,
  model: EmbeddingSpace,
  images: readonly EncoderImage[],
): Promise<BatchItem[]> {
  const out: BatchItem[] = new Array(images.length);
  await Promise.all(
    callsFor(images).map(async (positions) => {
      const items = await embedBatch(
        config,
        model,
        positions.map((i) => images[i] as EncoderImage),
      );
      items.forEach((item, k) => {
        out[positions[k] as number] = item;
      });
    }),
  );
  return out;
}

/**
 * The positions of the images of each call: one kind per call, at most `limits.images` images and
 * (multipart) `limits.bodyBytes` of body, in input order. An image larger than a body goes alone
 * (the encoder then answers its 413).
 */
export function callsFor(
  images: readonly EncoderImage[],
  limits: { images: number; bodyBytes: number } = ENCODER_LIMITS,
): number[][] {
  const calls: number[][] = [];
  for (const kind of ['bytes', 'url'] as const) {
    let current: number[] = [];
    let bytes = 0;
    images.forEach((image, i) => {
      if (image.kind !== kind) return;
      const size = image.kind === 'bytes' ? image.bytes.byteLength + PART_OVERHEAD_BYTES : 0;
      if (current.length > 0 && (current.length === limits.images || bytes + size > limits.bodyBytes)) {
        calls.push(current);
        current = [];
        bytes = 0;
      }
      current.push(i);
      bytes += size;
    });
    if (current.length > 0) calls.push(current);
  }
  return calls;
}

async function embedBatch(
  config: EncoderClientConfig,
  model: EmbeddingSpace,
  images: EncoderImage[],
): Promise<BatchItem[]> {
  let init: RequestInit;
  if (images[0]?.kind === 'url') {
    init = urlsBody({ urls: images.map((image) => (image as Extract<EncoderImage, { kind: 'url' }>).url) });
  } else {
    const form = new FormData();
    images.forEach((image, i) => {
      const { bytes, contentType } = image as Extract<EncoderImage, { kind: 'bytes' }>;
      form.append(
        IMAGE_PART,
        new Blob([bytes], { type: contentType || 'application/octet-stream' }),
        `image-${i}`,
      );
    });
    init = { body: form };
  }
  let body: unknown;
  try {
    body = await call(config, encoderPath(ENCODER_PATHS.image, { model: model.model }), init);
  } catch (error) {
    const single = images.length === 1 && error instanceof ApiError && isItemFailure(error, images[0]?.kind);
    if (!single) throw error;
    // The encoder's own words (the client prefixes what it passes through from a 502/504).
    const message = error.message.replace(`encoder: ${error.code}: `, '');
    return [{ ok: false, status: error.status, code: error.code, message }];
  }
  return checkedAnswer(ImageAnswerSchema, body, model, images.length).map((item): BatchItem => {
    if (!('error' in item)) return { ok: true, ...imageEmbedding(item) };
    const { code, message } = item.error;
    return { ok: false, status: itemErrorStatus(code), code, message };
  });
}

/** Whether a single image's error answer is about the image (not an encoder fault). */
function isItemFailure(error: ApiError, kind: EncoderImage['kind'] | undefined): boolean {
  if (IMAGE_STATUSES.has(error.status)) return true;
  // A URL the encoder could not fetch: 502/504 with the encoder's own code. The client's codes for
  // faults of the encoder itself (timeout, unreachable, bad answer...) all start with `encoder_`.
  const fetchFailure = (error.status === 502 || error.status === 504) && !error.code.startsWith('encoder_');
  return kind === 'url' && fetchFailure;
}
