/** POST /v1/patches with the image as base64 in the JSON body: the encoder gets the bytes and the grid. */
import { exports } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandIn } from '../support/encoder-stand-in';
import { demoImages, installDemoEncoder } from '../support/search-fixtures';

const base64 = (buffer: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)));

async function patches(body: unknown) {
  const response = await exports.default.fetch(
    new Request('http://worker.test/v1/patches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
  return { status: response.status, body: (await response.json()) as { scores: number[][]; rows: number } };
}

let standIn: StandIn;
beforeAll(async () => {
  standIn = await installDemoEncoder();
});
afterAll(() => standIn.restore());

describe('POST /v1/patches with the image in the JSON body', () => {
  it('scores the cells of an image_base64 image as it does an upload', async () => {
    const image = base64(demoImages['demo-0013'] as ArrayBuffer);
    const bare = await patches({ image_base64: image, text: '빨간 원', rows: 2, cols: 3 });
    expect(bare.status).toBe(200);
    expect(bare.body.scores.map((r) => r.length)).toEqual([3, 3]);
    expect(standIn.calls.at(-1)?.url).toMatch(/\/v1\/embed\/image\?model=koclip-tiny&grid=2x3$/);
    const dataUrl = await patches({
      image_url: `data:image/png;base64,${image}`,
      text: '빨간 원',
      rows: 2,
      cols: 3,
    });
    expect(dataUrl).toEqual(bare);
  });
});
