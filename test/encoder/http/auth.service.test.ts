/**
 * Bearer auth: every /v1 route answers 401 `unauthorized` (with `WWW-Authenticate: Bearer`)
 * without the right token, whether the header is missing, malformed or wrong; /healthz and
 * /metrics are open by default and closed with ENCODER_METRICS_AUTH=true.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEncoder, startEncoder, TOKEN } from '../support/service-process';

let encoder: RunningEncoder;
let png = Buffer.alloc(0);
beforeAll(async () => {
  encoder = await startEncoder({ ENCODER_METRICS_AUTH: 'true' });
  png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
});
afterAll(() => encoder.stop());

describe('auth', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['wrong token', { authorization: 'Bearer wrong-token-123456' }],
    ['token with another scheme', { authorization: `Basic ${TOKEN}` }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['token prefix', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
  ];
  it.each(cases)('%s -> 401 unauthorized', async (_name, headers) => {
    for (const path of ['/v1/embed/image', '/v1/embed/text']) {
      const res = await encoder.call(path, {
        method: 'POST',
        body: new Uint8Array(png),
        headers: { ...headers, 'content-type': 'image/png' },
        auth: false,
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    }
  });
  it('the right token is accepted', async () => {
    const res = await encoder.call('/v1/embed/image', {
      method: 'POST',
      body: new Uint8Array(png),
      headers: { 'content-type': 'image/png' },
    });
    expect(res.status).toBe(200);
  });
  it('/healthz needs no token; /metrics does when ENCODER_METRICS_AUTH=true', async () => {
    expect((await encoder.call('/healthz', { auth: false })).status).toBe(200);
    const closed = await encoder.call('/metrics', { auth: false });
    expect(closed.status).toBe(401);
    expect(await closed.json()).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await encoder.call('/metrics')).status).toBe(200);
  });
});
