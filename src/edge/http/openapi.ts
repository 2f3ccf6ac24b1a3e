/**
 * OpenAPI pieces every route shares: the error envelope's schema (registered once, as `Error`),
 * the error responses of the image-facing routes, the uploaded-file schema, and which kind of
 * body a POST carries.
 */
import { z } from '@hono/zod-openapi';
import { ErrorEnvelopeSchema } from '../../core/contract/errors';
import { LIMITS } from '../../core/contract/limits';
import { mediaType } from '../../core/contract/media-types';
import { ApiError } from './errors';

/** `.openapi(refId)`, `.openapi(metadata)` or `.openapi(refId, metadata)`. */
type OpenApiArgs = [string] | [Record<string, unknown>] | [string, Record<string, unknown>];

/**
 * `.openapi(...)` for a schema of src/core. zod 4 copies methods onto each schema when it is made,
 * so a schema made before @hono/zod-openapi loaded (core is plain zod, and module order decides)
 * lacks `.openapi`; the method on the prototype works on it all the same.
 */
export function documented<T extends z.ZodType>(schema: T, ...args: OpenApiArgs): T {
  const openapi = (z.ZodType.prototype as unknown as { openapi: (...a: OpenApiArgs) => T }).openapi;
  return openapi.apply(schema, args);
}

/** The error envelope of src/core/contract/errors.ts, named `Error` in the OpenAPI document. */
export const ErrorSchema = documented(ErrorEnvelopeSchema, 'Error');

/** An error response of a route, in the envelope. */
export const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});

/** An uploaded image in a multipart form. */
export const ImageFileSchema = z
  .custom<File>(
    (v) => typeof v === 'object' && v !== null && 'arrayBuffer' in v && 'type' in v,
    'must be an uploaded file',
  )
  .openapi({
    type: 'string',
    format: 'binary',
    description: `PNG, JPEG, GIF or WebP, at most ${LIMITS.imageBytes} bytes`,
  });

/** Error responses of the routes that take an image (search, score, patches). */
export const ImageErrorResponses = {
  400: errorResponse('Invalid request (see error.code)'),
  404: errorResponse('Unknown model, unknown image id, or empty index (`index_empty`)'),
  413: errorResponse('Body or image too large'),
  415: errorResponse('Unsupported media type'),
  422: errorResponse(
    'Not an image the encoder can read, or an `image_url` that could not be fetched (`image_fetch_failed`, with the reason)',
  ),
  502: errorResponse("The service's encoder failed or answered out of contract (never a caller's URL)"),
  503: errorResponse(
    'Encoder not configured, index unavailable, or index shards that did not answer (`shards_unavailable`; `allow_partial` on a search asks for a page marked partial instead)',
  ),
  504: errorResponse('The encoder timed out'),
} as const;

/** Which validated body a POST carries; a body that is neither JSON nor multipart is refused. */
export function bodyKind(contentType: string | undefined): 'json' | 'form' {
  const type = mediaType(contentType);
  if (type === 'application/json') return 'json';
  if (type === 'multipart/form-data') return 'form';
  throw new ApiError(415, 'unsupported_media_type', 'send application/json or multipart/form-data');
}

type DocOperation = {
  parameters?: unknown[];
  requestBody?: { required?: boolean };
  responses?: Record<string, unknown>;
  security?: unknown[];
};
const ERROR_REF = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

/**
 * The error answers every route shares, added to /openapi.json where a route's own definition
 * leaves them out, because they come from code all routes run rather than from the route:
 * - 400: validationHook refuses any parameter or body out of its schema (`invalid_param`,
 *   `invalid_query`, `invalid_request`, ...), so every operation that takes input can answer it;
 * - 413: the body limit (limitBody) of every `/v1/*` request, for each operation with a body;
 * - 401, 403, 429: the access gate of every `/v1/*` route but the webhook (src/edge/access).
 * - 415: a body of a media type the operation does not declare (@hono/zod-openapi's media-type
 *   gate; bodyKind), for each operation with a body but the signed webhook, which reads its bytes
 *   whatever their declared type.
 * And every request body is marked required: no operation takes an empty one (search, score and
 * patches answer 415 without a JSON or multipart body), which a route cannot say itself: with
 * `required`, @hono/zod-openapi runs the JSON and the form validators both, whatever the type.
 */
export function withSharedErrorResponses<T extends { paths?: object }>(doc: T): T {
  for (const [path, item] of Object.entries(doc.paths ?? {}) as [string, Record<string, unknown>][]) {
    for (const [method, value] of Object.entries(item)) {
      if (!HTTP_METHODS.has(method)) continue;
      const op = value as DocOperation;
      const responses = op.responses ?? {};
      if ((op.parameters?.length ?? 0) > 0 || op.requestBody) {
        responses['400'] ??= {
          description:
            'A parameter or body field out of its schema (`invalid_param`, `invalid_query`, `invalid_request`)',
          content: ERROR_REF,
        };
      }
      // The /v1 gate (../access/policy.ts) runs before every /v1 route but the signed webhook.
      if (path.startsWith('/v1/') && !path.startsWith('/v1/webhooks/')) {
        responses['401'] ??= {
          description: 'A credential is needed or was refused (`unauthorized`, `key_revoked`, `key_expired`)',
          content: ERROR_REF,
        };
        responses['403'] ??= {
          description:
            'The key lacks the scope, collection or origin (`insufficient_scope`, `collection_forbidden`, `origin_not_allowed`)',
          content: ERROR_REF,
        };
        responses['429'] ??= {
          description:
            'Burst limit or daily quota passed (`rate_limited`, `quota_exceeded`); see Retry-After',
          content: ERROR_REF,
        };
        // Read routes also answer anonymous callers when AUTH_MODE=open.
        op.security ??= [{ bearer: [] }, {}];
      }
      if (op.requestBody) op.requestBody.required = true;
      if (op.requestBody && !path.startsWith('/v1/webhooks/')) {
        responses['415'] ??= {
          description: 'A body of a media type this operation does not take (`unsupported_media_type`)',
          content: ERROR_REF,
        };
      }
      if (path.startsWith('/v1/') && op.requestBody) {
        responses['413'] ??= {
          description: 'The request body is too large (`payload_too_large`)',
          content: ERROR_REF,
        };
      }
      op.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
    }
  }
  return doc;
}
