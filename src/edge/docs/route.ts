/**
 * GET /docs: the API reference, Swagger UI (npm `swagger-ui-dist`) over /openapi.json, built by
 * `npm run build:ui` into the Worker's static assets (src/ui/public/docs, no CDN). The asset
 * router answers /docs itself; this route serves the same page when a request reaches the Worker
 * anyway (a test calling the app, or assets routed Worker-first).
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { ApiError } from '../http/errors';

const app = new OpenAPIHono<AppEnv>();

app.get('/docs', async (c) => {
  const page = await c.env.ASSETS?.fetch(new URL('/docs', c.req.url));
  if (!page?.ok) {
    throw new ApiError(503, 'docs_not_built', 'the API reference is not built: run `npm run build:ui`');
  }
  return page;
});

export default app;
