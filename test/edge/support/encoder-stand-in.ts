/**
 * A stand-in for the encoder function at the fetch boundary, for workerd tests where the real
 * process cannot run. It follows docs/encoder-contract.md: bearer auth, `?model=`, raw bytes /
 * multipart / JSON urls, per-image sha256, the 4xx of a single failing image, and the proposed
 * `?grid=RxC` extension. Embeddings are looked up, not computed: demo images map to the demo set's
 * precomputed embeddings (made by the real exported image tower), so answers are the real ones.
 * `mode` makes it misbehave the ways a real encoder can.
 */
import { vi } from 'vitest';

export type StandInMode =
  | 'ok'
  | 'hang'
  | 'status500'
  | 'status503'
  | 'not-json'
  | 'bad-shape'
  | 'wrong-version'
  | 'wrong-dim'
  | 'unauthorized'
  | 'slow-body'
  | 'wrong-count'
  | 'item-error';

export interface StandInOptions {
  baseUrl: string;
  token: string;
  model: { id: string; version: string; dim: number };
  /** Embedding per sha256 (hex) of image bytes. */
  images: Map<string, Float32Array>;
  /** Embedding per image URL the stand-in "fetches". */
  urls: Map<string, Float32Array>;
  /** Cell embeddings (row-major) per sha256 of an image or per URL, for `?grid=RxC`. */
  grids?: Map<string, Float32Array[]>;
}

export interface StandIn {
  mode: StandInMode;
  calls: { url: string; contentType: string | null; authorization: string | null }[];
  restore: () => void;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const error = (status: number, code: string, message: string) => json({ error: { code, message } }, status);

export async function sha256Hex(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Routes global fetch calls to `options.baseUrl` into the stand-in; everything else is refused. */
export function installEncoderStandIn(options: StandInOptions): StandIn {
  const state: StandIn = { mode: 'ok', calls: [], restore: () => spy.mockRestore() };
  const answer = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    state.calls.push({
      url: request.url,
      contentType: request.headers.get('content-type'),
      authorization: request.headers.get('authorization'),
    });
    if (state.mode === 'hang') return new Promise<Response>(() => {});
    if (request.headers.get('authorization') !== `Bearer ${options.token}` || state.mode === 'unauthorized') {
      return error(401, 'unauthorized', 'bad token');
    }
    if (state.mode === 'status500') return error(500, 'internal', 'boom');
    if (state.mode === 'status503') return new Response('<html>Service Unavailable</html>', { status: 503 });
    if (state.mode === 'not-json') return new Response('{"model": "koclip-tiny", "data": [', { status: 200 });
    if (state.mode === 'bad-shape') return json({ model: options.model.id, data: 'nope' });
    if (url.pathname !== '/v1/embed/image' || request.method !== 'POST')
      return error(404, 'not_found', 'no route');
    const model = url.searchParams.get('model') ?? options.model.id;
    if (model !== options.model.id) return error(404, 'unknown_model', `no model ${model}`);
    const contentType = request.headers.get('content-type') ?? '';
    let vectors: Float32Array[];
    let sha: string | undefined;
    if (contentType.startsWith('application/json')) {
      const body = (await request.json()) as { urls?: string[] };
      const target = body.urls?.[0] ?? '';
      const known = options.urls.get(target);
      if (!known) return error(502, 'fetch_failed', `could not fetch ${target}`);
      const cells = url.searchParams.get('grid') ? options.grids?.get(target) : undefined;
      vectors = cells ?? [known];
    } else {
      const bytes = new Uint8Array(await request.arrayBuffer());
      sha = await sha256Hex(bytes);
      const grid = url.searchParams.get('grid');
      if (grid) {
        const cells = options.grids?.get(sha);
        const [rows, cols] = grid.split('x').map(Number);
        if (!cells || cells.length !== (rows as number) * (cols as number))
          return error(422, 'unsupported_format', 'unknown grid image');
        vectors = cells;
      } else {
        const known = options.images.get(sha);
        if (!known) return error(422, 'unsupported_format', 'not an image the stand-in knows');
        vectors = [known];
      }
    }
    const version = state.mode === 'wrong-version' ? `${options.model.version}-other` : options.model.version;
    const dim = state.mode === 'wrong-dim' ? options.model.dim + 1 : options.model.dim;
    if (state.mode === 'wrong-count') vectors = [...vectors, ...vectors];
    if (state.mode === 'item-error') {
      return json({
        model: options.model.id,
        version,
        dim,
        data: [{ index: 0, error: { code: 'truncated_image', message: 'cut short' } }],
      });
    }
    const body = JSON.stringify({
      model: options.model.id,
      version,
      dim,
      data: vectors.map((v, index) => ({
        index,
        embedding: Array.from(v),
        ...(sha ? { sha256: sha } : {}),
        width: 224,
        height: 224,
      })),
    });
    if (state.mode === 'slow-body') {
      // Headers arrive at once; the body never finishes.
      const stream = new ReadableStream({
        start: (c) => c.enqueue(new TextEncoder().encode(body.slice(0, 10))),
      });
      return new Response(stream, { status: 200, headers: { 'content-type': 'application/json' } });
    }
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(options.baseUrl))
      throw new TypeError(`test refused a network fetch to ${request.url}`);
    const signal = init?.signal ?? request.signal;
    // Behave like fetch: an aborted signal rejects with its reason, even mid-answer.
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason));
      answer(request).then((response) => {
        if (!response.body || !signal) return resolve(response);
        const reader = response.body.getReader();
        const aborted = new Promise<never>((_, fail) =>
          signal.addEventListener('abort', () => fail(signal.reason)),
        );
        aborted.catch(() => {});
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const chunk = await Promise.race([reader.read(), aborted]);
              if (chunk.done) controller.close();
              else controller.enqueue(chunk.value);
            } catch (reason) {
              controller.error(reason);
            }
          },
        });
        resolve(new Response(body, response));
      }, reject);
    });
  });
  return state;
}
