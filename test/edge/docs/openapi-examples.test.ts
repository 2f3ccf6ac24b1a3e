/**
 * The API reference shows an example of every request and answer: each JSON request body and
 * each 2xx JSON response of every operation in /openapi.json carries `example` or `examples`
 * (their values live in src/edge/docs/examples.ts).
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';

interface Media {
  schema?: unknown;
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Operation {
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
}

const hasExample = (m: Media) => m.example !== undefined || Object.keys(m.examples ?? {}).length > 0;

describe('OpenAPI examples', () => {
  it('every JSON request body and 2xx JSON response has an example', async () => {
    const doc = (await (await exports.default.fetch('http://worker.test/openapi.json')).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const missing: string[] = [];
    let checked = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const json = op.requestBody?.content['application/json'];
        if (json) {
          checked++;
          if (!hasExample(json)) missing.push(`${method.toUpperCase()} ${path} request`);
        }
        for (const [status, response] of Object.entries(op.responses)) {
          const body = response.content?.['application/json'];
          if (!status.startsWith('2') || !body) continue;
          checked++;
          if (!hasExample(body)) missing.push(`${method.toUpperCase()} ${path} ${status}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(12);
  });

  it('shows the JSON image forms (data: URL and image_base64) among the search examples', async () => {
    const doc = (await (await exports.default.fetch('http://worker.test/openapi.json')).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const examples = doc.paths['/v1/search']?.post?.requestBody?.content['application/json']?.examples ?? {};
    const values = Object.values(examples).map((e) => JSON.stringify(e.value));
    expect(values.some((v) => v.includes('data:image/png;base64,'))).toBe(true);
    const score = doc.paths['/v1/score']?.post?.requestBody?.content['application/json']?.examples ?? {};
    expect(Object.values(score).some((e) => JSON.stringify(e.value).includes('image_base64'))).toBe(true);
  });
});
