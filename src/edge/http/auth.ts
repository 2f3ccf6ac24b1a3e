/**
 * Bearer-token middleware of the write and admin routes (uploads, status, deletes, stats). The
 * token is ADMIN_TOKEN (readConfig), checked by Hono's bearer-auth (both sides hashed, then
 * compared in constant time); its refusals, plain-text 400 or 401, become one 401 `unauthorized`
 * ApiError, so the app's error handler answers the envelope and a client cannot tell a malformed
 * header from a wrong token.
 */
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import { BEARER_TOKEN_PATTERN } from '../../core/contract/encoder-api';
import { type AppEnv, readConfig } from '../env';
import { ApiError } from './errors';

/**
 * Requires `Authorization: Bearer <ADMIN_TOKEN>`: 401 `unauthorized` when it is missing, malformed
 * or wrong, 503 `admin_not_configured` when the Worker has no ADMIN_TOKEN or one no bearer header
 * can carry (the routes are then closed).
 */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return async function requireAdmin(c, next) {
    const token = readConfig(c.env).adminToken;
    if (!token || !BEARER_TOKEN_PATTERN.test(token)) {
      throw new ApiError(
        503,
        'admin_not_configured',
        'this route needs ADMIN_TOKEN (letters, digits, - . _ ~ + /) to be set on the Worker',
      );
    }
    try {
      // The token comes with the request's env, so the check is made per request; only the check
      // runs inside this catch, never the route.
      await bearerAuth<AppEnv>({ token })(c, async () => {});
    } catch (error) {
      if (!(error instanceof HTTPException)) throw error;
      throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <admin token>', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    await next();
  };
}
