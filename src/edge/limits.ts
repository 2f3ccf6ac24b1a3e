/**
 * Request limits of the Worker and the middleware that enforces body size. Limits specific to
 * the image routes live with their schemas (src/core/api-schemas.ts).
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors';

/** Any /v1 request body: an image upload (10 MiB) plus multipart overhead. */
export const MAX_BODY_BYTES = 11 * 1024 * 1024;

export const EMBEDDING_LIMITS = {
  /** Bytes of a POST /v1/embeddings body. */
  bodyBytes: 1024 * 1024,
  /** Texts in one request. */
  inputs: 256,
  /** Characters of one text; longer token sequences are truncated to the model's max length. */
  textChars: 8192,
} as const;

/** Rejects bodies over `maxBytes` with 413 `payload_too_large` (by Content-Length, or while reading). */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', `the request body is larger than ${maxBytes} bytes`);
    },
  });
}
