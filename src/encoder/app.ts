/**
 * The encoder's HTTP app: the contract is src/core/contract/encoder-api.ts (in prose:
 * docs/encoder-contract.md). Bearer auth on /v1, thin routes that parse the request with the
 * contract's schemas, call the Embedder and answer the contract's types, metrics on every request
 * and one error path with the `{ error: { code, message } }` envelope.
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { type RequestIdVariables, requestId } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  ENCODER_CLIENT_CHARS,
  ENCODER_HEADERS,
  ENCODER_PATHS,
  type EncoderLane,
  EncoderLaneSchema,
  type ErrorAnswer,
  type HealthAnswer,
  type ImageAnswer,
  type TextAnswer,
  TextQuerySchema,
  textRequestSchema,
} from '../core/contract/encoder-api';
import { errorEnvelope } from '../core/contract/errors';
import { mediaType } from '../core/contract/media-types';
import { REQUEST_ID_MAX_CHARS } from '../core/contract/request-id';
import type { EncoderServiceConfig } from './config';
import { requireToken } from './http/auth';
import { limitBody } from './http/body-limit';
import { asEncoderError, EncoderError } from './http/errors';
import { readImageQuery, readImageRequest } from './http/image-request';
import type { EncoderMetrics } from './http/metrics';
import type { Embedder } from './inference/embedder';
import type { QueryLane } from './inference/lanes';
import type { RuntimeInfo } from './inference/runtime';

/** What the log line of a request says besides its method, path, status and time. */
interface Variables extends RequestIdVariables {
  lane?: EncoderLane;
  images?: number;
}
type EncoderEnv = { Variables: Variables };

const ROUTES = new Set<string>(Object.values(ENCODER_PATHS));

function observe(metrics: EncoderMetrics): MiddlewareHandler {
  return async function recordMetrics(c, next) {
    const started = performance.now();
    await next();
    const route = ROUTES.has(c.req.path) ? c.req.path : 'other';
    metrics.requests.inc({ route, status: String(c.res.status) });
    metrics.latency.observe({ route }, (performance.now() - started) / 1000);
  };
}

/**
 * One JSON line per /v1 request on stdout: the Worker's request id (or the one made here), the
 * lane, the client of a query, the status and the time; the Worker logs the same id.
 */
function logRequests(): MiddlewareHandler<EncoderEnv> {
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    console.log(
      JSON.stringify({
        msg: 'encoder_request',
        request_id: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        lane: c.get('lane') ?? null,
        client: c.get('lane') === 'query' ? clientOf(c) : null,
        images: c.get('images') ?? null,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      }),
    );
  };
}

/** The lane of an image request (`index` when the header is absent; 400 when it is not a lane). */
function laneOf(c: Context): EncoderLane {
  const header = c.req.header(ENCODER_HEADERS.lane);
  if (header === undefined) return 'index';
  const parsed = EncoderLaneSchema.safeParse(header.trim().toLowerCase());
  if (!parsed.success)
    throw new EncoderError(400, 'bad_lane', `${ENCODER_HEADERS.lane} must be query or index`);
  return parsed.data;
}

/** Who a query counts against: the Worker's `X-Encoder-Client`, or one shared anonymous client. */
function clientOf(c: Context): string {
  return (c.req.header(ENCODER_HEADERS.client) ?? '').trim().slice(0, ENCODER_CLIENT_CHARS) || 'anonymous';
}

export interface AppDeps {
  config: EncoderServiceConfig;
  embedder: Embedder;
  metrics: EncoderMetrics;
  runtime: RuntimeInfo;
  startedAt: Date;
  /** The query lane (the same object the embedder holds): its per-client cap is counted here. */
  queryLane: QueryLane;
}

export function createApp({
  config,
  embedder,
  metrics,
  runtime,
  startedAt,
  queryLane,
}: AppDeps): Hono<EncoderEnv> {
  const app = new Hono<EncoderEnv>();
  const TextRequestSchema = textRequestSchema(config.limits);

  app.use('*', observe(metrics));
  // The Worker's id when well-formed (core/contract/request-id.ts), else a fresh one; answered back.
  app.use('*', requestId({ headerName: ENCODER_HEADERS.requestId, limitLength: REQUEST_ID_MAX_CHARS }));
  app.use('/v1/*', logRequests());
  app.use('/v1/*', requireToken(config.token));
  const tooLarge = (): never => {
    throw new EncoderError(413, 'body_too_large', `the body is larger than ${config.limits.bodyBytes} bytes`);
  };
  // The lane of an image request, and a query client over its cap refused before its body is read.
  app.use(ENCODER_PATHS.image, async (c, next) => {
    const lane = laneOf(c);
    c.set('lane', lane);
    const leave = lane === 'query' ? queryLane.enter(clientOf(c)) : () => {};
    try {
      await next();
    } finally {
      leave();
    }
  });
  app.use('/v1/*', limitBody(config.limits.bodyBytes, tooLarge));
  if (config.metricsAuth) app.use(ENCODER_PATHS.metrics, requireToken(config.token));

  app.get(ENCODER_PATHS.health, (c) =>
    c.json({
      status: 'ok',
      models: [...embedder.models.values()].map((m) => ({
        id: m.id,
        version: m.version,
        dim: m.dim,
        image_variant: m.imageVariant,
        text_variant: m.textVariant,
        text_tower: m.textTower,
        default: m.id === embedder.defaultModel,
      })),
      provider: runtime.active,
      provider_requested: runtime.requested,
      ...(runtime.fallbackReason ? { provider_fallback_reason: runtime.fallbackReason } : {}),
      onnxruntime: runtime.onnxruntime,
      batch: { max_size: config.batchSize, max_wait_ms: config.maxWaitMs },
      runners: {
        count: config.runners,
        intra_op_threads: config.threads,
        decode_threads: config.decodeThreads,
      },
      uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
    } satisfies HealthAnswer),
  );

  app.get(ENCODER_PATHS.metrics, async (c) =>
    c.body(await metrics.text(), 200, { 'content-type': metrics.contentType }),
  );

  app.post(ENCODER_PATHS.image, async (c) => {
    const lane = c.get('lane') ?? 'index';
    const { model: modelId, grid } = readImageQuery(c);
    const model = embedder.model(modelId);
    const sources = await readImageRequest(c, {
      imageBytes: config.limits.imageBytes,
      images: config.limits.images,
    });
    c.set('images', sources.length);
    if (grid && sources.length !== 1) throw new EncoderError(400, 'bad_grid', 'grid needs exactly one image');
    const items = await embedder.embedImages(model, sources, grid, lane);
    const first = items[0];
    if (sources.length === 1 && first && 'error' in first) {
      // One image: its error is the answer (already counted in encoder_errors_total).
      return c.json(
        errorEnvelope(first.error.code, first.error.message) satisfies ErrorAnswer,
        first.status as ContentfulStatusCode,
      );
    }
    const data = items.map((item) => ('error' in item ? { index: item.index, error: item.error } : item));
    return c.json({ model: model.id, version: model.version, dim: model.dim, data } satisfies ImageAnswer);
  });

  app.post(ENCODER_PATHS.text, async (c) => {
    const query = TextQuerySchema.safeParse(c.req.query());
    if (!query.success) {
      throw new EncoderError(
        400,
        'bad_request',
        'text_variant must be fp32 or int8 (or absent: the default)',
      );
    }
    const model = embedder.model(query.data.model);
    if (mediaType(c.req.header('content-type')) !== 'application/json') {
      throw new EncoderError(415, 'unsupported_media_type', 'send application/json { "texts": [...] }');
    }
    let json: unknown;
    try {
      json = JSON.parse(await c.req.text());
    } catch {
      throw new EncoderError(400, 'bad_json', 'the body is not valid JSON');
    }
    const parsed = TextRequestSchema.safeParse(json);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      throw new EncoderError(400, 'bad_request', `expected { "texts": ["..."] } (${detail})`);
    }
    const { tower, data } = await embedder.embedTexts(model, parsed.data.texts, query.data.text_variant);
    // The tower that answered: the Worker keys its caches of these numbers by it.
    return c.json({
      model: model.id,
      version: model.version,
      dim: model.dim,
      text_variant: tower.variant,
      text_tower: tower.tower,
      data,
    } satisfies TextAnswer);
  });

  app.notFound((c) => {
    metrics.errors.inc({ code: 'not_found' });
    return c.json(
      errorEnvelope('not_found', `no route ${c.req.method} ${c.req.path}`) satisfies ErrorAnswer,
      404,
    );
  });

  app.onError((error, c) => {
    const e =
      error instanceof HTTPException && !(error instanceof EncoderError)
        ? new EncoderError(error.status, 'bad_request', error.message || 'bad request')
        : asEncoderError(error);
    if (e.status >= 500) console.error(`encoder: ${c.req.method} ${c.req.path} failed:`, error);
    metrics.errors.inc({ code: e.code });
    // The rest of an oversized body is never read: close the connection rather than reuse it.
    const headers = e.code === 'body_too_large' ? { ...e.headers, connection: 'close' } : e.headers;
    return c.json(
      errorEnvelope(e.code, e.message) satisfies ErrorAnswer,
      e.status as ContentfulStatusCode,
      headers,
    );
  });

  return app;
}
