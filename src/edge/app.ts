/**
 * The Worker's Hono app: middleware, the one error handler, route mounting and the OpenAPI
 * document. Routes are sub-apps under ./routes; each validates with zod and calls domain code.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import type { AppEnv } from './env';
import { errorBody, toErrorResponse, validationHook } from './errors';
import { EMBEDDING_LIMITS, limitBody, MAX_BODY_BYTES } from './limits';
import docs from './routes/docs';
import embeddings from './routes/embeddings';
import health from './routes/health';
import models from './routes/models';
import patches from './routes/patches';
import score from './routes/score';
import search from './routes/search';

export const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.use(
  '/v1/*',
  cors({
    origin: '*',
    allowHeaders: ['Authorization', 'Content-Type'],
    exposeHeaders: ['X-Truncated-Inputs', 'X-Model-Version', 'X-Cache', 'X-Cache-Tier'],
  }),
);
app.use('/v1/embeddings', limitBody(EMBEDDING_LIMITS.bodyBytes));
app.use('/v1/*', limitBody(MAX_BODY_BYTES));

app.route('/', embeddings);
app.route('/', models);
app.route('/', health);
app.route('/', docs);
app.route('/', search);
app.route('/', score);
app.route('/', patches);

app.doc31('/openapi.json', {
  openapi: '3.1.0',
  info: {
    title: 'KoCLIP edge API',
    version: '1.0.0',
    description:
      'Korean CLIP at the edge: text embeddings (OpenAI-compatible), image search, caption scoring. ' +
      'Errors are `{ "error": { "code", "message" } }`.',
  },
});

app.notFound((c) =>
  c.json(errorBody('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404),
);
app.onError((err, c) => toErrorResponse(c, err));
