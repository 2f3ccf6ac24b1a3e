import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/edge/http/errors';
import {
  type EncoderClientConfig,
  embedImage,
  encoderConfigFromEnv,
} from '../../../src/edge/inference/encoder-client';
import type { StandIn, StandInMode } from '../support/encoder-stand-in';
import {
  demoImages,
  demoUrl,
  demoVector,
  ENCODER_BASE,
  ENCODER_TOKEN,
  installDemoEncoder,
  manifest,
} from '../support/search-fixtures';

const model = { model: manifest.id, version: manifest.version, dim: manifest.projection_dim };
const config: EncoderClientConfig = { url: ENCODER_BASE, token: ENCODER_TOKEN, timeoutMs: 300 };
const png = () => ({
  kind: 'bytes' as const,
  bytes: new Uint8Array(demoImages['demo-0001'] as ArrayBuffer),
  contentType: 'image/png',
});

let standIn: StandIn;
beforeEach(async () => {
  standIn = await installDemoEncoder();
});
afterEach(() => standIn.restore());

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('embedImage against the encoder contract', () => {
  it('sends raw bytes with the bearer token and model, and returns the embedding', async () => {
    const [item] = await embedImage(config, model, png());
    expect(Array.from(item?.embedding ?? [])).toEqual(Array.from(demoVector('demo-0001')));
    expect(item?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(standIn.calls).toEqual([
      {
        url: `${ENCODER_BASE}/v1/embed/image?model=${model.model}`,
        contentType: 'image/png',
        authorization: `Bearer ${ENCODER_TOKEN}`,
        // Outside a request's scope (http/request-context.ts) no request id, lane or client is sent.
        requestId: null,
        lane: null,
        client: null,
      },
    ]);
  });

  it('sends URLs as JSON for the encoder to fetch', async () => {
    const [item] = await embedImage(config, model, { kind: 'url', url: demoUrl('demo-0042') });
    expect(Array.from(item?.embedding ?? [])).toEqual(Array.from(demoVector('demo-0042')));
    expect(standIn.calls[0]?.contentType).toBe('application/json');
  });

  it('asks for a grid with ?grid=RxC and returns the cells in row-major order', async () => {
    const bytes = new Uint8Array(demoImages['demo-0013'] as ArrayBuffer);
    const cells = await embedImage(
      config,
      model,
      { kind: 'bytes', bytes, contentType: 'image/png' },
      { grid: { rows: 2, cols: 3 } },
    );
    expect(cells).toHaveLength(6);
    expect(Array.from(cells[4]?.embedding ?? [])).toEqual(Array.from(demoVector('demo-0004')));
    expect(standIn.calls[0]?.url).toContain('grid=2x3');
  });

  const broken: [StandInMode, number, string][] = [
    ['hang', 504, 'encoder_timeout'],
    ['slow-body', 504, 'encoder_timeout'],
    ['status500', 502, 'encoder_error'],
    ['status503', 502, 'encoder_error'],
    ['not-json', 502, 'encoder_bad_response'],
    ['bad-shape', 502, 'encoder_bad_response'],
    ['wrong-version', 502, 'encoder_model_mismatch'],
    ['wrong-dim', 502, 'encoder_model_mismatch'],
    ['unauthorized', 502, 'encoder_auth_failed'],
  ];
  it.each(broken)('an encoder that answers %s -> %i %s', async (mode, status, code) => {
    standIn.mode = mode;
    const error = await failure(embedImage(config, model, png()));
    expect({ status: error.status, code: error.code }).toEqual({ status, code });
    expect(error.message).not.toMatch(/undefined/);
  });

  it('an unreachable encoder -> 502 encoder_unreachable', async () => {
    const error = await failure(embedImage({ ...config, url: 'http://elsewhere.test' }, model, png()));
    expect({ status: error.status, code: error.code }).toEqual({ status: 502, code: 'encoder_unreachable' });
  });

  it("passes the encoder's 422 on the image through; a URL it could not fetch is 422 image_fetch_failed with the reason", async () => {
    const garbage = { kind: 'bytes' as const, bytes: new Uint8Array([1, 2, 3]), contentType: 'image/png' };
    expect(await failure(embedImage(config, model, garbage))).toMatchObject({
      status: 422,
      code: 'unsupported_format',
    });
    const missing = { kind: 'url' as const, url: 'https://images.test/nope.png' };
    expect(await failure(embedImage(config, model, missing))).toMatchObject({
      status: 422,
      code: 'image_fetch_failed',
      message: expect.stringContaining('fetch_failed'),
    });
  });

  it('refuses an answer with the wrong number of embeddings', async () => {
    standIn.mode = 'wrong-count';
    expect(await failure(embedImage(config, model, png()))).toMatchObject({
      status: 502,
      code: 'encoder_bad_response',
    });
  });

  it('answers 422 for a per-item error in a 200 answer', async () => {
    standIn.mode = 'item-error';
    expect(await failure(embedImage(config, model, png()))).toMatchObject({
      status: 422,
      code: 'truncated_image',
    });
  });
});

describe('encoderConfigFromEnv', () => {
  it('reads URL, token and timeout', () => {
    expect(
      encoderConfigFromEnv({ ENCODER_URL: 'http://e.test/', ENCODER_TOKEN: 't', ENCODER_TIMEOUT_MS: '500' }),
    ).toEqual({
      url: 'http://e.test',
      token: 't',
      timeoutMs: 500,
    });
  });
  it.each([
    [{ ENCODER_TOKEN: 't' }],
    [{ ENCODER_URL: 'http://e.test', ENCODER_TOKEN: '' }],
    [{ ENCODER_URL: 'http://e.test', ENCODER_TOKEN: 'no spaces in a bearer token' }],
    [{ ENCODER_URL: 'ftp://e.test', ENCODER_TOKEN: 't' }],
    [{ ENCODER_URL: 'http://e.test', ENCODER_TOKEN: 't', ENCODER_TIMEOUT_MS: 'soon' }],
  ])('answers 503 encoder_not_configured for %j', (vars) => {
    expect(() => encoderConfigFromEnv(vars)).toThrow(
      expect.objectContaining({ status: 503, code: 'encoder_not_configured' }),
    );
  });
});
