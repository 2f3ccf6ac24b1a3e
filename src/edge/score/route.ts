/** POST /v1/score: softmax probabilities and logits of captions against one image, edge-cached. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { CaptionsFormSchema, ScoreFieldsSchema, ScoreResponseSchema } from '../../core/contract/api-schemas';
import { allowCollection, carriesImage, chargeEncoder } from '../access';
import { SCORE } from '../docs/examples';
import type { AppEnv } from '../env';
import { validationHook } from '../http/errors';
import { bodyKind, ImageErrorResponses, ImageFileSchema } from '../http/openapi';
import { queryContext } from '../query/context';
import { runScore, type ScoreInput, scoreRequestFrom, scoreTextVariant } from './score';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const ScoreFormSchema = ScoreFieldsSchema.extend({
  captions: CaptionsFormSchema,
  image: ImageFileSchema.optional(),
});

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/score',
    summary: 'Score 1-64 captions against an image (Image->Text zero-shot)',
    description:
      'logits = exp(logit_scale) * cosine, probs = softmax(logits). The image is an indexed `image_id`, an ' +
      '`image_url` (http(s), or a `data:image/...;base64,` URL), `image_base64`, or an uploaded `image` ' +
      '(multipart; captions as repeated fields or one JSON array). ' +
      'Answers are cached by model version, text tower, image (hash of the upload, URL, or id and index ' +
      'generation), captions and template; `X-Cache: HIT|MISS` tells which. ' +
      '`text_variant` picks the text tower: `fp32` reproduces the reference forward pass (the original ' +
      "KoCLIP's Quickstart) within 1e-3 for an uploaded, base64 or URL image embedded by an fp32 image " +
      'tower; an `image_id` is scored with its stored (fp16 or int8) index vector. The answer names the ' +
      'tower (`text_variant`, `text_tower`).',
    request: {
      body: {
        content: {
          'application/json': { schema: ScoreFieldsSchema, examples: SCORE.request },
          'multipart/form-data': { schema: ScoreFormSchema },
        },
      },
    },
    responses: {
      200: {
        description: 'Scores, in caption order',
        content: { 'application/json': { schema: ScoreResponseSchema, example: SCORE.response } },
      },
      ...ImageErrorResponses,
    },
  }),
  async (c) => {
    const fields = (
      bodyKind(c.req.header('content-type')) === 'form' ? c.req.valid('form') : c.req.valid('json')
    ) as ScoreInput;
    const collection = allowCollection(c, fields.collection);
    const ctx = await queryContext(c.env, fields.model, collection);
    // A variant the model does not ship is refused before any encoder work is charged.
    const textVariant = scoreTextVariant(ctx.model.manifest, fields.text_variant);
    if (carriesImage(fields)) await chargeEncoder(c);
    const request = await scoreRequestFrom(fields, textVariant);
    const scored = await runScore(ctx, request);
    c.header('X-Cache', scored.cache);
    if (scored.tier) c.header('X-Cache-Tier', scored.tier);
    return c.json(scored.body, 200);
  },
);

export default app;
