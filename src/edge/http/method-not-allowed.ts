/**
 * The answer for a request no route takes: 405 `method_not_allowed` with `Allow` when the path is
 * one of the app's routes under other methods only (RFC 9110 15.5.6), else 404 `not_found`. The
 * methods come from the app's own route table, so a new route is covered without a list here.
 */
import type { Context } from 'hono';
import { errorEnvelope } from '../../core/contract/errors';

interface RouteEntry {
  method: string;
  path: string;
}

/** `/v1/images/:id/content` -> /^\/v1\/images\/[^/]+\/content$/ (a `{regex}` after a param is dropped). */
function pathRegex(path: string): RegExp {
  const source = path
    .split('/')
    .map((part) => {
      if (part.startsWith(':')) return '[^/]+';
      if (part === '*') return '.*';
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

/** Per route table: the routes it was built from (a route added later rebuilds it) and its entries. */
const tables = new WeakMap<
  readonly RouteEntry[],
  { built: number; entries: { regex: RegExp; method: string }[] }
>();

/** The methods the app answers on `pathname` (HEAD with GET), sorted; empty for an unknown path. */
export function allowedMethods(routes: readonly RouteEntry[], pathname: string): string[] {
  let table = tables.get(routes);
  if (!table || table.built !== routes.length) {
    // Middleware is registered under method ALL: it answers nothing by itself. The /debug probes
    // are left out, so that a Worker without DEBUG_ROUTES gives no hint of them (404 on any method).
    const entries = routes
      .filter((r) => r.method !== 'ALL' && !r.path.startsWith('/debug/'))
      .map((r) => ({ regex: pathRegex(r.path), method: r.method }));
    table = { built: routes.length, entries };
    tables.set(routes, table);
  }
  const methods = new Set(table.entries.filter((r) => r.regex.test(pathname)).map((r) => r.method));
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

/** The app's notFound handler: 405 with `Allow` for a known path, 404 otherwise. */
export function notFoundOrNotAllowed(c: Context, routes: readonly RouteEntry[]): Response {
  const pathname = new URL(c.req.url).pathname;
  const allow = allowedMethods(routes, pathname);
  // A route of this method that answered notFound itself (a switched-off debug route) is a 404.
  if (allow.length > 0 && !allow.includes(c.req.method)) {
    return c.json(
      errorEnvelope(
        'method_not_allowed',
        `${c.req.method} is not allowed on ${pathname}: use ${allow.join(', ')}`,
      ),
      405,
      { Allow: allow.join(', ') },
    );
  }
  return c.json(errorEnvelope('not_found', `no route for ${c.req.method} ${pathname}`), 404);
}
