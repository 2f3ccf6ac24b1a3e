/**
 * POST /v1/embeddings, OpenAI-compatible: `input` (string or string[]), `model`,
 * `encoding_format` (float | base64), `dimensions` (only the model's own). Texts longer than the
 * model's max length are truncated; the response says which (`X-Truncated-Inputs`, `truncated_inputs`).
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { EMBEDDING_LIMITS } from '../../core/contract/limits';
import { EMBEDDINGS } from '../docs/examples';
import { type AppEnv, readConfig } from '../env';
import { ApiError, validationHook } from '../http/errors';
import { errorResponse } from '../http/openapi';
import { loadModel } from '../inference/model-registry';
import { embedQueryTexts } from '../query/text-embedder';

const TextInput = z
  .string()
  .min(1, 'must not be an empty string')
  .max(EMBEDDING_LIMITS.textChars, `at most ${EMBEDDING_LIMITS.textChars} characters`);

const EmbeddingsRequest = z
  .object({
    input: z.union([TextInput, z.array(TextInput).min(1, 'must not be empty').max(EMBEDDING_LIMITS.inputs)], {
      error: 'input must be a string or an array of strings (token arrays are not supported)',
    }),
    // Any string: a malformed id is an unknown model (404 `unknown_model`), as OpenAI answers.
    model: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: 'Model id; the default model when omitted', example: 'koclip-tiny' }),
    encoding_format: z.enum(['float', 'base64']).default('float'),
    dimensions: z
      .number()
      .int()
      .positive()
      .optional()
      .openapi({ description: "Must equal the model's projection_dim" }),
    user: z.string().max(256).optional(),
  })
  .openapi('EmbeddingsRequest');

const EmbeddingsResponse = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        object: z.literal('embedding'),
        index: z.number().int(),
        embedding: z
          .union([z.array(z.number()), z.string()])
          .openapi({ description: 'floats, or base64 of little-endian float32' }),
      }),
    ),
    model: z.string(),
    usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
    truncated_inputs: z
      .array(z.number().int())
      .openapi({ description: 'Indexes of inputs cut to the max length' }),
  })
  .openapi('EmbeddingsResponse');

const route = createRoute({
  method: 'post',
  path: '/v1/embeddings',
  summary: 'Embed texts (OpenAI-compatible)',
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: EmbeddingsRequest, example: EMBEDDINGS.request } },
    },
  },
  responses: {
    200: {
      description: 'Embeddings, in input order',
      headers: z.object({
        'X-Truncated-Inputs': z.string().optional().openapi({ description: 'Comma-separated indexes' }),
      }),
      content: { 'application/json': { schema: EmbeddingsResponse, example: EMBEDDINGS.response } },
    },
    400: errorResponse('Bad input'),
    404: errorResponse('Unknown model'),
    413: errorResponse('Body too large'),
    415: errorResponse('Not JSON'),
  },
});

function toBase64(vector: Float32Array): string {
  // Float32Array is little-endian on every Workers host, as OpenAI's base64 format expects.
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.openapi(route, async (c) => {
  const body = c.req.valid('json');
  const texts = typeof body.input === 'string' ? [body.input] : body.input;
  if (texts.length === 0) throw new ApiError(400, 'invalid_request', 'input: must not be empty');
  const blank = texts.findIndex((t) => t.length === 0);
  if (blank >= 0) throw new ApiError(400, 'invalid_request', `input[${blank}]: must not be an empty string`);
  const config = readConfig(c.env);
  const modelId = body.model ?? config.defaultModel;
  const model = await loadModel(c.env, modelId);
  if (body.dimensions !== undefined && body.dimensions !== model.manifest.projection_dim) {
    throw new ApiError(
      400,
      'unsupported_dimensions',
      `model ${model.id} only returns ${model.manifest.projection_dim} dimensions`,
    );
  }
  const started = performance.now();
  const result = await embedQueryTexts(c.env, model, texts);
  // Only with debug routes on: deployed Workers freeze clocks during compute, so it reads 0 there.
  if (config.debugRoutes) {
    c.header('Server-Timing', `text-tower;dur=${(performance.now() - started).toFixed(2)}`);
  }
  const truncated = result.truncated.flatMap((t, i) => (t ? [i] : []));
  if (truncated.length > 0) c.header('X-Truncated-Inputs', truncated.join(','));
  c.header('X-Model-Version', result.model.version);
  const tokens = result.tokenCounts.reduce((a, b) => a + b, 0);
  return c.json(
    {
      object: 'list' as const,
      data: result.embeddings.map((vector, index) => ({
        object: 'embedding' as const,
        index,
        embedding: body.encoding_format === 'base64' ? toBase64(vector) : Array.from(vector),
      })),
      model: result.model.id,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
      truncated_inputs: truncated,
    },
    200,
  );
});

export default app;
