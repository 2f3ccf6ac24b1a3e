/** GET|POST /v1/search: images of the index nearest to a text, an indexed image, or an image. */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { QueryTextSchema, SearchFieldsSchema, SearchResponseSchema } from '../../core/api-schemas';
import type { AppEnv } from '../env';
import { ApiError, validationHook } from '../errors';
import { requestContext, runSearch, type SearchSource } from '../image-api';
import { imageInputFrom } from '../image-query';
import { bodyKind, ErrorResponses, ImageFileSchema } from './image-route-schemas';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const ok = {
  200: {
    description: 'Nearest images, best first',
    content: { 'application/json': { schema: SearchResponseSchema } },
  },
};
const SearchQuerySchema = SearchFieldsSchema.extend({
  q: QueryTextSchema.optional().openapi({ description: 'alias of text' }),
});
const SearchFormSchema = SearchFieldsSchema.extend({ image: ImageFileSchema.optional() });

type Fields = z.infer<typeof SearchFieldsSchema> & { q?: string; image?: File };

async function search(c: { env: AppEnv['Bindings'] }, fields: Fields) {
  const text = fields.text ?? fields.q;
  const image = await imageInputFrom(fields, fields.image);
  if ((text === undefined) === (image === undefined)) {
    throw new ApiError(
      400,
      'invalid_request',
      'give exactly one of text, image_id, image_url or an image upload',
    );
  }
  const source: SearchSource = image ?? { kind: 'text', text: text as string };
  const ctx = await requestContext(c.env, fields.model);
  return runSearch(ctx, {
    source,
    k: fields.k,
    ...(fields.min_score === undefined ? {} : { minScore: fields.min_score }),
    ...(fields.filter ? { filter: fields.filter } : {}),
    ...(fields.cursor ? { cursor: fields.cursor } : {}),
  });
}

app.openapi(
  createRoute({
    method: 'get',
    path: '/v1/search',
    summary: 'Search the image index by text or by an indexed image id',
    description:
      '`filter` is JSON, e.g. `{"colour":"red","count":[2,3]}`. An empty index answers 404 `index_empty`.',
    request: { query: SearchQuerySchema },
    responses: { ...ok, ...ErrorResponses },
  }),
  async (c) => c.json(await search(c, c.req.valid('query')), 200),
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/search',
    summary: 'Search the image index by text, indexed image id, image URL or uploaded image',
    request: {
      body: {
        content: {
          'application/json': { schema: SearchFieldsSchema },
          'multipart/form-data': { schema: SearchFormSchema },
        },
      },
    },
    responses: { ...ok, ...ErrorResponses },
  }),
  async (c) => {
    const fields =
      bodyKind(c.req.header('content-type')) === 'form' ? c.req.valid('form') : c.req.valid('json');
    return c.json(await search(c, fields as Fields), 200);
  },
);

export default app;
