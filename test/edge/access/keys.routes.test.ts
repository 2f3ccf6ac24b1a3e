/**
 * API keys on the real bindings (the KeyRegistry and UsageCounter Durable Objects, the rate
 * limiting binding): the keys API, every route's scope, collection binding, revocation and
 * expiry, origins, AUTH_MODE, burst limits, exact quotas under concurrent requests, and CORS.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { CreatedKey, KeyView, Scope } from '../../../src/core/contract/key-schemas';
import { ROUTE_RULES, ruleOf } from '../../../src/edge/access';
import { keyRegistry } from '../../../src/edge/access/key-registry';
import { newKey, sha256Hex } from '../../../src/edge/access/secrets';
import { app } from '../../../src/edge/app';

const BASE = 'http://worker.test';
const ADMIN = 'Bearer test-admin-token';
type Vars = Record<string, unknown>;

async function send(
  path: string,
  init: RequestInit & { auth?: string } = {},
  vars: Vars = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.auth) headers.set('authorization', init.auth);
  if (init.body && typeof init.body === 'string') headers.set('content-type', 'application/json');
  return app.fetch(new Request(`${BASE}${path}`, { ...init, headers }), {
    ...env,
    AUTH_MODE: 'keys',
    ...vars,
  });
}

async function codeOf(res: Response): Promise<string | undefined> {
  const text = await res.text();
  try {
    return (JSON.parse(text) as { error?: { code: string } }).error?.code;
  } catch {
    return undefined;
  }
}

async function createKey(body: Record<string, unknown>): Promise<CreatedKey> {
  const res = await send('/v1/keys', { method: 'POST', auth: ADMIN, body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as CreatedKey;
}

const json = (method: string, body: unknown) => ({ method, body: JSON.stringify(body) });

/** One concrete request per route of the document, with the scope it needs. */
const ROUTES: {
  name: string;
  scope: Scope | 'global-admin';
  path: (c: string) => string;
  init: () => RequestInit;
}[] = [
  { name: 'GET /v1/models', scope: 'search', path: () => '/v1/models', init: () => ({}) },
  { name: 'GET /v1/models/{id}', scope: 'search', path: () => '/v1/models/koclip-tiny', init: () => ({}) },
  {
    name: 'POST /v1/embeddings',
    scope: 'search',
    path: () => '/v1/embeddings',
    init: () => json('POST', { input: '빨간 원' }),
  },
  {
    name: 'GET /v1/search',
    scope: 'search',
    path: (c) => `/v1/search?q=%EC%9B%90&collection=${c}`,
    init: () => ({}),
  },
  {
    name: 'POST /v1/search',
    scope: 'search',
    path: () => '/v1/search',
    init: () => json('POST', { text: '원' }),
  },
  {
    name: 'POST /v1/score',
    scope: 'search',
    path: () => '/v1/score',
    init: () => json('POST', { image_id: 'x', captions: ['원'] }),
  },
  {
    name: 'POST /v1/patches',
    scope: 'search',
    path: () => '/v1/patches',
    init: () => json('POST', { image_id: 'x', text: '원' }),
  },
  {
    name: 'GET /v1/images/{id}/content',
    scope: 'search',
    path: (c) => `/v1/images/x/content?collection=${c}`,
    init: () => ({}),
  },
  {
    name: 'PUT /v1/images/{id}',
    scope: 'ingest',
    path: (c) => `/v1/images/x?collection=${c}`,
    init: () => ({
      method: 'PUT',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array([1, 2, 3]),
    }),
  },
  {
    name: 'GET /v1/images/{id}',
    scope: 'ingest',
    path: (c) => `/v1/images/x?collection=${c}`,
    init: () => ({}),
  },
  {
    name: 'DELETE /v1/images/{id}',
    scope: 'ingest',
    path: (c) => `/v1/images/x?collection=${c}`,
    init: () => ({ method: 'DELETE' }),
  },
  {
    name: 'GET /v1/index/stats',
    scope: 'admin',
    path: (c) => `/v1/index/stats?collection=${c}`,
    init: () => ({}),
  },
  { name: 'GET /v1/admin/errors', scope: 'global-admin', path: () => '/v1/admin/errors', init: () => ({}) },
  { name: 'GET /v1/collections/{c}', scope: 'admin', path: (c) => `/v1/collections/${c}`, init: () => ({}) },
  {
    name: 'PUT /v1/collections/{c}',
    scope: 'admin',
    path: (c) => `/v1/collections/${c}`,
    init: () => json('PUT', { model: 'nope' }),
  },
  {
    name: 'POST /v1/collections/{c}/migrations',
    scope: 'admin',
    path: (c) => `/v1/collections/${c}/migrations`,
    init: () => json('POST', { to: { model: 'nope' } }),
  },
  {
    name: 'GET /v1/collections/{c}/migrations/{id}',
    scope: 'admin',
    path: (c) => `/v1/collections/${c}/migrations/m1-00000000`,
    init: () => ({}),
  },
  {
    name: 'POST /v1/collections/{c}/migrations/{id}/rollback',
    scope: 'admin',
    path: (c) => `/v1/collections/${c}/migrations/m1-00000000/rollback`,
    init: () => ({ method: 'POST' }),
  },
  { name: 'GET /v1/keys', scope: 'global-admin', path: () => '/v1/keys', init: () => ({}) },
  {
    name: 'POST /v1/keys',
    scope: 'global-admin',
    path: () => '/v1/keys',
    init: () => json('POST', { name: 'x', scopes: ['search'] }),
  },
  {
    name: 'DELETE /v1/keys/{id}',
    scope: 'global-admin',
    path: () => '/v1/keys/k_00000000000000ff',
    init: () => ({ method: 'DELETE' }),
  },
];

describe('the route table', () => {
  it('gives every /v1 operation of /openapi.json a rule, and this test a request for each', async () => {
    const doc = (await (await app.fetch(new Request(`${BASE}/openapi.json`), env)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const v1 = operations.filter((o) => o.split(' ')[1]?.startsWith('/v1/'));
    expect(v1.length).toBeGreaterThan(15);
    for (const op of v1) {
      const [method, path] = op.split(' ') as [string, string];
      const concrete = path.replace(/\{[^}]+\}/g, 'x1');
      expect(ruleOf(method, concrete), op).toBeDefined();
    }
    const tested = new Set(ROUTES.map((r) => r.name.replace(/\{[^}]+\}/g, '{}')));
    for (const op of v1.filter((o) => !o.includes('/webhooks/'))) {
      expect(tested.has(op.replace(/\{[^}]+\}/g, '{}')), op).toBe(true);
    }
    expect(ROUTE_RULES.length).toBeGreaterThan(10);
  });
});

describe('keys API', () => {
  it('creates a key whose secret is answered once, lists it without a secret, and revokes it', async () => {
    const created = await createKey({ name: 'shop', scopes: ['search'], collections: ['shop'] });
    expect(created.key).toMatch(/^koclip_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(created.id).toMatch(/^k_[0-9a-f]{16}$/);
    const listed = (await (await send('/v1/keys', { auth: ADMIN })).json()) as {
      data: Record<string, unknown>[];
    };
    const entry = listed.data.find((k) => k.id === created.id);
    expect(entry).toMatchObject({
      name: 'shop',
      scopes: ['search'],
      collections: ['shop'],
      revoked_at: null,
    });
    expect(JSON.stringify(listed)).not.toContain(created.key);
    expect(entry).not.toHaveProperty('hash');
    expect(entry).not.toHaveProperty('key');

    const ok = await send('/v1/models', { auth: `Bearer ${created.key}` });
    expect(ok.status).toBe(200);
    const revoked = await send(`/v1/keys/${created.id}`, { method: 'DELETE', auth: ADMIN });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as KeyView).revoked_at).not.toBeNull();
    const after = await send('/v1/models', { auth: `Bearer ${created.key}` });
    expect(after.status).toBe(401);
    expect(await codeOf(after)).toBe('key_revoked');
    expect((await send('/v1/keys/k_00000000000000aa', { method: 'DELETE', auth: ADMIN })).status).toBe(404);
  });

  it('refuses bad bodies: unknown scopes, origins on non-search keys, a past expiry, unknown fields', async () => {
    for (const body of [
      { name: 'x', scopes: ['root'] },
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['ingest'], origins: ['https://a.example'] },
      { name: 'x', scopes: ['search'], origins: ['https://a.example/path'] },
      { name: 'x', scopes: ['search'], expires_at: '2000-01-01T00:00:00Z' },
      { name: 'x', scopes: ['search'], secret: 'mine' },
      { name: 'x', scopes: ['search'], limits: { requests_per_day: 0 } },
    ]) {
      const res = await send('/v1/keys', { method: 'POST', auth: ADMIN, body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('a revocation made by another isolate is seen here within KEY_CACHE_S', async () => {
    const created = await createKey({ name: 'cached', scopes: ['search'] });
    const vars = { KEY_CACHE_S: '1' };
    expect((await send('/v1/models', { auth: `Bearer ${created.key}` }, vars)).status).toBe(200);
    // Revoked at the registry directly, as the DELETE route of another isolate does: this
    // isolate's cached copy may answer until it is KEY_CACHE_S old, never after.
    await keyRegistry(env).revoke(created.id);
    await new Promise((r) => setTimeout(r, 1050));
    const after = await send('/v1/models', { auth: `Bearer ${created.key}` }, vars);
    expect([after.status, await codeOf(after)]).toEqual([401, 'key_revoked']);
  });

  it('refuses an expired key with key_expired, and a wrong secret of a known id with unauthorized', async () => {
    const { id, secret, prefix } = newKey();
    await keyRegistry(env).create({
      id,
      name: 'old',
      hash: await sha256Hex(secret),
      prefix,
      scopes: ['search'],
      collections: null,
      origins: null,
      expires_at: Date.now() - 1000,
      limits: {},
      created_at: Date.now() - 10_000,
      revoked_at: null,
    });
    const res = await send('/v1/models', { auth: `Bearer ${secret}` });
    expect(res.status).toBe(401);
    expect(await codeOf(res)).toBe('key_expired');
    const forged = `${secret.slice(0, -4)}AAAA`;
    const wrong = await send('/v1/models', { auth: `Bearer ${forged}` });
    expect(wrong.status).toBe(401);
    expect(await codeOf(wrong)).toBe('unauthorized');
    expect((await send('/v1/models', { auth: 'Bearer koclip_nope' })).status).toBe(401);
  });
});

describe('scopes, on every route', () => {
  it('allows each route to a key with its scope and refuses it to keys without', async () => {
    const keys = {
      search: (await createKey({ name: 's', scopes: ['search'] })).key,
      ingest: (await createKey({ name: 'i', scopes: ['ingest'] })).key,
      admin: (await createKey({ name: 'a', scopes: ['admin'] })).key,
    };
    for (const route of ROUTES) {
      const needed: Scope = route.scope === 'global-admin' ? 'admin' : route.scope;
      for (const [scope, key] of Object.entries(keys)) {
        const res = await send(route.path('default'), { ...route.init(), auth: `Bearer ${key}` });
        const allowed = scope === needed || scope === 'admin';
        if (allowed) expect([401, 403], `${route.name} with ${scope}`).not.toContain(res.status);
        else {
          expect(res.status, `${route.name} with ${scope}`).toBe(403);
          expect(await codeOf(res)).toBe('insufficient_scope');
        }
      }
    }
  });

  it('AUTH_MODE=keys refuses anonymous callers everywhere; open lets them read only', async () => {
    for (const route of ROUTES) {
      const closed = await send(route.path('default'), route.init(), { AUTH_MODE: 'keys' });
      expect(closed.status, route.name).toBe(401);
      expect(closed.headers.get('www-authenticate')).toBe('Bearer');
      const open = await send(route.path('default'), route.init(), { AUTH_MODE: 'open' });
      if (route.scope === 'search') expect([401, 403], route.name).not.toContain(open.status);
      else expect(open.status, route.name).toBe(401);
    }
  });
});

describe('a key bound to collections', () => {
  it('gets nothing of another collection on any route, and keeps its own', async () => {
    const bound = (
      await createKey({ name: 'a-only', scopes: ['search', 'ingest', 'admin'], collections: ['coll-a'] })
    ).key;
    const withBody = (init: RequestInit, collection: string): RequestInit => {
      if (typeof init.body !== 'string') return init;
      return { ...init, body: JSON.stringify({ ...JSON.parse(init.body), collection }) };
    };
    for (const route of ROUTES) {
      if (route.name.startsWith('GET /v1/models') || route.name === 'POST /v1/embeddings') continue;
      const other = await send(route.path('coll-b'), {
        ...withBody(route.init(), 'coll-b'),
        auth: `Bearer ${bound}`,
      });
      const code = await codeOf(other);
      if (route.scope === 'global-admin') {
        expect([other.status, code], route.name).toEqual([403, 'insufficient_scope']);
        continue;
      }
      expect([other.status, code], route.name).toEqual([403, 'collection_forbidden']);
      const own = await send(route.path('coll-a'), {
        ...withBody(route.init(), 'coll-a'),
        auth: `Bearer ${bound}`,
      });
      expect([401, 403], route.name).not.toContain(own.status);
    }
    // Naming no collection means `default`, which is not its own.
    const unnamed = await send('/v1/search?q=x', { auth: `Bearer ${bound}` });
    expect(await codeOf(unnamed)).toBe('collection_forbidden');
  });
});

describe('origins', () => {
  it('a browser key answers only its origins', async () => {
    const key = (await createKey({ name: 'web', scopes: ['search'], origins: ['https://shop.example'] })).key;
    expect(
      (await send('/v1/models', { auth: `Bearer ${key}`, headers: { origin: 'https://shop.example' } }))
        .status,
    ).toBe(200);
    const foreign = await send('/v1/models', {
      auth: `Bearer ${key}`,
      headers: { origin: 'https://evil.example' },
    });
    expect([foreign.status, await codeOf(foreign)]).toEqual([403, 'origin_not_allowed']);
    const none = await send('/v1/models', { auth: `Bearer ${key}` });
    expect(none.status).toBe(403);
    // A same-origin GET carries no Origin, only the page in Referer.
    const sameOrigin = await send('/v1/models', {
      auth: `Bearer ${key}`,
      headers: { referer: 'https://shop.example/search?q=1' },
    });
    expect(sameOrigin.status).toBe(200);
    const otherPage = await send('/v1/models', {
      auth: `Bearer ${key}`,
      headers: { referer: 'https://evil.example/shop.example' },
    });
    expect(otherPage.status).toBe(403);
  });
});

describe('limits and quotas', () => {
  it('answers 429 rate_limited with Retry-After once the burst limit is passed', async () => {
    const key = (await createKey({ name: 'burst', scopes: ['search'] })).key;
    const vars = { RATE_LIMIT: (env as unknown as { RATE_LIMIT_TEST: RateLimit }).RATE_LIMIT_TEST };
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await send('/v1/models', { auth: `Bearer ${key}` }, vars);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(last?.headers.get('retry-after')).toBe('60');
    expect(await codeOf(last as Response)).toBe('rate_limited');
    // The admin token is not limited.
    expect((await send('/v1/models', { auth: ADMIN }, vars)).status).toBe(200);
  });

  it('counts a daily request quota exactly under concurrent requests', async () => {
    const created = await createKey({ name: 'quota', scopes: ['search'], limits: { requests_per_day: 5 } });
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => send('/v1/models', { auth: `Bearer ${created.key}` })),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    const refused = answers.find((r) => r.status === 429) as Response;
    expect(await codeOf(refused)).toBe('quota_exceeded');
    const retry = Number(refused.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(86_400);
    const listed = (await (await send('/v1/keys', { auth: ADMIN })).json()) as { data: KeyView[] };
    expect(listed.data.find((k) => k.id === created.id)?.usage_today.requests).toBe(5);
  });

  it('counts encoder work apart: query images past encoder_per_day are refused before the encoder', async () => {
    const created = await createKey({ name: 'enc', scopes: ['search'], limits: { encoder_per_day: 2 } });
    const auth = `Bearer ${created.key}`;
    const body = { image_url: 'data:image/png;base64,iVBORw0KGgo=', captions: ['원'] };
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++)
      codes.push(await codeOf(await send('/v1/score', { ...json('POST', body), auth })));
    expect(codes[0]).not.toBe('quota_exceeded');
    expect(codes[1]).not.toBe('quota_exceeded');
    expect(codes[2]).toBe('quota_exceeded');
    // Text work is not encoder work.
    expect((await send('/v1/embeddings', { ...json('POST', { input: '원' }), auth })).status).toBe(200);
    const listed = (await (await send('/v1/keys', { auth: ADMIN })).json()) as { data: KeyView[] };
    expect(listed.data.find((k) => k.id === created.id)?.usage_today.encoder).toBe(2);
  });
});

describe('CORS', () => {
  const preflight = (path: string, method: string, origin: string, vars: Vars = {}) =>
    send(
      path,
      {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': method,
          'access-control-request-headers': 'authorization',
        },
      },
      vars,
    );

  it('refuses admin and ingest preflights from a foreign origin and admits the read routes', async () => {
    for (const [path, method] of [
      ['/v1/keys', 'POST'],
      ['/v1/images/x', 'PUT'],
      ['/v1/images/x', 'DELETE'],
      ['/v1/index/stats', 'GET'],
      ['/v1/collections/a', 'PUT'],
    ] as const) {
      const res = await preflight(path, method, 'https://evil.example');
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    const read = await preflight('/v1/search', 'POST', 'https://evil.example');
    expect(read.status).toBe(204);
    expect(read.headers.get('access-control-allow-origin')).toBe('*');
    const admitted = await preflight('/v1/keys', 'POST', 'https://admin.example', {
      CORS_ADMIN_ORIGINS: 'https://admin.example',
    });
    expect(admitted.status).toBe(204);
    expect(admitted.headers.get('access-control-allow-origin')).toBe('https://admin.example');
  });
});
