/**
 * GET /v1/images/{id}/content: the kept original of an uploaded (or R2-event) image, so that the
 * demo page and clients can show a search result. Public like search itself, which already
 * answers ids, captions and metadata; the demo set's PNGs are static assets instead
 * (/demo/images/<id>.png), since the seeded demo index keeps vectors, not originals.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { CollectionSchema, DEFAULT_COLLECTION, ImageIdSchema } from '../../core/contract/ids';
import type { AppEnv } from '../env';
import { ApiError, validationHook } from '../http/errors';
import { documented, errorResponse } from '../http/openapi';
import { imageObjectKey } from '../storage-keys';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const route = createRoute({
  method: 'get',
  path: '/v1/images/{id}/content',
  summary: 'The original bytes of an uploaded image',
  description:
    'Answers the bytes kept in the images bucket for an upload (`PUT /v1/images/{id}`) or an R2 event, ' +
    'with their media type. Images indexed only from a URL or by the demo seed have no kept original (404).',
  request: {
    params: z.object({
      id: documented(ImageIdSchema, { param: { name: 'id', in: 'path' }, example: 'sku-1042' }),
    }),
    query: z.object({
      collection: documented(CollectionSchema.optional(), { example: 'default' }),
    }),
  },
  responses: {
    200: {
      description: 'The image, in the format it was uploaded in',
      content: Object.fromEntries(
        ['image/png', 'image/jpeg', 'image/gif', 'image/webp'].map((type) => [
          type,
          { schema: z.string().openapi({ type: 'string', format: 'binary' }) },
        ]),
      ),
    },
    400: errorResponse('Invalid id or collection'),
    404: errorResponse('No kept original (`image_not_found`)'),
  },
});

app.openapi(route, async (c) => {
  const { id } = c.req.valid('param');
  const collection = c.req.valid('query').collection ?? DEFAULT_COLLECTION;
  const object = await c.env.IMAGES_BUCKET.get(imageObjectKey(collection, id));
  if (!object) {
    throw new ApiError(404, 'image_not_found', `no kept original of '${id}' in collection '${collection}'`);
  }
  const type = object.httpMetadata?.contentType ?? '';
  return new Response(object.body, {
    headers: {
      'content-type': type.startsWith('image/') ? type : 'application/octet-stream',
      'content-length': String(object.size),
      etag: object.httpEtag,
      // Private: the answer may need a key, so no shared cache may keep it.
      'cache-control': 'private, max-age=60',
      'x-content-type-options': 'nosniff',
    },
  }) as never;
});

export default app;
