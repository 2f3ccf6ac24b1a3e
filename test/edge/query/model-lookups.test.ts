/**
 * A request resolves its model once: the query context (or the route) looks it up in the registry
 * and every layer below (text embedder, text tower, tokenizer, encoder client) uses that handle.
 * Fresh texts each time, so the text tower really runs under the request being counted.
 */
import { exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryStats, resetRegistryStats } from '../../../src/edge/inference/model-registry';
import type { StandIn } from '../support/encoder-stand-in';
import { installDemoEncoder, seedDemoOnce } from '../support/search-fixtures';

let standIn: StandIn;
beforeAll(async () => {
  await seedDemoOnce();
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

let n = 0;
const fresh = (text: string) => `${text} ${'하나 둘 셋'.slice(0, (n++ % 5) + 1)} ${n}`;

async function lookupsOf(request: Request): Promise<number> {
  resetRegistryStats();
  const response = await exports.default.fetch(request);
  expect(response.status, await response.clone().text()).toBe(200);
  return registryStats().lookups;
}

describe('model look-ups per request', () => {
  it('one for a text search (GET /v1/search?q=)', async () => {
    const q = encodeURIComponent(fresh('빨간 원'));
    expect(await lookupsOf(new Request(`http://worker.test/v1/search?q=${q}&k=3`))).toBe(1);
  });

  it('one for a caption score (POST /v1/score, indexed image)', async () => {
    const body = {
      image_id: 'demo-0001',
      captions: [fresh('빨간 원'), fresh('파란 별')],
      prompt_template: '이것은 {} 이다.',
    };
    const request = new Request('http://worker.test/v1/score', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(await lookupsOf(request)).toBe(1);
  });

  it('one for text embeddings (POST /v1/embeddings)', async () => {
    const request = new Request('http://worker.test/v1/embeddings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: [fresh('초록 삼각형')], model: 'koclip-tiny' }),
    });
    expect(await lookupsOf(request)).toBe(1);
  });
});
