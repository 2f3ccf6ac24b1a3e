/**
 * The request body limit of /v1: a body with a Content-Length is judged by the header (and stays
 * unread here, so @hono/node-server reads it straight from the socket); a chunked body is counted
 * as it streams in and, once over the limit, the rest of it is read and dropped (at most
 * DRAIN_BYTES more, for at most DRAIN_MS) before the 413 is answered and the connection closed.
 * Answering while the client is still sending made its next write hit a closed socket (EPIPE in
 * Node's fetch) instead of reading the 413. Hand-written because hono's bodyLimit stops reading
 * at the limit and keeps the stream to itself, so nothing can drain it.
 */
import type { MiddlewareHandler } from 'hono';

/** At most this much of an oversized chunked body is read and dropped before the answer. */
export const DRAIN_BYTES = 64 * 1024 * 1024;
/** ...and for at most this long. */
export const DRAIN_MS = 10_000;

/** Refuses bodies over `maxBytes` by calling `tooLarge` (which throws the 413). */
export function limitBody(maxBytes: number, tooLarge: () => never): MiddlewareHandler {
  return async function limitBody(c, next) {
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > maxBytes) tooLarge();
      return next();
    }
    const body = c.req.raw.body;
    if (!body) return next();
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await drain(reader);
        tooLarge();
      }
      chunks.push(value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    c.req.raw = new Request(c.req.raw, { body: bytes });
    return next();
  };
}

/** Reads and drops the rest of a body, within DRAIN_BYTES and DRAIN_MS; then lets it go. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  const deadline = Date.now() + DRAIN_MS;
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), DRAIN_MS);
  });
  try {
    while (dropped <= DRAIN_BYTES && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), late]);
      if (next === 'late' || next.done) break;
      dropped += next.value.length;
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => undefined);
  }
}
