/**
 * The one error path of the Worker: every expected failure is an ApiError (status, code,
 * message); the app's error handler turns it, Hono's HTTPException and anything unexpected into
 * the JSON envelope of src/core/contract/errors.ts.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { errorEnvelope } from '../../core/contract/errors';

/** An expected failure with a client-facing code and message. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options?.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

/** Codes for the statuses Hono's own middleware throws (body limit, malformed JSON, ...). */
const HTTP_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'timeout',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
};

function clampStatus(status: number): ContentfulStatusCode {
  return (Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500) as ContentfulStatusCode;
}

/** Turns any thrown value into the JSON error response; 5xx that are not ApiErrors are logged. */
export function toErrorResponse(c: Context, err: unknown): Response {
  if (err instanceof ApiError) {
    const status = clampStatus(err.status);
    if (status >= 500) console.error(`[${err.code}] ${err.message}`, err.cause ?? '');
    return c.json(errorEnvelope(err.code, err.message), status, err.headers);
  }
  if (err instanceof HTTPException) {
    const status = clampStatus(err.status);
    const code = HTTP_CODES[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
    if (status >= 500) console.error('HTTPException', err);
    return c.json(errorEnvelope(code, status >= 500 ? 'internal error' : err.message || code), status);
  }
  console.error('unhandled error', err);
  return c.json(errorEnvelope('internal_error', 'internal error'), 500);
}

/** Readable summary of zod issues: `input: expected string; model: unknown model id format`. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}

/**
 * `defaultHook` for every OpenAPIHono (app and sub-apps): a failed validation answers 400
 * `invalid_request` (or `invalid_query`, ...) in the error envelope.
 */
export function validationHook(
  result:
    | { success: true }
    | {
        success: false;
        error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
        target: string;
      },
  c: Context,
): Response | undefined {
  if (result.success) return undefined;
  const code =
    result.target === 'json' || result.target === 'form' ? 'invalid_request' : `invalid_${result.target}`;
  return c.json(errorEnvelope(code, describeIssues(result.error.issues)), 400);
}
