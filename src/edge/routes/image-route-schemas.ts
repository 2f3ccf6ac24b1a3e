/** OpenAPI pieces shared by the image-facing routes (search, score, patches). */
import { z } from '@hono/zod-openapi';
import { LIMITS } from '../../core/api-schemas';
import { ApiError } from '../errors';

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

const ErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi('Error');
const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});

export const ErrorResponses = {
  400: error('Invalid request (see error.code)'),
  404: error('Unknown model, unknown image id, or empty index (`index_empty`)'),
  413: error('Body or image too large'),
  415: error('Unsupported media type'),
  422: error('Not an image the encoder can read'),
  502: error('The encoder failed or answered out of contract'),
  503: error('Encoder not configured or index unavailable'),
  504: error('The encoder timed out'),
} as const;

/** Which validated body a POST carries; a body that is neither JSON nor multipart is refused. */
export function bodyKind(contentType: string | undefined): 'json' | 'form' {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if (type === 'multipart/form-data') return 'form';
  throw new ApiError(415, 'unsupported_media_type', 'send application/json or multipart/form-data');
}
