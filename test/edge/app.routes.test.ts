import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import manifestJson from '../../models/koclip-tiny/manifest.json';
import { parseManifest, textTowerIdentity } from '../../src/core/manifest';
import { app } from '../../src/edge/app';
import { modelManifestKey } from '../../src/edge/inference/model-registry';

const tiny = parseManifest(manifestJson);
const BASE = 'http://edge.test';

interface ModelEntry {
  id: string;
  object: string;
  version: string;
  default: boolean;
  projection_dim: number;
  text: { placement: string; max_length: number; variants: string[]; default_variant: string };
}

describe('GET /v1/models', () => {
  it('lists the bundled default model with its manifest facts', async () => {
    const res = await exports.default.fetch(`${BASE}/v1/models`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; data: ModelEntry[] };
    expect(body.object).toBe('list');
    const model = body.data.find((m) => m.id === 'koclip-tiny');
    expect(model).toMatchObject({
      object: 'model',
      version: tiny.version,
      default: true,
      projection_dim: tiny.projection_dim,
      text: {
        placement: 'edge',
        max_length: tiny.text.max_length,
        default_variant: tiny.text.default_variant,
      },
    });
    expect(model?.text.variants.sort()).toEqual(Object.keys(tiny.text.files).sort());
  });

  it('lists models published to MODELS_BUCKET and skips broken ones', async () => {
    const copy = { ...structuredClone(tiny), id: 'koclip-listed' };
    await env.MODELS_BUCKET.put(modelManifestKey(copy.id), JSON.stringify(copy));
    await env.MODELS_BUCKET.put(modelManifestKey('koclip-garbled'), 'not json');
    const body = (await (await exports.default.fetch(`${BASE}/v1/models`)).json()) as { data: ModelEntry[] };
    const ids = body.data.map((m) => m.id);
    expect(ids).toContain('koclip-listed');
    expect(ids).not.toContain('koclip-garbled');
    expect(body.data.find((m) => m.id === 'koclip-listed')?.default).toBe(false);
  });

  it('retrieves one model, and 404s an unknown one', async () => {
    const one = await exports.default.fetch(`${BASE}/v1/models/koclip-tiny`);
    expect(((await one.json()) as ModelEntry).id).toBe('koclip-tiny');
    const missing = await exports.default.fetch(`${BASE}/v1/models/koclip-nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'unknown_model' } });
  });
});

describe('GET /healthz', () => {
  it('reports the default model and the text tower', async () => {
    const res = await exports.default.fetch(`${BASE}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ok',
      default_model: { id: 'koclip-tiny', version: tiny.version },
      text_tower: { runs: expect.any(Number), wasm_memory_bytes: expect.any(Number) },
    });
  });

  it('answers 500 misconfigured (generic, logged) when DEFAULT_MODEL is not a model id', async () => {
    const res = await app.fetch(new Request(`${BASE}/healthz`), { ...env, DEFAULT_MODEL: 'Not An Id!' });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      error: { code: 'misconfigured', message: 'the service is misconfigured' },
    });
  });
});

describe('debug route', () => {
  it('reports wasm memory when DEBUG_ROUTES=1', async () => {
    await exports.default.fetch(
      new Request(`${BASE}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: '빨간 원' }),
      }),
    );
    const res = await exports.default.fetch(`${BASE}/debug/text-tower`);
    const body = (await res.json()) as { wasm_memory_bytes: number; sessions: string[]; runs: number };
    expect(body.wasm_memory_bytes).toBeGreaterThan(1024 * 1024);
    expect(body.sessions).toContain(textTowerIdentity(tiny));
    expect(body.runs).toBeGreaterThan(0);
  });

  it('does not exist without DEBUG_ROUTES', async () => {
    const res = await app.fetch(new Request(`${BASE}/debug/text-tower`), { ...env, DEBUG_ROUTES: undefined });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});

describe('OpenAPI document and docs page', () => {
  it('documents the routes at /openapi.json', async () => {
    const res = await exports.default.fetch(`${BASE}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/embeddings', '/v1/models', '/v1/models/{id}', '/healthz']),
    );
    expect(doc.paths['/v1/embeddings']?.post).toBeDefined();
    expect(doc.paths['/debug/text-tower']).toBeUndefined();
  });

  it("serves the API reference (Swagger UI, from the Worker's own assets) at /docs", async () => {
    const res = await exports.default.fetch(`${BASE}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('<div id="swagger-ui">');
    // Scripts and styles come from the Worker itself, never a CDN.
    for (const [, src] of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(src).toMatch(/^\//);
    const init = await env.ASSETS.fetch(`${BASE}/docs/init.js`);
    expect(await init.text()).toContain("url: '/openapi.json'");
  });
});
