/**
 * The bearer check of /v1 (and of /metrics when ENCODER_METRICS_AUTH is set): Hono's bearer-auth
 * compares the token (hashed, in constant time); its refusals, plain-text 400 or 401, become one
 * 401 `unauthorized` in the error envelope, so a client cannot tell a malformed header from a
 * wrong token.
 */
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import { EncoderError } from './errors';

export function requireToken(token: string): MiddlewareHandler {
  const check = bearerAuth({ token });
  return async function requireToken(c, next) {
    try {
      // Only the check runs inside: the route's own errors never pass through this catch.
      await check(c, async () => {});
    } catch (error) {
      if (!(error instanceof HTTPException)) throw error;
      throw new EncoderError(401, 'unauthorized', 'a valid bearer token is required', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    await next();
  };
}
