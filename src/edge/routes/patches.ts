/** POST /v1/patches: how well each cell of a rows x cols grid over an image matches a text. */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { PatchesFieldsSchema, PatchesResponseSchema } from '../../core/api-schemas';
import type { AppEnv } from '../env';
import { ApiError, validationHook } from '../errors';
import { requestContext, runPatches } from '../image-api';
import { imageInputFrom } from '../image-query';
import { bodyKind, ErrorResponses, ImageFileSchema } from './image-route-schemas';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const PatchesFormSchema = PatchesFieldsSchema.extend({ image: ImageFileSchema.optional() });
type Fields = z.infer<typeof PatchesFieldsSchema> & { image?: File };

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/patches',
    summary: 'Score every cell of a grid over an image against a text (Text->Patch)',
    description:
      'The image (`image_url`, or an uploaded `image`) goes to the encoder function with `?grid=RxC`; it ' +
      'crops the preprocessed image into rows x cols cells and embeds each (the Worker never decodes ' +
      'images). `scores` are cosines, `probs` a softmax over all cells of exp(logit_scale) * cosine.',
    request: {
      body: {
        content: {
          'application/json': { schema: PatchesFieldsSchema },
          'multipart/form-data': { schema: PatchesFormSchema },
        },
      },
    },
    responses: {
      200: {
        description: 'Cell scores, row-major',
        content: { 'application/json': { schema: PatchesResponseSchema } },
      },
      ...ErrorResponses,
    },
  }),
  async (c) => {
    const fields = (
      bodyKind(c.req.header('content-type')) === 'form' ? c.req.valid('form') : c.req.valid('json')
    ) as Fields;
    const image = await imageInputFrom(fields, fields.image);
    if (!image || image.kind === 'image_id')
      throw new ApiError(
        400,
        'invalid_request',
        'give an image_url or an image upload (the index keeps vectors, not images)',
      );
    if (!fields.text) throw new ApiError(400, 'invalid_request', 'text: give the text to look for');
    const ctx = await requestContext(c.env, fields.model);
    const body = await runPatches(ctx, {
      image,
      text: fields.text,
      rows: fields.rows,
      cols: fields.cols,
      ...(fields.prompt_template === undefined ? {} : { template: fields.prompt_template }),
    });
    return c.json(body, 200);
  },
);

export default app;
