/**
 * Batches of images in one encoder call (docs/encoder-contract.md), for the queue consumer: bytes
 * as one multipart request with an `image` part each, URLs as one JSON `{ urls }` request, and an
 * outcome per image. Transport, auth and answer checks are those of ./encoder-client.ts.
 */
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { ApiError } from '../http/errors';
import {
  call,
  checkedItems,
  type EncoderClientConfig,
  type EncoderImage,
  IMAGE_STATUSES,
  type ImageEmbedding,
} from './encoder-client';

/** One image's outcome in a batch: its embedding, or the encoder's reason it could not embed it. */
export type BatchItem =
  | ({ ok: true } & ImageEmbedding)
  | { ok: false; status: number; code: string; message: string };

/** Statuses of per-item error codes inside a 200 batch answer (the code's status as a single image). */
const ITEM_STATUSES: Record<string, number> = {
  bad_url: 400,
  url_refused: 403,
  image_too_large: 413,
  too_many_pixels: 413,
  fetch_failed: 502,
  upstream_status: 502,
  too_many_redirects: 502,
  fetch_timeout: 504,
  internal_error: 500,
};

/**
 * Embeds several images in one call per kind: bytes as one multipart request (an `image` part
 * each), URLs as one JSON `{ urls }` request. Answers one item per image, in order; an image the
 * encoder could not embed is an item error (for a single image the encoder answers its error as the
 * whole response, with its status: it becomes that item's error too). Faults of the encoder itself
 * (5xx, timeout, unreachable, out-of-contract answers) reject with an ApiError, as embedImage's do.
 */
export async function embedImages(
  config: EncoderClientConfig,
  model: EmbeddingSpace,
  images: readonly EncoderImage[],
): Promise<BatchItem[]> {
  const out: BatchItem[] = new Array(images.length);
  const byKind = (kind: EncoderImage['kind']) =>
    images.flatMap((image, i) => (image.kind === kind ? [i] : []));
  await Promise.all(
    (['bytes', 'url'] as const).map(async (kind) => {
      const positions = byKind(kind);
      if (positions.length === 0) return;
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

async function embedBatch(
  config: EncoderClientConfig,
  model: EmbeddingSpace,
  images: EncoderImage[],
): Promise<BatchItem[]> {
  let init: RequestInit;
  if (images[0]?.kind === 'url') {
    const urls = images.map((image) => (image as Extract<EncoderImage, { kind: 'url' }>).url);
    init = { body: JSON.stringify({ urls }), headers: { 'content-type': 'application/json' } };
  } else {
    const form = new FormData();
    images.forEach((image, i) => {
      const { bytes, contentType } = image as Extract<EncoderImage, { kind: 'bytes' }>;
      form.append(
        'image',
        new Blob([bytes], { type: contentType || 'application/octet-stream' }),
        `image-${i}`,
      );
    });
    init = { body: form };
  }
  let body: unknown;
  try {
    body = await call(config, `/v1/embed/image?${new URLSearchParams({ model: model.model })}`, init);
  } catch (error) {
    const single = images.length === 1 && error instanceof ApiError && isItemFailure(error, images[0]?.kind);
    if (!single) throw error;
    // The encoder's own words (the client prefixes what it passes through from a 502/504).
    const message = error.message.replace(`encoder: ${error.code}: `, '');
    return [{ ok: false, status: error.status, code: error.code, message }];
  }
  return checkBatchAnswer(body, model, images.length);
}

/** Whether a single image's error answer is about the image (not an encoder fault). */
function isItemFailure(error: ApiError, kind: EncoderImage['kind'] | undefined): boolean {
  if (IMAGE_STATUSES.has(error.status)) return true;
  // A URL the encoder could not fetch: 502/504 with the encoder's own code. The client's codes for
  // faults of the encoder itself (timeout, unreachable, bad answer...) all start with `encoder_`.
  const fetchFailure = (error.status === 502 || error.status === 504) && !error.code.startsWith('encoder_');
  return kind === 'url' && fetchFailure;
}

function checkBatchAnswer(json: unknown, model: EmbeddingSpace, expected: number): BatchItem[] {
  return checkedItems(json, model, expected).map((item): BatchItem => {
    if ('error' in item) {
      const { code, message } = item.error;
      return { ok: false, status: ITEM_STATUSES[code] ?? 422, code, message };
    }
    return {
      ok: true,
      embedding: Float32Array.from(item.embedding),
      ...(item.sha256 === undefined ? {} : { sha256: item.sha256 }),
      ...(item.width === undefined ? {} : { width: item.width }),
      ...(item.height === undefined ? {} : { height: item.height }),
    };
  });
}
