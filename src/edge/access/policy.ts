/**
 * What each /v1 route needs and the checks made before it runs: the route table (scope per
 * method and path), the caller's scope and collections, browser origins (CORS), burst limits
 * (the RATE_LIMIT binding) and exact daily quotas (usage-counter.ts). Routes read the caller
 * with `principalOf(c)`; the routes whose collection comes in a body check it with
 * `allowCollection`, and those that spend encoder work call `chargeEncoder` first.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { DEFAULT_COLLECTION } from '../../core/contract/ids';
import type { Scope } from '../../core/contract/key-schemas';
import type { AppEnv } from '../env';
import { ApiError } from '../http/errors';
import { callerOf, holds, identify, type Principal } from './principal';
import { accessSettings } from './settings';
import { secondsToUtcMidnight, type UsageKind, usageCounter, utcDay } from './usage-counter';

/**
 * `global-admin`: the admin scope on a key bound to no collection (the key routes: a bound key
 * must not mint an unbound one; the isolate's error counts, which span collections).
 */
export type Need = Scope | 'global-admin' | 'signed';

interface Rule {
  methods: readonly string[];
  path: RegExp;
  need: Need;
}

/** Every /v1 route and what it needs; test/edge/access checks that it covers /openapi.json. */
export const ROUTE_RULES: readonly Rule[] = [
  { methods: ['GET'], path: /^\/v1\/models(\/[^/]+)?$/, need: 'search' },
  { methods: ['POST'], path: /^\/v1\/embeddings$/, need: 'search' },
  { methods: ['GET', 'POST'], path: /^\/v1\/search$/, need: 'search' },
  { methods: ['POST'], path: /^\/v1\/score$/, need: 'search' },
  { methods: ['POST'], path: /^\/v1\/patches$/, need: 'search' },
  { methods: ['GET'], path: /^\/v1\/images\/.+\/content$/, need: 'search' },
  { methods: ['PUT', 'GET', 'DELETE'], path: /^\/v1\/images\/[^/]+$/, need: 'ingest' },
  { methods: ['GET'], path: /^\/v1\/index\/stats$/, need: 'admin' },
  // Error answers by code in the answering isolate (http/request-log.ts).
  { methods: ['GET'], path: /^\/v1\/admin\/errors$/, need: 'global-admin' },
  { methods: ['GET', 'POST'], path: /^\/v1\/keys$/, need: 'global-admin' },
  { methods: ['DELETE'], path: /^\/v1\/keys\/[^/]+$/, need: 'global-admin' },
  { methods: ['GET', 'PUT', 'POST'], path: /^\/v1\/collections\/.+$/, need: 'admin' },
  // Signed with WEBHOOK_SECRET (ingest/webhook-route.ts), not with a key.
  { methods: ['POST'], path: /^\/v1\/webhooks\/[^/]+$/, need: 'signed' },
];

/** The rule of a method and path; undefined for what no route answers (404/405 follow). */
export function ruleOf(method: string, path: string): Rule | undefined {
  return ROUTE_RULES.find((r) => r.methods.includes(method) && r.path.test(path));
}

declare module 'hono' {
  interface ContextVariableMap {
    /** The caller, set by `authorize()` on every /v1 route. */
    principal: Principal;
    /**
     * What the caller's limits and quotas count against (`callerOf`: `key:<id>`, `ip:<address>`,
     * `admin`, `anonymous`), set with `principal`; the encoder's per-client cap counts it too.
     */
    caller: string;
  }
}

/** The caller of this request (anonymous when no /v1 middleware identified one). */
export function principalOf(c: Context): Principal {
  return c.get('principal') ?? { kind: 'anonymous', ip: null };
}

/**
 * Refuses a request whose caller may not touch `collection` (absent: `default`); the name
 * otherwise. Keys bound to collections see nothing of the others, on every route.
 */
export function allowCollection(c: Context, collection: string | undefined): string {
  const name = collection ?? DEFAULT_COLLECTION;
  const p = principalOf(c);
  if (p.kind === 'key' && p.key.collections && !p.key.collections.includes(name)) {
    throw new ApiError(
      403,
      'collection_forbidden',
      `API key ${p.key.id} may not use collection '${name}' (name one of its collections with collection=)`,
    );
  }
  return name;
}

/** Runs `work` after the response when the runtime offers that, else now (tests without a context). */
function later(c: Context, work: Promise<unknown>): void {
  const quiet = work.catch((error) => console.error('usage count failed', error));
  try {
    c.executionCtx.waitUntil(quiet);
  } catch {
    // No execution context (app.fetch in tests): the promise runs on its own.
  }
}

/** The caller's daily limit of `kind` (null: none) and the counter id, or null when not counted. */
function quotaOf(
  c: Context<AppEnv>,
  p: Principal,
  kind: UsageKind,
): { caller: string; limit: number | null } | null {
  if (p.kind === 'key') {
    const limit = kind === 'requests' ? p.key.limits.requests_per_day : p.key.limits.encoder_per_day;
    return { caller: callerOf(p), limit: limit ?? null };
  }
  if (p.kind === 'anonymous' && p.ip) {
    const s = accessSettings(c.env);
    const limit = kind === 'requests' ? s.ANON_REQUESTS_PER_DAY : s.ANON_ENCODER_PER_DAY;
    return limit > 0 ? { caller: callerOf(p), limit } : null;
  }
  return null;
}

/**
 * What this isolate holds of a caller's day: units leased from its UsageCounter and not yet spent
 * (quotas), and units spent and not yet reported (no quota). One object call per lease or flush,
 * not per request: a request costs a Map lookup (bench:access).
 */
interface Pool {
  day: string;
  left: number;
  unreported: number;
  reportedAt: number;
}
const pools = new Map<string, Pool>();
const POOLS_MAX = 10_000;
/** Units of a caller without a quota are reported in batches of this many, or after FLUSH_MS. */
const FLUSH_UNITS = 50;
const FLUSH_MS = 10_000;

/** Units leased at a time: 1 for small quotas (exact to the unit), up to 100 for large ones. */
const leaseSize = (limit: number) => Math.max(1, Math.min(100, Math.floor(limit / 1000)));

function poolOf(caller: string, kind: UsageKind): Pool {
  const id = `${caller}|${kind}`;
  const day = utcDay(Date.now());
  let pool = pools.get(id);
  if (!pool || pool.day !== day) {
    if (pools.size >= POOLS_MAX) pools.clear();
    pool = { day, left: 0, unreported: 0, reportedAt: Date.now() };
    pools.set(id, pool);
  }
  return pool;
}

/** Counts `kind` for the caller; 429 `quota_exceeded` when its daily quota is spent. */
async function spend(c: Context<AppEnv>, kind: UsageKind): Promise<void> {
  const quota = quotaOf(c, principalOf(c), kind);
  if (!quota) return;
  const pool = poolOf(quota.caller, kind);
  if (quota.limit === null) {
    pool.unreported++;
    if (pool.unreported >= FLUSH_UNITS || Date.now() - pool.reportedAt >= FLUSH_MS) {
      const n = pool.unreported;
      pool.unreported = 0;
      pool.reportedAt = Date.now();
      later(c, usageCounter(c.env, quota.caller).lease(kind, n, null));
    }
    return;
  }
  if (pool.left > 0) {
    pool.left--;
    return;
  }
  const lease = await usageCounter(c.env, quota.caller).lease(kind, leaseSize(quota.limit), quota.limit);
  if (lease.granted === 0) {
    throw new ApiError(
      429,
      'quota_exceeded',
      `the daily quota of ${kind === 'requests' ? 'requests' : 'encoder work'} (${quota.limit}) is spent; it resets at 00:00 UTC`,
      { headers: { 'Retry-After': String(secondsToUtcMidnight(Date.now())) } },
    );
  }
  // Concurrent requests of this isolate may each have leased: what they do not use is kept.
  pool.left += lease.granted - 1;
}

/** Counts one unit of encoder work (a query image fetched or decoded) against the caller's quota. */
export function chargeEncoder(c: Context<AppEnv>): Promise<void> {
  return spend(c, 'encoder');
}

/** The RATE_LIMIT binding's window (wrangler.toml `simple.period`); the Retry-After of a burst refusal. */
const RATE_LIMIT_PERIOD_S = 60;

async function limitBurst(c: Context<AppEnv>, p: Principal): Promise<void> {
  if (p.kind === 'admin' || accessSettings(c.env).RATE_LIMITS === 'off') return;
  const limiter = c.env.RATE_LIMIT;
  if (!limiter) return;
  // Anonymous callers are limited per address; without one (outside Cloudflare) not at all.
  if (p.kind === 'anonymous' && !p.ip) return;
  const { success } = await limiter.limit({ key: callerOf(p) });
  if (!success) {
    throw new ApiError(
      429,
      'rate_limited',
      'too many requests; slow down and retry after the given seconds',
      {
        headers: { 'Retry-After': String(RATE_LIMIT_PERIOD_S) },
      },
    );
  }
}

/**
 * The /v1 gate: identifies the caller, refuses what its scope, mode or collections do not allow,
 * then applies the burst limit and the daily request quota.
 */
export function authorize(): MiddlewareHandler<AppEnv> {
  return async function authorize(c, next) {
    const rule = ruleOf(c.req.method, c.req.path);
    if (!rule || rule.need === 'signed') return next();
    const p = await identify(c);
    c.set('principal', p);
    c.set('caller', callerOf(p));
    const mode = accessSettings(c.env).AUTH_MODE;
    if (p.kind === 'anonymous' && !(mode === 'open' && rule.need === 'search')) {
      throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <API key or admin token>', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    if (p.kind === 'key') {
      const scope: Scope = rule.need === 'global-admin' ? 'admin' : rule.need;
      if (!holds(p, scope)) {
        throw new ApiError(
          403,
          'insufficient_scope',
          `API key ${p.key.id} lacks the ${scope} scope this route needs`,
        );
      }
      if (rule.need === 'global-admin' && p.key.collections) {
        throw new ApiError(
          403,
          'insufficient_scope',
          'a key bound to collections cannot use this route (it spans collections)',
        );
      }
      const pathCollection = /^\/v1\/collections\/([^/]+)/.exec(c.req.path)?.[1];
      if (pathCollection !== undefined) allowCollection(c, decodeURIComponent(pathCollection));
      // GET, PUT and DELETE routes name their collection in the query (absent: default); the POST
      // routes in their body, which they check themselves with allowCollection.
      const named = c.req.query('collection');
      const collectionFree =
        rule.need === 'global-admin' ||
        c.req.path.startsWith('/v1/models') ||
        c.req.path === '/v1/embeddings';
      if (
        pathCollection === undefined &&
        !collectionFree &&
        (named !== undefined || c.req.method !== 'POST')
      ) {
        allowCollection(c, named);
      }
    }
    await limitBurst(c, p);
    await spend(c, 'requests');
    await next();
  };
}

/**
 * CORS: the read routes answer every origin (keys used in browsers carry their own origins); the
 * admin, ingest and key routes only CORS_ADMIN_ORIGINS, and a preflight from any other origin is
 * refused with 403 `cors_forbidden`.
 */
export function corsPolicy(exposeHeaders: string[]): MiddlewareHandler<AppEnv> {
  const open = cors({
    origin: '*',
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposeHeaders,
  });
  return async function corsPolicy(c, next) {
    const origin = c.req.header('Origin');
    const method =
      c.req.method === 'OPTIONS' ? (c.req.header('Access-Control-Request-Method') ?? 'GET') : c.req.method;
    const rule = ruleOf(method.toUpperCase(), c.req.path);
    if (!rule || rule.need === 'search' || origin === undefined) return open(c, next);
    const admitted = accessSettings(c.env).CORS_ADMIN_ORIGINS;
    if (admitted.includes(origin)) {
      return cors({
        origin,
        allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
        allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
        exposeHeaders,
      })(c, next);
    }
    if (c.req.method === 'OPTIONS') {
      throw new ApiError(
        403,
        'cors_forbidden',
        `origin ${origin} may not call ${method} ${c.req.path} from a browser`,
      );
    }
    // A simple request from a foreign browser: answered without CORS headers, so the browser
    // hides the answer from the page (the credential check still applies).
    return next();
  };
}

/** Whether a search or score request hands the encoder an image (not an indexed image id). */
export function carriesImage(fields: {
  image_url?: unknown;
  image_base64?: unknown;
  image?: unknown;
}): boolean {
  return Boolean(fields.image_url || fields.image_base64 || fields.image);
}
