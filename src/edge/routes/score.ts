/** POST /v1/score: softmax probabilities and logits of captions against one image, edge-cached. */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { ScoreFieldsSchema, ScoreResponseSchema } from '../../core/api-schemas';
import type { AppEnv } from '../env';
import { ApiError, validationHook } from '../errors';
import { requestContext, runScore } from '../image-api';
import { imageInputFrom } from '../image-query';
import { bodyKind, ErrorResponses, ImageFileSchema } from './image-route-schemas';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const ScoreFormSchema = ScoreFieldsSchema.extend({ image: ImageFileSchema.optional() });
type Fields = z.infer<typeof ScoreFieldsSchema> & { image?: File };

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/score',
    summary: 'Score 1-64 captions against an image (Image->Text zero-shot)',
    description:
      'logits = exp(logit_scale) * cosine, probs = softmax(logits). The image is an indexed `image_id`, an ' +
      '`image_url`, or an uploaded `image` (multipart; captions as repeated fields or one JSON array). ' +
      'Answers are cached by model version, image (hash of the upload, URL, or id and index generation), ' +
      'captions and template; `X-Cache: HIT|MISS` tells which.',
    request: {
      body: {
        content: {
          'application/json': { schema: ScoreFieldsSchema },
          'multipart/form-data': { schema: ScoreFormSchema },
        },
      },
    },
    responses: {
      200: {
        description: 'Scores, in caption order',
        content: { 'application/json': { schema: ScoreResponseSchema } },
      },
      ...ErrorResponses,
    },
  }),
  async (c) => {
    const fields = (
      bodyKind(c.req.header('content-type')) === 'form' ? c.req.valid('form') : c.req.valid('json')
    ) as Fields;
    const image = await imageInputFrom(fields, fields.image);
    if (!image)
      throw new ApiError(400, 'invalid_request', 'give one of image_id, image_url or an image upload');
    if (!fields.captions) throw new ApiError(400, 'invalid_request', 'captions: give 1 to 64 captions');
    const ctx = await requestContext(c.env, fields.model);
    const scored = await runScore(ctx, {
      image,
      captions: fields.captions,
      ...(fields.prompt_template === undefined ? {} : { template: fields.prompt_template }),
    });
    c.header('X-Cache', scored.cache);
    if (scored.tier) c.header('X-Cache-Tier', scored.tier);
    return c.json(scored.body, 200);
  },
);

export default app;
