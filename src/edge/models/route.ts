/** GET /v1/models and /v1/models/{id}: an OpenAI-like model list plus the facts of each manifest. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { ModelManifest } from '../../core/manifest';
import { MODELS } from '../docs/examples';
import { type AppEnv, readConfig } from '../env';
import { validationHook } from '../http/errors';
import { errorResponse } from '../http/openapi';
import { getModel, listModelIds } from '../inference/model-registry';

const ModelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int().openapi({ description: 'Unix seconds; 0 (packages carry no creation time)' }),
    owned_by: z.string(),
    version: z.string(),
    description: z.string(),
    default: z.boolean(),
    projection_dim: z.number().int(),
    logit_scale: z.number(),
    prompt_template: z.string(),
    text: z.object({
      placement: z.enum(['edge', 'function']),
      max_length: z.number().int(),
      variants: z.array(z.enum(['fp32', 'int8'])),
      default_variant: z.enum(['fp32', 'int8']),
    }),
    image: z.object({ size: z.number().int() }),
  })
  .openapi('Model');

function describe(manifest: ModelManifest, defaultModel: string): z.infer<typeof ModelSchema> {
  const variants = (['fp32', 'int8'] as const).filter((v) => manifest.text.files[v]);
  return {
    id: manifest.id,
    object: 'model',
    created: 0,
    owned_by: 'koclip-edge',
    version: manifest.version,
    description: manifest.description,
    default: manifest.id === defaultModel,
    projection_dim: manifest.projection_dim,
    logit_scale: manifest.logit_scale,
    prompt_template: manifest.prompt_template,
    text: {
      placement: manifest.text.placement,
      max_length: manifest.text.max_length,
      variants,
      default_variant: manifest.text.default_variant,
    },
    image: { size: manifest.image.size },
  };
}

const list = createRoute({
  method: 'get',
  path: '/v1/models',
  summary: 'List models',
  responses: {
    200: {
      description: 'Every model the Worker serves',
      content: {
        'application/json': {
          schema: z.object({ object: z.literal('list'), data: z.array(ModelSchema) }),
          example: MODELS.list,
        },
      },
    },
  },
});

const one = createRoute({
  method: 'get',
  path: '/v1/models/{id}',
  summary: 'One model',
  request: { params: z.object({ id: z.string().max(64).openapi({ example: 'koclip-tiny' }) }) },
  responses: {
    200: {
      description: 'The model',
      content: { 'application/json': { schema: ModelSchema, example: MODELS.one } },
    },
    404: errorResponse('Unknown model'),
  },
});

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.openapi(list, async (c) => {
  const { defaultModel } = readConfig(c.env);
  const ids = await listModelIds(c.env);
  const settled = await Promise.allSettled(ids.map((id) => getModel(c.env, id)));
  const data = settled.flatMap((r, i) => {
    if (r.status === 'fulfilled') return [describe(r.value, defaultModel)];
    console.error(`model ${ids[i]} is listed but cannot be loaded`, r.reason);
    return [];
  });
  return c.json({ object: 'list' as const, data }, 200);
});

app.openapi(one, async (c) => {
  const manifest = await getModel(c.env, c.req.valid('param').id);
  return c.json(describe(manifest, readConfig(c.env).defaultModel), 200);
});

export default app;
