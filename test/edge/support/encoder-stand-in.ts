/**
 * A stand-in for the encoder function at the fetch boundary, for workerd tests where the real
 * process cannot run. It follows the contract of src/core/contract/encoder-api.ts, parsing what
 * the Worker sends and typing what it answers with it: bearer auth, `?model=`, raw bytes /
 * multipart / JSON urls, per-image sha256, the 4xx of a single failing image, and `?grid=RxC`. Embeddings are looked up, not computed: demo images map to the demo set's
 * precomputed embeddings (made by the real exported image tower), so answers are the real ones.
 * Batches (several multipart `image` parts, or several `urls`) answer per item, with an item error
 * for an image it does not know. `mode` makes it misbehave the ways a real encoder can; `script`
 * does so for the next calls only (one mode per call, then `mode` again). The text side of a
 * `function`-placed model is `installTextEncoderStandIn`, below.
 */
import { vi } from 'vitest';
import {
  type EmbeddedImage,
  ENCODER_PATHS,
  type ErrorAnswer,
  type FailedImage,
  GridParamSchema,
  type HealthAnswer,
  IMAGE_PART,
  type ImageAnswer,
  type TextAnswer,
  TextQuerySchema,
  textRequestSchema,
  UrlsRequestSchema,
} from '../../../src/core/contract/encoder-api';
import { errorEnvelope } from '../../../src/core/contract/errors';
import { type ModelManifest, textTowerIdentity } from '../../../src/core/manifest';
import type { TextVariant } from '../../../src/edge/inference/loaded-model';

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
  /** Modes of the next calls, one each, before `mode` applies again (fault injection). */
  script: StandInMode[];
  calls: {
    url: string;
    contentType: string | null;
    authorization: string | null;
    /** X-Request-Id, X-Encoder-Lane and X-Encoder-Client the Worker sent. */
    requestId: string | null;
    lane: string | null;
    client: string | null;
  }[];
  /** Images per image-embedding call that got past auth, in call order. */
  items: number[];
  /** Answers for URLs the stand-in cannot "fetch" (default: 502 fetch_failed). */
  urlErrors: Map<string, { status: number; code: string; message: string }>;
  restore: () => void;
}

const json = (body: ImageAnswer | ErrorAnswer, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const error = (status: number, code: string, message: string) => json(errorEnvelope(code, message), status);

export async function sha256Hex(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Routes global fetch calls to `options.baseUrl` into the stand-in; everything else is refused. */
export function installEncoderStandIn(options: StandInOptions): StandIn {
  const state: StandIn = {
    mode: 'ok',
    script: [],
    calls: [],
    items: [],
    urlErrors: new Map(),
    restore: () => spy.mockRestore(),
  };
  const answer = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    state.calls.push({
      url: request.url,
      contentType: request.headers.get('content-type'),
      authorization: request.headers.get('authorization'),
      requestId: request.headers.get('x-request-id'),
      lane: request.headers.get('x-encoder-lane'),
      client: request.headers.get('x-encoder-client'),
    });
    const mode = state.script.shift() ?? state.mode;
    if (mode === 'hang') return new Promise<Response>(() => {});
    if (request.headers.get('authorization') !== `Bearer ${options.token}` || mode === 'unauthorized') {
      return error(401, 'unauthorized', 'bad token');
    }
    if (mode === 'status500') return error(500, 'internal', 'boom');
    if (mode === 'status503') return new Response('<html>Service Unavailable</html>', { status: 503 });
    // The two answers that break the contract on purpose.
    if (mode === 'not-json') return new Response('{"model": "koclip-tiny", "data": [', { status: 200 });
    if (mode === 'bad-shape') return Response.json({ model: options.model.id, data: 'nope' });
    if (url.pathname !== ENCODER_PATHS.image || request.method !== 'POST')
      return error(404, 'not_found', 'no route');
    const model = url.searchParams.get('model') ?? options.model.id;
    if (model !== options.model.id) return error(404, 'unknown_model', `no model ${model}`);
    const contentType = request.headers.get('content-type') ?? '';
    let vectors: Float32Array[];
    let sha: string;
    if (contentType.startsWith('multipart/form-data')) {
      const parts = (await request.formData())
        .getAll(IMAGE_PART)
        .filter((p): p is File => typeof p !== 'string');
      state.items.push(parts.length);
      if (parts.length === 0) return error(400, 'no_images', 'no image parts');
      const data = await Promise.all(
        parts.map(async (part, index): Promise<EmbeddedImage | FailedImage> => {
          const partSha = await sha256Hex(await part.arrayBuffer());
          const known = options.images.get(partSha);
          if (!known)
            return { index, error: { code: 'not_an_image', message: 'not an image the stand-in knows' } };
          return { index, embedding: Array.from(known), sha256: partSha, width: 224, height: 224 };
        }),
      );
      const first = data[0];
      if (parts.length === 1 && first && 'error' in first)
        return error(422, first.error.code, first.error.message);
      return batchAnswer(mode, data);
    }
    if (contentType.startsWith('application/json')) {
      const body = UrlsRequestSchema.safeParse(await request.json());
      if (!body.success) return error(400, 'bad_request', 'expected { "urls": ["https://..."] }');
      const targets = body.data.urls;
      state.items.push(targets.length);
      type UrlItem =
        | EmbeddedImage
        | { index: number; error: { status: number; code: string; message: string } };
      const urlItem = async (target: string, index: number): Promise<UrlItem> => {
        const failure = state.urlErrors.get(target);
        const known = options.urls.get(target);
        if (failure || !known) {
          return {
            index,
            error: failure ?? { status: 502, code: 'fetch_failed', message: `could not fetch ${target}` },
          };
        }
        // The "bytes" at a URL are those of its embedding: the same image at two URLs has one hash.
        return {
          index,
          embedding: Array.from(known),
          sha256: await sha256Hex(new Uint8Array(known.buffer, known.byteOffset, known.byteLength)),
          width: 224,
          height: 224,
        };
      };
      if (targets.length > 1) {
        const data = await Promise.all(targets.map(urlItem));
        return batchAnswer(
          mode,
          data.map((d) =>
            'error' in d ? { index: d.index, error: { code: d.error.code, message: d.error.message } } : d,
          ),
        );
      }
      const target = targets[0] ?? '';
      const single = await urlItem(target, 0);
      if ('error' in single) return error(single.error.status, single.error.code, single.error.message);
      const cells = url.searchParams.get('grid') ? options.grids?.get(target) : undefined;
      vectors = cells ?? [options.urls.get(target) as Float32Array];
      sha = single.sha256;
    } else {
      const bytes = new Uint8Array(await request.arrayBuffer());
      state.items.push(1);
      sha = await sha256Hex(bytes);
      const gridParam = url.searchParams.get('grid');
      if (gridParam !== null) {
        const grid = GridParamSchema.safeParse(gridParam);
        if (!grid.success) return error(400, 'bad_grid', 'grid must be RxC');
        const cells = options.grids?.get(sha);
        if (!cells || cells.length !== grid.data.rows * grid.data.cols)
          return error(422, 'unsupported_format', 'unknown grid image');
        vectors = cells;
      } else {
        const known = options.images.get(sha);
        if (!known) return error(422, 'unsupported_format', 'not an image the stand-in knows');
        vectors = [known];
      }
    }
    const version = mode === 'wrong-version' ? `${options.model.version}-other` : options.model.version;
    const dim = mode === 'wrong-dim' ? options.model.dim + 1 : options.model.dim;
    if (mode === 'wrong-count') vectors = [...vectors, ...vectors];
    const space = { model: options.model.id, version, dim };
    if (mode === 'item-error') {
      const data = [{ index: 0, error: { code: 'truncated_image', message: 'cut short' } }];
      return json({ ...space, data } satisfies ImageAnswer);
    }
    const data = vectors.map(
      (v, index): EmbeddedImage => ({
        index,
        embedding: Array.from(v),
        sha256: sha,
        width: 224,
        height: 224,
      }),
    );
    const body = JSON.stringify({ ...space, data } satisfies ImageAnswer);
    if (mode === 'slow-body') {
      // Headers arrive at once; the body never finishes.
      const stream = new ReadableStream({
        start: (c) => c.enqueue(new TextEncoder().encode(body.slice(0, 10))),
      });
      return new Response(stream, { status: 200, headers: { 'content-type': 'application/json' } });
    }
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
  };
  /** A 200 batch answer (per-item results), bent by the modes that bend answers. */
  const batchAnswer = (mode: StandInMode, data: ImageAnswer['data']): Response => {
    const version = mode === 'wrong-version' ? `${options.model.version}-other` : options.model.version;
    const dim = mode === 'wrong-dim' ? options.model.dim + 1 : options.model.dim;
    return json({
      model: options.model.id,
      version,
      dim,
      data: mode === 'wrong-count' ? [...data, ...data] : data,
    });
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

export type TextStandInMode = 'ok' | 'down' | 'wrong-version' | 'ignores-variant';

export interface TextStandInOptions {
  baseUrl: string;
  /** The function-placed model it serves: its id, version, dim and text towers name the answers. */
  manifest: ModelManifest;
  /** Embeddings of `texts` by the tower of `variant` (the tests run an edge tower on the same weights). */
  embed: (texts: string[], variant: TextVariant) => Promise<Float32Array[]>;
}

export interface TextStandIn {
  /** The text tower it runs (ENCODER_TEXT_VARIANT): set it to switch, as a restarted encoder would. */
  variant: TextVariant;
  /**
   * `down`: connections refused; `wrong-version`: answers name another version;
   * `ignores-variant`: answers with `variant` whatever `?text_variant=` asks (an older encoder).
   */
  mode: TextStandInMode;
  /** Texts per POST /v1/embed/text call, in call order. */
  texts: string[][];
  /** The `?text_variant=` of each POST /v1/embed/text call (null: none sent), in call order. */
  asked: (string | null)[];
  /** GET /healthz calls. */
  health: number;
  restore: () => void;
}

/**
 * The text side of the encoder for one model, at the fetch boundary: POST /v1/embed/text (bearer
 * auth, `?model=`, `?text_variant=` (the tower it runs for that call; `variant` without it), the
 * contract's body) and GET /healthz, both naming the tower that answers (`text_variant`,
 * `text_tower`: core/manifest.ts textTowerIdentity, as the encoder computes it). Fetches to other
 * origins go out unchanged.
 */
export function installTextEncoderStandIn(options: TextStandInOptions): TextStandIn {
  const { manifest } = options;
  const state: TextStandIn = {
    variant: manifest.text.default_variant,
    mode: 'ok',
    texts: [],
    asked: [],
    health: 0,
    restore: () => spy.mockRestore(),
  };
  const real = globalThis.fetch;
  const towerOf = (version: string, variant: TextVariant = state.variant) => ({
    text_variant: variant,
    text_tower: textTowerIdentity({ ...manifest, version }, variant),
  });
  const answer = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (state.mode === 'down') throw new TypeError('connection refused');
    const version = state.mode === 'wrong-version' ? 'other' : manifest.version;
    if (url.pathname === ENCODER_PATHS.health && request.method === 'GET') {
      state.health++;
      const model = {
        id: manifest.id,
        version,
        dim: manifest.projection_dim,
        image_variant: 'fp32' as const,
        default: true,
        ...towerOf(version),
      };
      return Response.json({
        status: 'ok',
        models: [model],
        provider: 'cpu',
        provider_requested: 'cpu',
        onnxruntime: 'stand-in',
        batch: { max_size: 32, max_wait_ms: 5 },
        runners: { count: 1, intra_op_threads: 0, decode_threads: 0 },
        uptime_s: 1,
      } satisfies HealthAnswer);
    }
    if (url.pathname !== ENCODER_PATHS.text || request.method !== 'POST')
      return error(404, 'not_found', 'no route');
    if (request.headers.get('authorization') === null) return error(401, 'unauthorized', 'no token');
    const model = url.searchParams.get('model') ?? manifest.id;
    if (model !== manifest.id) return error(404, 'unknown_model', `no model ${model}`);
    const query = TextQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return error(400, 'bad_request', 'text_variant must be fp32 or int8');
    const asked = query.data.text_variant;
    if (asked && !manifest.text.files[asked]) return error(400, 'unknown_variant', `no ${asked} tower`);
    const variant = asked && state.mode !== 'ignores-variant' ? asked : state.variant;
    const { texts } = textRequestSchema().parse(await request.json());
    state.texts.push(texts);
    state.asked.push(asked ?? null);
    const embeddings = await options.embed(texts, variant);
    return Response.json({
      model: manifest.id,
      version,
      dim: manifest.projection_dim,
      ...towerOf(version, variant),
      data: embeddings.map((e, index) => ({ index, embedding: Array.from(e) })),
    } satisfies TextAnswer);
  };
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    if (!request.url.startsWith(options.baseUrl)) return real(input as RequestInfo, init);
    return answer(request);
  });
  return state;
}
