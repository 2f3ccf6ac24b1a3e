/**
 * GET /healthz (liveness plus what the Worker serves) and, only when DEBUG_ROUTES is set,
 * GET /debug/text-tower (wasm memory and sessions, read by scripts/bench/text-tower.mjs).
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { type AppEnv, readConfig } from '../env';
import { ApiError, validationHook } from '../http/errors';
import { errorResponse } from '../http/openapi';
import { getModel } from '../inference/model-registry';
import { textTowerStats } from '../inference/text-tower';

const TextTowerStats = z.object({
  sessions: z.array(z.string()),
  runs: z.number().int(),
  wasm_memory_bytes: z.number().int(),
});

const health = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Health',
  responses: {
    200: {
      description: 'The Worker is up',
      content: {
        'application/json': {
          schema: z.object({
            status: z.literal('ok'),
            default_model: z.object({ id: z.string(), version: z.string() }),
            text_tower: TextTowerStats,
          }),
        },
      },
    },
  },
});

const debug = createRoute({
  method: 'get',
  path: '/debug/text-tower',
  hide: true,
  responses: {
    200: { description: 'Text tower figures', content: { 'application/json': { schema: TextTowerStats } } },
    404: errorResponse('Debug routes are off'),
  },
});

function stats(): z.infer<typeof TextTowerStats> {
  const s = textTowerStats();
  return { sessions: s.sessions, runs: s.runs, wasm_memory_bytes: s.wasmMemoryBytes };
}

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.openapi(health, async (c) => {
  const model = await getModel(c.env, readConfig(c.env).defaultModel);
  c.header('Cache-Control', 'no-store');
  return c.json(
    {
      status: 'ok' as const,
      default_model: { id: model.id, version: model.version },
      text_tower: stats(),
    },
    200,
  );
});

app.openapi(debug, (c) => {
  if (!readConfig(c.env).debugRoutes)
    throw new ApiError(404, 'not_found', 'no route for GET /debug/text-tower');
  return c.json(stats(), 200);
});

export default app;
