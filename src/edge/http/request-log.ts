/**
 * Request ids and the log line of every Worker request.
 * - `X-Request-Id` on every answer: the caller's when well-formed (1 to 128 of A-Z a-z 0-9 _ - =,
 *   core/contract/request-id.ts), else a fresh UUID (Hono's request-id middleware decides).
 * - The request runs inside its scope (./request-context.ts): every encoder call carries the id,
 *   the lane (`query`) and the client (`key:<id>` when the /v1 gate identified a key, else
 *   `ip:<CF-Connecting-IP>`), and adds its time to the line's `encoder_ms`.
 * - One JSON line per request on the Worker's log (Workers Logs / `wrangler tail`): request id,
 *   method, route pattern, status, ms, key id, collection, model, cache tier, encoder ms and
 *   calls, and the error code of an error answer.
 * - Error answers are counted by code in this isolate (`GET /v1/admin/errors`): a Worker runs in
 *   many isolates that come and go, so these are a live sample for an operator, not totals; the
 *   totals are the log lines' `error` field in Workers Logs.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { requestId } from 'hono/request-id';
import { ErrorEnvelopeSchema } from '../../core/contract/errors';
import { REQUEST_ID_HEADER, REQUEST_ID_MAX_CHARS } from '../../core/contract/request-id';
import type { AppEnv } from '../env';
import { validationHook } from './errors';
import { errorResponse } from './openapi';
import { withRequestScope } from './request-context';

declare module 'hono' {
  interface ContextVariableMap {
    /** This request's id (also its X-Request-Id answer header). */
    requestId: string;
  }
}

/** What a request's log line says. */
export interface RequestLogLine {
  msg: 'request';
  request_id: string;
  method: string;
  /** The route's pattern (`/v1/images/:id`), never the path with its ids. */
  route: string;
  status: number;
  ms: number;
  key_id: string | null;
  collection: string | null;
  model: string | null;
  /** X-Cache-Tier of the answer, where the route reports one. */
  cache_tier: string | null;
  encoder_ms: number | null;
  encoder_calls: number;
  /** The error code of an error answer. */
  error: string | null;
}

const errorCounts = new Map<string, number>();
const countingSince = new Date().toISOString();

/** The API key's id, when the /v1 gate (../access) identified one. */
function keyIdOf(c: Context): string | null {
  const p = c.get('principal');
  return p?.kind === 'key' ? p.key.id : null;
}

/** Who a query's encoder work counts against: the gate's caller, else the client's IP. */
function clientOf(c: Context): string {
  const ip = c.req.header('CF-Connecting-IP');
  return c.get('caller') ?? (ip ? `ip:${ip}` : 'anonymous');
}

/** A string field of what the route validated (path, query, JSON or form), if any. */
function validatedField(c: Context, field: string): string | null {
  const req = c.req as unknown as { valid(target: string): unknown };
  for (const target of ['param', 'query', 'json', 'form']) {
    let data: unknown;
    try {
      data = req.valid(target);
    } catch {
      data = undefined;
    }
    const value = (data as Record<string, unknown> | undefined)?.[field];
    if (typeof value === 'string') return value;
  }
  return null;
}

async function errorCodeOf(res: Response): Promise<string | null> {
  if (res.status < 400) return null;
  if (!(res.headers.get('content-type') ?? '').includes('json')) return `http_${res.status}`;
  try {
    const body = ErrorEnvelopeSchema.safeParse(await res.clone().json());
    return body.success ? body.data.error.code : `http_${res.status}`;
  } catch {
    return `http_${res.status}`;
  }
}

/** The request id, the request's scope, its log line and the isolate's error counts. */
export function requestLog(): MiddlewareHandler<AppEnv> {
  const assignId = requestId({ headerName: REQUEST_ID_HEADER, limitLength: REQUEST_ID_MAX_CHARS });
  return async function logRequest(c, next) {
    const started = performance.now();
    await assignId(c, async () => {});
    const id = c.get('requestId');
    const scope = {
      requestId: id,
      lane: 'query' as const,
      client: () => clientOf(c),
      encoderMs: 0,
      encoderCalls: 0,
    };
    await withRequestScope(scope, () => next());
    // Answers made as whole Responses (streams, cached copies) may not carry the prepared header.
    if (c.res.headers.get(REQUEST_ID_HEADER) !== id) {
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set(REQUEST_ID_HEADER, id);
    }
    const error = await errorCodeOf(c.res);
    if (error) errorCounts.set(error, (errorCounts.get(error) ?? 0) + 1);
    const line: RequestLogLine = {
      msg: 'request',
      request_id: id,
      method: c.req.method,
      route: c.res.status === 404 && error === 'not_found' ? '(none)' : c.req.routePath,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      key_id: keyIdOf(c),
      collection: validatedField(c, 'collection'),
      model: validatedField(c, 'model'),
      cache_tier: c.res.headers.get('X-Cache-Tier'),
      encoder_ms: scope.encoderCalls > 0 ? Math.round(scope.encoderMs * 10) / 10 : null,
      encoder_calls: scope.encoderCalls,
      error,
    };
    console.log(JSON.stringify(line));
  };
}

/** The error counts of this isolate (tests; the admin route). */
export function isolateErrorCounts(): { since: string; counts: Record<string, number> } {
  return { since: countingSince, counts: Object.fromEntries([...errorCounts].sort((a, b) => b[1] - a[1])) };
}

const ErrorCounts = z
  .object({
    scope: z.literal('isolate'),
    since: z.string().openapi({ description: 'When this isolate started counting (ISO time)' }),
    counts: z.record(z.string(), z.number().int()).openapi({
      description: 'Error answers of this isolate by error code, most frequent first',
    }),
  })
  .openapi('ErrorCounts');

export const errorCountsRoute = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

errorCountsRoute.openapi(
  createRoute({
    method: 'get',
    path: '/v1/admin/errors',
    summary: 'Error answers by code, counted in the answering isolate (a live sample, not totals)',
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: 'Counts of the isolate that answered',
        content: {
          'application/json': {
            schema: ErrorCounts,
            example: { scope: 'isolate', since: '2026-11-20T10:00:00.000Z', counts: { rate_limited: 3 } },
          },
        },
      },
      401: errorResponse('Missing or wrong admin credential'),
      503: errorResponse('ADMIN_TOKEN unset'),
    },
  }),
  // An admin credential bound to no collection: the /v1 gate's rule (../access/policy.ts).
  async (c) => {
    c.header('Cache-Control', 'no-store');
    return c.json({ scope: 'isolate' as const, ...isolateErrorCounts() }, 200);
  },
);
