/**
 * Bearer-token middleware of the write and admin routes (uploads, status, deletes, stats). The
 * token is ADMIN_TOKEN (readConfig); both sides are hashed before a constant-time comparison, so
 * neither the content nor the length of the token leaks through timing.
 */
import type { MiddlewareHandler } from 'hono';
import { constantTimeEqual } from '../../core/contract/webhook-signature';
import { sha256Hex } from '../../core/hash';
import { type AppEnv, readConfig } from '../env';
import { ApiError } from './errors';

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Whether `given` is `expected`, in time independent of both. */
export async function tokenMatches(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256Hex(given), sha256Hex(expected)]);
  return constantTimeEqual(a, b);
}

/**
 * Requires `Authorization: Bearer <ADMIN_TOKEN>`: 401 `unauthorized` when it is missing or wrong,
 * 503 `admin_not_configured` when the Worker has no ADMIN_TOKEN (the routes are then closed).
 */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return async function requireAdmin(c, next) {
    const expected = readConfig(c.env).adminToken;
    if (!expected) {
      throw new ApiError(503, 'admin_not_configured', 'this route needs ADMIN_TOKEN to be set on the Worker');
    }
    const given = bearerToken(c.req.header('authorization'));
    if (given === undefined || !(await tokenMatches(given, expected))) {
      throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <admin token>', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    await next();
  };
}
