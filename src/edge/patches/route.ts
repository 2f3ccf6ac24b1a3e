/** POST /v1/patches: how well each cell of a rows x cols grid over an image matches a text. */

import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { PatchesFieldsSchema, PatchesResponseSchema } from '../../core/contract/api-schemas';
import { allowCollection, chargeEncoder } from '../access';
import { PATCHES } from '../docs/examples';
import type { AppEnv } from '../env';
import { validationHook } from '../http/errors';
import { bodyKind, ImageErrorResponses, ImageFileSchema } from '../http/openapi';
import { queryContext } from '../query/context';
import { type PatchesInput, patchesRequestFrom, runPatches } from './patches';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const PatchesFormSchema = PatchesFieldsSchema.extend({ image: ImageFileSchema.optional() });

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/patches',
    summary: 'Score every cell of a grid over an image against a text (Text->Patch)',
    description:
      'The image (`image_id` of a kept original, `image_url`: http(s) or a `data:image/...;base64,` URL, ' +
      '`image_base64`, or an uploaded `image`) goes to the encoder function with `?grid=RxC`; it ' +
      'crops the preprocessed image into rows x cols cells and embeds each (the Worker never decodes ' +
      'images). `scores` are cosines, `probs` a softmax over all cells of exp(logit_scale) * cosine.',
    request: {
      body: {
        content: {
          'application/json': { schema: PatchesFieldsSchema, examples: PATCHES.request },
          'multipart/form-data': { schema: PatchesFormSchema },
        },
      },
    },
    responses: {
      200: {
        description: 'Cell scores, row-major',
        content: { 'application/json': { schema: PatchesResponseSchema, example: PATCHES.response } },
      },
      ...ImageErrorResponses,
    },
  }),
  async (c) => {
    const fields = (
      bodyKind(c.req.header('content-type')) === 'form' ? c.req.valid('form') : c.req.valid('json')
    ) as PatchesInput;
    const collection = allowCollection(c, fields.collection);
    // Every patches request runs the encoder (an indexed image's original is encoded again).
    await chargeEncoder(c);
    const request = await patchesRequestFrom(fields);
    const body = await runPatches(await queryContext(c.env, fields.model, collection), request);
    return c.json(body, 200);
  },
);

export default app;
