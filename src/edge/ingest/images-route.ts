/**
 * The admin image API (bearer ADMIN_TOKEN): `PUT|GET|DELETE /v1/images/{id}` (upload, status,
 * delete; `?collection=`, default `default`) and `GET /v1/index/stats`. Writes go to the index of
 * the Worker's default model; status and stats take `?model=` to read another one.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { CollectionSchema, DEFAULT_COLLECTION, ImageIdSchema, ModelIdSchema } from '../../core/contract/ids';
import { ImageStatusSchema, IndexStatsSchema } from '../../core/contract/ingest-schemas';
import { INGEST_LIMITS, LIMITS } from '../../core/contract/limits';
import { mediaType } from '../../core/contract/media-types';
import { IMAGES } from '../docs/examples';
import type { AppEnv } from '../env';
import { validationHook } from '../http/errors';
import { documented, errorResponse, ImageFileSchema } from '../http/openapi';
import { deleteImage, imageStatus, indexStats, storeUpload, type UploadForm, uploadFrom } from './images';
import { readSpace } from './ingest';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  description: 'An API key (POST /v1/keys) or the ADMIN_TOKEN of the Worker',
});

const Params = z.object({
  id: documented(ImageIdSchema, { param: { name: 'id', in: 'path' }, example: 'sku-1042' }),
});
const WriteQuery = z.object({ collection: CollectionSchema.optional() });
const ReadQuery = WriteQuery.extend({ model: ModelIdSchema.optional() });
const Status = z.object(ImageStatusSchema.shape).openapi('ImageStatus');
const UploadFormSchema = z.object({
  image: ImageFileSchema,
  metadata: z
    .string()
    .optional()
    .openapi({ description: 'A flat JSON object (string, number, boolean, null values)' }),
  caption: z.string().max(INGEST_LIMITS.captionChars).optional(),
});
const Binary = { schema: z.string().openapi({ type: 'string', format: 'binary' }) };
const Stats = z.object(IndexStatsSchema.shape).openapi('IndexStats');

// Who may call these (an ingest key, the stats an admin one) is the /v1 gate's (../access).
const admin = { security: [{ bearer: [] }] };
const authErrors = {
  401: errorResponse('Missing or wrong admin token'),
  503: errorResponse('ADMIN_TOKEN unset, or the index or queue unavailable'),
};

app.openapi(
  createRoute({
    method: 'put',
    path: '/v1/images/{id}',
    summary: 'Upload an image and index it',
    description:
      `Raw bytes (\`image/*\` or \`application/octet-stream\`) or multipart (\`image\`, optional \`metadata\` ` +
      `JSON and \`caption\`); PNG, JPEG, GIF or WebP up to ${LIMITS.imageBytes} bytes. The original is kept ` +
      'and indexed through the queue: 202 with the status (`pending`), then `GET` until `indexed` or `failed`. ' +
      'The same bytes uploaded again are not re-embedded (only metadata and caption change).',
    ...admin,
    request: {
      params: Params,
      query: WriteQuery,
      body: {
        content: {
          'image/*': Binary,
          'application/octet-stream': Binary,
          'multipart/form-data': { schema: UploadFormSchema },
        },
      },
    },
    responses: {
      202: {
        description: 'Stored and queued',
        content: { 'application/json': { schema: Status, example: IMAGES.uploaded } },
      },
      400: errorResponse('Invalid id, collection, metadata or form'),
      413: errorResponse('Body or image too large'),
      415: errorResponse('Not an image media type'),
      422: errorResponse('Not a PNG, JPEG, GIF or WebP image'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const collection = c.req.valid('query').collection ?? DEFAULT_COLLECTION;
    const contentType = c.req.header('content-type') ?? '';
    const upload = await uploadFrom(
      mediaType(contentType) === 'multipart/form-data'
        ? { form: c.req.valid('form') as UploadForm }
        : { bytes: new Uint8Array(await c.req.arrayBuffer()), contentType },
    );
    const coll = collection ?? DEFAULT_COLLECTION;
    const status = await storeUpload(c.env, await readSpace(c.env, coll), coll, id, upload);
    return c.json(status, 202);
  },
);

app.openapi(
  createRoute({
    method: 'get',
    path: '/v1/images/{id}',
    summary: 'Status of an image: pending, indexed, or failed with the reason',
    ...admin,
    request: { params: Params, query: ReadQuery },
    responses: {
      200: {
        description: 'The status',
        content: {
          'application/json': {
            schema: Status,
            examples: {
              indexed: { summary: 'Indexed', value: IMAGES.status },
              failed: { summary: 'Failed, with the reason', value: IMAGES.failed },
            },
          },
        },
      },
      404: errorResponse('`image_not_found` (or `unknown_model`)'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { collection, model } = c.req.valid('query');
    const coll = collection ?? DEFAULT_COLLECTION;
    return c.json(await imageStatus(c.env, await readSpace(c.env, coll, model), coll, id), 200);
  },
);

app.openapi(
  createRoute({
    method: 'delete',
    path: '/v1/images/{id}',
    summary: 'Delete an image from the index (at once) and its kept original',
    ...admin,
    request: { params: Params, query: WriteQuery },
    responses: {
      200: {
        description: 'Deleted: no search returns it any more',
        content: {
          'application/json': {
            schema: z.object({ id: z.string(), collection: z.string(), deleted: z.literal(true) }),
            example: IMAGES.deleted,
          },
        },
      },
      404: errorResponse('`image_not_found`'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const collection = c.req.valid('query').collection ?? DEFAULT_COLLECTION;
    const coll = collection ?? DEFAULT_COLLECTION;
    return c.json(await deleteImage(c.env, await readSpace(c.env, coll), coll, id), 200);
  },
);

app.openapi(
  createRoute({
    method: 'get',
    path: '/v1/index/stats',
    summary: 'Counts by state, segments, bytes, last write and queue lag of one index',
    ...admin,
    request: { query: ReadQuery },
    responses: {
      200: {
        description: "Stats of the collection in the model's index",
        content: { 'application/json': { schema: Stats, example: IMAGES.stats } },
      },
      404: errorResponse('`unknown_model`'),
      ...authErrors,
    },
  }),
  async (c) => {
    const { collection, model } = c.req.valid('query');
    const coll = collection ?? DEFAULT_COLLECTION;
    return c.json(await indexStats(c.env, await readSpace(c.env, coll, model), coll), 200);
  },
);

export default app;
