/**
 * Images inside JSON bodies (as OpenAI's vision API takes them): `image_base64`, or a
 * `data:image/...;base64,` URL in `image_url`, answer exactly what the multipart upload answers.
 */
import { exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandIn } from '../support/encoder-stand-in';
import { demoImages, installDemoEncoder, seedDemoOnce } from '../support/search-fixtures';

interface SearchBody {
  query: { kind: string };
  results: { id: string; score: number }[];
}

const base64 = (buffer: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)));
const png = demoImages['demo-0005'] as ArrayBuffer;

async function search(init: RequestInit): Promise<{ status: number; body: SearchBody }> {
  const response = await exports.default.fetch(
    new Request('http://worker.test/v1/search', { method: 'POST', ...init }),
  );
  return { status: response.status, body: (await response.json()) as SearchBody };
}
const json = (body: unknown) =>
  search({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

let standIn: StandIn;
beforeAll(async () => {
  await seedDemoOnce();
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

describe('POST /v1/search with the image in the JSON body', () => {
  it('image_base64, a data: URL and the multipart upload give the same results', async () => {
    const form = new FormData();
    form.set('image', new File([png], 'x.png', { type: 'image/png' }));
    form.set('k', '5');
    const upload = await search({ body: form });
    const bare = await json({ image_base64: base64(png), k: 5 });
    const dataUrl = await json({ image_url: `data:image/png;base64,${base64(png)}`, k: 5 });
    expect(upload.status).toBe(200);
    expect(bare).toEqual(upload);
    expect(dataUrl).toEqual(upload);
    expect(bare.body.query.kind).toBe('image');
    expect(bare.body.results[0]?.id).toBe('demo-0005');
  });

  it('sends the decoded bytes to the encoder, not the data URL', async () => {
    const before = standIn.calls.length;
    const { status } = await json({ image_url: `data:image/png;base64,${base64(png)}`, k: 1 });
    expect(status).toBe(200);
    expect(standIn.calls.length).toBe(before + 1);
    expect(standIn.calls.at(-1)?.contentType).not.toBe('application/json');
  });

  it('takes base64 with line breaks and without padding, and a data URL with parameters', async () => {
    const text = base64(png);
    const wrapped = text.replace(/=+$/, '').replace(/(.{76})/g, '$1\n');
    const { status, body } = await json({ image_base64: wrapped, k: 1 });
    expect(status).toBe(200);
    expect(body.results[0]?.id).toBe('demo-0005');
    const withParams = await json({ image_url: `data:image/png;name=x.png;base64,${text}`, k: 1 });
    expect(withParams.status).toBe(200);
  });
});
