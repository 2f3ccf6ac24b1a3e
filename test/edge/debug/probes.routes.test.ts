import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { app } from '../../../src/edge/app';

const BASE = 'http://edge.test';
const post = (path: string, body: unknown) =>
  new Request(`${BASE}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('benchmark probes (src/edge/debug/route.ts)', () => {
  it.each([
    ['/debug/tower/session', { key: 'bench/x.onnx' }],
    ['/debug/tower/run', { tokens: 16, runs: 1 }],
    ['/debug/repeat', { method: 'GET', path: '/v1/models', n: 1 }],
  ])('%s does not exist without DEBUG_ROUTES', async (path, body) => {
    const res = await app.fetch(post(path, body), { ...env, DEBUG_ROUTES: undefined });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('repeats a request through the app and counts its statuses', async () => {
    const res = await exports.default.fetch(
      post('/debug/repeat', { method: 'GET', path: '/v1/models', n: 5 }),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      n: number;
      per_request_ms: number;
      statuses: Record<string, number>;
    };
    expect(body).toMatchObject({ n: 5, statuses: { '200': 5 } });
    expect(body.per_request_ms).toBeGreaterThanOrEqual(0);
  });

  it('refuses a path outside /v1, a run before a session and a tower that is not in R2', async () => {
    expect((await exports.default.fetch(post('/debug/repeat', { path: '/debug/repeat', n: 1 }))).status).toBe(
      400,
    );
    expect((await exports.default.fetch(post('/debug/tower/run', { tokens: 16, runs: 1 }))).status).toBe(409);
    const missing = await exports.default.fetch(post('/debug/tower/session', { key: 'bench/none.onnx' }));
    expect(missing.status).toBe(404);
  });

  it('is not in the OpenAPI document', async () => {
    const doc = (await (await exports.default.fetch(`${BASE}/openapi.json`)).json()) as { paths: object };
    expect(
      Object.keys(doc.paths).filter((p) => p.startsWith('/debug/tower') || p === '/debug/repeat'),
    ).toEqual([]);
  });
});
