/**
 * The Worker's Hono app: middleware, the one error handler, the features' routes and the OpenAPI
 * document. Each HTTP feature mounts a sub-app (`<feature>/route.ts`, or `ingest/images-route.ts`
 * and `ingest/webhook-route.ts`) that validates with zod and calls the feature's domain code beside
 * it; `query/`, `inference/`, `index/` and `queue/` hold no routes.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { EMBEDDING_LIMITS, LIMITS } from '../core/contract/limits';
import { authorize, corsPolicy, keysRoutes } from './access';
import collections from './collections/route';
import { debugRoutes } from './debug/route';
import docs from './docs/route';
import embeddings from './embeddings/route';
import type { AppEnv } from './env';
import health from './health/route';
import { limitBody } from './http/body-limit';
import { toErrorResponse, validationHook } from './http/errors';
import { notFoundOrNotAllowed } from './http/method-not-allowed';
import { withSharedErrorResponses } from './http/openapi';
import { errorCountsRoute, requestLog } from './http/request-log';
import imageContent from './image-content/route';
import images from './ingest/images-route';
import webhooks from './ingest/webhook-route';
import models from './models/route';
import patches from './patches/route';
import score from './score/route';
import search from './search/route';

export const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

// CORS first (a refused preflight never reaches the gate), then the gate: who calls, with what
// scope, on which collections, within which limits (src/edge/access/).
// Outermost: X-Request-Id on every answer, the request's scope and its one JSON log line.
app.use('*', requestLog());
app.use(
  '/v1/*',
  corsPolicy([
    'X-Truncated-Inputs',
    'X-Model-Version',
    'X-Cache',
    'X-Cache-Tier',
    'X-Request-Id',
    'Retry-After',
  ]),
);
app.use('/v1/*', authorize());
app.use('/v1/embeddings', limitBody(EMBEDDING_LIMITS.bodyBytes));
app.use('/v1/*', limitBody(LIMITS.bodyBytes));

app.route('/', embeddings);
app.route('/', models);
app.route('/', health);
app.route('/', debugRoutes(app));
app.route('/', docs);
app.route('/', search);
app.route('/', score);
app.route('/', patches);
app.route('/', imageContent);
app.route('/', webhooks);
app.route('/', images);
app.route('/', collections);
app.route('/', keysRoutes);
app.route('/', errorCountsRoute);

const OPENAPI_CONFIG = {
  openapi: '3.1.0' as const,
  info: {
    title: 'KoCLIP edge API',
    version: '1.0.0',
    description:
      'Korean CLIP at the edge: text embeddings (OpenAI-compatible), image search, caption scoring. ' +
      'Errors are `{ "error": { "code", "message" } }`.',
  },
};

// The document with the error answers every route shares (withSharedErrorResponses).
app.get('/openapi.json', (c) => c.json(withSharedErrorResponses(app.getOpenAPI31Document(OPENAPI_CONFIG))));

app.notFound((c) => notFoundOrNotAllowed(c, app.routes));
app.onError((err, c) => toErrorResponse(c, err));
