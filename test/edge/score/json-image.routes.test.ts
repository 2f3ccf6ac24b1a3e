/** POST /v1/score with the image as base64 in the JSON body: the same answer and cache entry as an upload. */
import { exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandIn } from '../support/encoder-stand-in';
import { demoImages, installDemoEncoder } from '../support/search-fixtures';

const base64 = (buffer: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)));
const png = demoImages['demo-0005'] as ArrayBuffer;

async function score(init: RequestInit) {
  const response = await exports.default.fetch(
    new Request('http://worker.test/v1/score', { method: 'POST', ...init }),
  );
  return { status: response.status, cache: response.headers.get('x-cache'), body: await response.json() };
}
const json = (body: unknown) =>
  score({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

let standIn: StandIn;
beforeAll(async () => {
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

describe('POST /v1/score with the image in the JSON body', () => {
  it('scores a data: URL, then serves the multipart upload of the same bytes from the cache', async () => {
    const captions = ['분홍색 원', `무작위 ${crypto.randomUUID()}`];
    const first = await json({ image_url: `data:image/png;base64,${base64(png)}`, captions });
    expect(first).toMatchObject({ status: 200, cache: 'MISS', body: { image: { kind: 'image' } } });
    expect((first.body as { probs: number[] }).probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    const form = new FormData();
    form.set('image', new File([png], 'a.png', { type: 'image/png' }));
    for (const c of captions) form.append('captions', c);
    const upload = await score({ body: form });
    expect(upload).toMatchObject({ status: 200, cache: 'HIT', body: first.body });
    const bare = await json({ image_base64: base64(png), captions });
    expect(bare).toMatchObject({ status: 200, cache: 'HIT', body: first.body });
  });
});
