/**
 * Client of the encoder function (the image tower lives there): bearer auth, a timeout, requests
 * built with the types and answers parsed with the schemas of the contract both sides share
 * (src/core/contract/encoder-api.ts; in prose docs/encoder-contract.md), and answers checked
 * against the model the Worker serves. Failures become ApiErrors: the encoder's own 4xx about the
 * image pass through, an image URL it could not fetch is 422 `image_fetch_failed`, a timeout is 504,
 * anything else wrong with the encoder is 502. Batches with
 * an outcome per image (the queue consumer's calls) are ./encoder-batch.ts, over the same transport.
 */
import { z } from 'zod';
import {
  BEARER_TOKEN_PATTERN,
  ENCODER_PATHS,
  ErrorAnswerSchema,
  type Grid,
  GridAnswerSchema,
  gridParam,
  ImageAnswerSchema,
  type ImageQuery,
  type TextQuery,
  URL_FETCH_FAILURE_CODES,
  type UrlsRequest,
} from '../../core/contract/encoder-api';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import type { Env } from '../env';
import { ApiError } from '../http/errors';
import { encoderCallHeaders, recordEncoderCall } from '../http/request-context';

export const DEFAULT_ENCODER_TIMEOUT_MS = 10_000;

export interface EncoderClientConfig {
  url: string;
  token: string;
  timeoutMs: number;
  /** The fetch to use (the global one unless a test or a service binding says otherwise). */
  fetch?: typeof fetch;
}

const EnvSchema = z.object({
  ENCODER_URL: z.url({ protocol: /^https?$/ }),
  ENCODER_TOKEN: z.string().regex(BEARER_TOKEN_PATTERN),
  ENCODER_TIMEOUT_MS: z.coerce.number().int().positive().max(120_000).optional(),
});

/** Reads the encoder settings from the Worker's vars and secrets (503 when they are missing). */
export function encoderConfigFromEnv(
  env: Partial<Pick<Env, 'ENCODER_URL' | 'ENCODER_TOKEN' | 'ENCODER_TIMEOUT_MS'>>,
): EncoderClientConfig {
  const empty = (v: string | undefined) => (v === '' ? undefined : v);
  const parsed = EnvSchema.safeParse({
    ENCODER_URL: empty(env.ENCODER_URL),
    ENCODER_TOKEN: empty(env.ENCODER_TOKEN),
    ENCODER_TIMEOUT_MS: empty(env.ENCODER_TIMEOUT_MS),
  });
  if (!parsed.success) {
    throw new ApiError(
      503,
      'encoder_not_configured',
      'image features need ENCODER_URL and ENCODER_TOKEN to be set',
    );
  }
  return {
    url: parsed.data.ENCODER_URL.replace(/\/+$/, ''),
    token: parsed.data.ENCODER_TOKEN,
    timeoutMs: parsed.data.ENCODER_TIMEOUT_MS ?? DEFAULT_ENCODER_TIMEOUT_MS,
  };
}

/** An image as the Worker sends it to the encoder: checked upload bytes, or a URL the encoder fetches. */
export type EncoderImage =
  | { kind: 'bytes'; bytes: Uint8Array; contentType: string }
  | { kind: 'url'; url: string };

/** An embedded image (or grid cell), with the sha256 and size of the image's bytes. */
export interface ImageEmbedding {
  embedding: Float32Array;
  sha256: string;
  width: number;
  height: number;
}

/** Statuses of the encoder that describe the client's image (passed through as they are). */
export const IMAGE_STATUSES = new Set([400, 403, 413, 415, 422]);

/**
 * Embeds one image. With `grid`, the encoder is asked (`?grid=RxC`) to embed every cell of a
 * rows x cols grid laid over the preprocessed image instead; the answer is then one embedding
 * per cell in row-major order.
 */
export async function embedImage(
  config: EncoderClientConfig,
  model: EmbeddingSpace,
  source: EncoderImage,
  options: { grid?: Grid } = {},
): Promise<ImageEmbedding[]> {
  const { grid } = options;
  const query: ImageQuery = { model: model.model, ...(grid ? { grid: gridParam(grid) } : {}) };
  const init: RequestInit =
    source.kind === 'url'
      ? urlsBody({ urls: [source.url] })
      : { body: source.bytes, headers: { 'content-type': source.contentType || 'application/octet-stream' } };
  let body: unknown;
  try {
    body = await call(config, encoderPath(ENCODER_PATHS.image, query), init);
  } catch (error) {
    // A caller's image URL the encoder could not fetch: a 4xx with the reason, so that a caller's
    // dead link never reads as our outage.
    if (error instanceof ApiError && URL_FETCH_FAILURE_CODES.includes(error.code)) {
      throw imageFetchFailed({
        code: error.code,
        message: error.message.replace(`encoder: ${error.code}: `, ''),
      });
    }
    throw error;
  }
  if (grid) return checkedAnswer(GridAnswerSchema, body, model, grid.rows * grid.cols).map(imageEmbedding);
  return checkedAnswer(ImageAnswerSchema, body, model, 1).map((item) => {
    if ('error' in item) {
      if (URL_FETCH_FAILURE_CODES.includes(item.error.code)) throw imageFetchFailed(item.error);
      throw new ApiError(422, item.error.code, item.error.message);
    }
    return imageEmbedding(item);
  });
}

/** A path of the encoder with its query (parameters left undefined are not sent). */
export function encoderPath(path: string, query: ImageQuery | TextQuery): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value);
  return `${path}?${params}`;
}

/** The JSON body of an image request by URLs. */
export function urlsBody(body: UrlsRequest): RequestInit {
  return { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
}

/** An embedded item of an answer as the Worker holds it. */
export function imageEmbedding(item: {
  embedding: number[];
  sha256: string;
  width: number;
  height: number;
}): ImageEmbedding {
  const { sha256, width, height } = item;
  return { embedding: Float32Array.from(item.embedding), sha256, width, height };
}

/** POSTs to the encoder; answers its parsed JSON, or throws the ApiError its failure maps to. */
export async function call(config: EncoderClientConfig, path: string, init: RequestInit): Promise<unknown> {
  const doFetch = config.fetch ?? fetch;
  let response: Response;
  const started = performance.now();
  try {
    response = await doFetch(`${config.url}${path}`, {
      ...init,
      method: 'POST',
      headers: {
        ...(init.headers as Record<string, string>),
        // The request id, lane and client of the request or batch (../http/request-context.ts).
        ...encoderCallHeaders(),
        authorization: `Bearer ${config.token}`,
      },
      signal: AbortSignal.timeout(config.timeoutMs),
    });
  } catch (error) {
    recordEncoderCall(performance.now() - started);
    const name = (error as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new ApiError(504, 'encoder_timeout', `the encoder did not answer within ${config.timeoutMs} ms`);
    }
    throw new ApiError(502, 'encoder_unreachable', 'the encoder could not be reached');
  }
  let text: string;
  try {
    text = await response.text();
    recordEncoderCall(performance.now() - started);
  } catch {
    recordEncoderCall(performance.now() - started);
    throw new ApiError(
      504,
      'encoder_timeout',
      `the encoder did not finish its answer within ${config.timeoutMs} ms`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.status === 429) throw rateLimited(json, response.headers.get('retry-after'));
  if (!response.ok) throw fromErrorStatus(response.status, json);
  if (json === undefined)
    throw new ApiError(502, 'encoder_bad_response', 'the encoder answered with something that is not JSON');
  return json;
}

/**
 * The encoder's 429: this client has its most query images in the encoder at once (its per-client
 * cap, src/encoder/inference/lanes.ts); passed on with the encoder's Retry-After.
 */
function rateLimited(json: unknown, retryAfter: string | null): ApiError {
  const parsed = ErrorAnswerSchema.safeParse(json);
  const seconds = retryAfter && /^\d{1,4}$/.test(retryAfter) ? retryAfter : '1';
  return new ApiError(
    429,
    'rate_limited',
    parsed.success ? parsed.data.error.message : 'too many query images at once; retry later',
    { headers: { 'Retry-After': seconds } },
  );
}

/** 422 `image_fetch_failed`: the caller's image URL could not be fetched, with the encoder's reason. */
export function imageFetchFailed(error: { code: string; message: string }): ApiError {
  return new ApiError(
    422,
    'image_fetch_failed',
    `the image URL could not be fetched (${error.code}): ${error.message}`,
  );
}

function fromErrorStatus(status: number, json: unknown): ApiError {
  const parsed = ErrorAnswerSchema.safeParse(json);
  const detail = parsed.success
    ? `${parsed.data.error.code}: ${parsed.data.error.message}`
    : `status ${status}`;
  if (IMAGE_STATUSES.has(status) && parsed.success) {
    return new ApiError(status, parsed.data.error.code, parsed.data.error.message);
  }
  // The encoder reports its own failures to fetch an image URL as 502/504 with a code (a query's
  // embedImage turns those into 422 image_fetch_failed; indexing records keep the code).
  if ((status === 502 || status === 504) && parsed.success) {
    return new ApiError(status, parsed.data.error.code, `encoder: ${detail}`);
  }
  if (status === 504) return new ApiError(504, 'encoder_timeout', `the encoder timed out (${detail})`);
  if (status === 401)
    return new ApiError(502, 'encoder_auth_failed', "the encoder refused the Worker's token");
  return new ApiError(502, 'encoder_error', `the encoder failed (${detail})`);
}

/** Refuses an answer made by another model, version or dim than the Worker serves. */
export function checkSameModel(answer: EmbeddingSpace, model: EmbeddingSpace): void {
  if (answer.model !== model.model || answer.version !== model.version || answer.dim !== model.dim) {
    throw new ApiError(
      502,
      'encoder_model_mismatch',
      `the encoder serves ${answer.model}@${answer.version} (dim ${answer.dim}), the Worker ${model.model}@${model.version} (dim ${model.dim})`,
    );
  }
}

/** The items of an answer in request order, refused unless there are `expected` with indices 0.. */
export function inOrder<T extends { index: number }>(data: readonly T[], expected: number): T[] {
  if (data.length !== expected) {
    throw new ApiError(
      502,
      'encoder_bad_response',
      `the encoder returned ${data.length} items, expected ${expected}`,
    );
  }
  const sorted = data.slice().sort((a, b) => a.index - b.index);
  if (sorted.some((item, i) => item.index !== i))
    throw new ApiError(502, 'encoder_bad_response', "the encoder's answer has bad indices");
  return sorted;
}

/** Refuses an embedding of another length than the model's dim. */
export function checkDim(embedding: readonly number[], model: EmbeddingSpace): void {
  if (embedding.length !== model.dim) {
    throw new ApiError(
      502,
      'encoder_bad_response',
      `an embedding has ${embedding.length} components, expected ${model.dim}`,
    );
  }
}

/**
 * The items of an answer parsed with the contract's `schema`, in order; refused unless the answer
 * follows the contract, comes from `model` and has `expected` items with embeddings of its dim.
 */
export function checkedAnswer<Item extends { index: number; embedding?: number[] }>(
  schema: z.ZodType<EmbeddingSpace & { data: Item[] }>,
  json: unknown,
  model: EmbeddingSpace,
  expected: number,
): Item[] {
  return checkedBody(schema, json, model, expected).items;
}

/** `checkedAnswer`, with the parsed answer too (for what it says beside its items). */
export function checkedBody<
  Answer extends EmbeddingSpace & { data: { index: number; embedding?: number[] }[] },
>(
  schema: z.ZodType<Answer>,
  json: unknown,
  model: EmbeddingSpace,
  expected: number,
): { answer: Answer; items: Answer['data'] } {
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new ApiError(502, 'encoder_bad_response', "the encoder's answer does not follow the contract");
  checkSameModel(parsed.data, model);
  const items = inOrder(parsed.data.data, expected);
  for (const item of items) if (item.embedding) checkDim(item.embedding, model);
  return { answer: parsed.data, items };
}
