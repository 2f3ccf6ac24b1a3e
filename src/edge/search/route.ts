/**
 * GET|POST /v1/search: images of the index nearest to a text, an indexed image, or an image; POST
 * JSON also takes a composite query (`positive` parts and `negative` texts, ./composite).
 * `x-koclip-search-path` says which ranking answered (catalogue-search.ts: SearchPath).
 */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  QueryTextSchema,
  SearchBodySchema,
  SearchFieldsSchema,
  SearchResponseSchema,
} from '../../core/contract/api-schemas';
import { LIMITS } from '../../core/contract/limits';
import { allowCollection, chargeEncoder } from '../access';
import { SEARCH } from '../docs/examples';
import type { AppEnv } from '../env';
import { validationHook } from '../http/errors';
import { bodyKind, documented, ImageErrorResponses, ImageFileSchema } from '../http/openapi';
import { queryContext } from '../query/context';
import { encoderCallsOf, runSearch, type SearchInput, searchRequestFrom } from './search';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const ok = {
  200: {
    description: 'Nearest images, best first',
    content: { 'application/json': { schema: SearchResponseSchema, example: SEARCH.response } },
  },
};
const SearchQuerySchema = SearchFieldsSchema.extend({
  q: documented(QueryTextSchema.optional(), { description: 'alias of text', example: SEARCH.query.q }),
});
const SearchFormSchema = SearchFieldsSchema.extend({ image: ImageFileSchema.optional() });

async function search(c: Context<AppEnv>, fields: SearchInput) {
  const collection = allowCollection(c, fields.collection);
  // Read and checked first, so a refused request spends no encoder quota; then one unit per image
  // the encoder will embed (a composite may have several).
  const request = await searchRequestFrom(fields);
  for (let i = encoderCallsOf(request); i > 0; i--) await chargeEncoder(c);
  return runSearch(await queryContext(c.env, fields.model, collection), request);
}

const PATH_HEADER = 'x-koclip-search-path';
/** How many search shards the index has (src/edge/search/shards). */
const SHARDS_HEADER = 'x-koclip-shards';

app.openapi(
  createRoute({
    method: 'get',
    path: '/v1/search',
    summary: 'Search the image index by text or by an indexed image id',
    description:
      '`filter` is JSON, e.g. `{"colour":"red","count":[2,3]}`. An empty index answers 404 `index_empty`.',
    request: { query: SearchQuerySchema },
    responses: { ...ok, ...ImageErrorResponses },
  }),
  async (c) => {
    const { body, path, shards } = await search(c, c.req.valid('query'));
    return c.json(body, 200, { [PATH_HEADER]: path, [SHARDS_HEADER]: String(shards) });
  },
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/search',
    summary: 'Search the image index by text, indexed image id, image URL, base64 image or upload',
    description:
      'JSON bodies take the image as `image_url` (http(s), or a `data:image/...;base64,` URL as in OpenAI vision ' +
      'requests) or `image_base64` (bare base64), checked like an upload (size, format). Multipart takes an `image` file. ' +
      'An http(s) `image_url` is fetched by the encoder (`{"image_url": "https://images.example/a.png"}`); one it cannot ' +
      'fetch is a 422 `image_fetch_failed` with the reason. The next page: the same request with `cursor` set to the ' +
      "answer's `next_cursor` (bound to that query and to the index generation; else 400 `invalid_cursor`). " +
      'A composite query (JSON only) gives `positive` parts instead of a single query: up to ' +
      `${LIMITS.compositeParts} texts or images (\`image_id\`, \`image_url\`, \`image_base64\`; at most ` +
      `${LIMITS.compositeEncoderImages} of the last two), each with a \`weight\` in (0, ${LIMITS.compositeWeight}] (default 1), ` +
      `and up to ${LIMITS.compositeNegatives} \`negative\` texts to move away from; they are combined in embedding space ` +
      "(formula `centred-sum`, docs/image-api.md) and the answer's `query` says how. Filters, `min_score`, `k` and cursors " +
      'work as for any query. Mixing parts with `text`/`image_*`, negatives alone, or a part with not exactly one of ' +
      '`text`/`image_*` is a 400 `invalid_request` naming the field.',
    request: {
      body: {
        content: {
          'application/json': { schema: SearchBodySchema, examples: SEARCH.request },
          'multipart/form-data': { schema: SearchFormSchema },
        },
      },
    },
    responses: { ...ok, ...ImageErrorResponses },
  }),
  async (c) => {
    const fields =
      bodyKind(c.req.header('content-type')) === 'form' ? c.req.valid('form') : c.req.valid('json');
    const { body, path, shards } = await search(c, fields as SearchInput);
    return c.json(body, 200, { [PATH_HEADER]: path, [SHARDS_HEADER]: String(shards) });
  },
);

export default app;
