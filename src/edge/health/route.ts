/**
 * GET /healthz (liveness plus what the Worker serves: the default model with its evaluation
 * figures, the text tower, and whether the encoder function answers its own /healthz) and, only
 * when DEBUG_ROUTES is set,
 * GET /debug/text-tower (wasm memory and sessions, read by scripts/bench/text-tower.mjs).
 */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import {
  type EncoderHealth,
  HealthResponseSchema,
  TextTowerStatsSchema,
} from '../../core/contract/api-schemas';
import { ENCODER_PATHS, HealthAnswerSchema } from '../../core/contract/encoder-api';
import { type AppEnv, readConfig } from '../env';
import { ApiError, validationHook } from '../http/errors';
import { errorResponse } from '../http/openapi';
import { encoderConfigFromEnv } from '../inference/encoder-client';
import { getModel } from '../inference/model-registry';
import { textTowerStats } from '../inference/text-tower';

/** How long /healthz waits for the encoder's /healthz before calling it unreachable. */
const ENCODER_PROBE_MS = 2000;

/** What the Worker reads of the encoder's /healthz. */
const EncoderProvider = HealthAnswerSchema.pick({ provider: true });

const health = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Health',
  responses: {
    200: {
      description: 'The Worker is up',
      content: {
        'application/json': {
          schema: HealthResponseSchema,
          example: {
            status: 'ok',
            default_model: {
              id: 'koclip-tiny',
              version: '2026.11.29-1',
              placement: 'edge',
              evaluation: {
                't2i_recall@1': 0.9663,
                't2i_recall@10': 0.9992,
                zero_shot_colour_accuracy: 0.9629,
              },
            },
            text_tower: {
              sessions: ['koclip-tiny@2026.11.29-1:int8'],
              runs: 12,
              wasm_memory_bytes: 27262976,
            },
            encoder: { status: 'ok', latency_ms: 3, provider: 'cpu' },
          },
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
    200: {
      description: 'Text tower figures',
      content: { 'application/json': { schema: TextTowerStatsSchema } },
    },
    404: errorResponse('Debug routes are off'),
  },
});

/** The encoder's /healthz, probed with a short timeout; never throws. */
async function probeEncoder(env: AppEnv['Bindings']): Promise<EncoderHealth> {
  let url: string;
  try {
    url = encoderConfigFromEnv(env).url;
  } catch {
    return { status: 'not_configured', message: 'ENCODER_URL and ENCODER_TOKEN are not set' };
  }
  const started = Date.now();
  try {
    const res = await fetch(`${url}${ENCODER_PATHS.health}`, {
      signal: AbortSignal.timeout(ENCODER_PROBE_MS),
    });
    const latency_ms = Date.now() - started;
    if (!res.ok) return { status: 'error', latency_ms, message: `the encoder answered ${res.status}` };
    const body = EncoderProvider.safeParse(await res.json().catch(() => undefined));
    return { status: 'ok', latency_ms, ...(body.success ? { provider: body.data.provider } : {}) };
  } catch {
    return { status: 'unreachable', message: 'the encoder could not be reached' };
  }
}

/** The numeric figures of the manifest's int8 evaluation (recall, zero-shot accuracy). */
function evaluationFigures(evaluation: Record<string, unknown>): Record<string, number> {
  const int8 = evaluation.onnx_int8;
  if (typeof int8 !== 'object' || int8 === null) return {};
  return Object.fromEntries(
    Object.entries(int8).filter((e): e is [string, number] => typeof e[1] === 'number'),
  );
}

function stats(): z.infer<typeof TextTowerStatsSchema> {
  const s = textTowerStats();
  return { sessions: s.sessions, runs: s.runs, wasm_memory_bytes: s.wasmMemoryBytes };
}

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.openapi(health, async (c) => {
  const [model, encoder] = await Promise.all([
    getModel(c.env, readConfig(c.env).defaultModel),
    probeEncoder(c.env),
  ]);
  c.header('Cache-Control', 'no-store');
  return c.json(
    {
      status: 'ok' as const,
      default_model: {
        id: model.id,
        version: model.version,
        placement: model.text.placement,
        evaluation: evaluationFigures(model.evaluation),
      },
      text_tower: stats(),
      encoder,
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
