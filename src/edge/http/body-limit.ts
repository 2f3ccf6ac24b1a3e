/** The middleware that enforces body size (the limits themselves: src/core/contract/limits.ts). */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors';

/** Rejects bodies over `maxBytes` with 413 `payload_too_large` (by Content-Length, or while reading). */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', `the request body is larger than ${maxBytes} bytes`);
    },
  });
}
