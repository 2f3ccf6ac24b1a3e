import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENCODER_LIMITS } from '../../../src/core/contract/encoder-api';
import { ApiError } from '../../../src/edge/http/errors';
import { callsFor, embedImages } from '../../../src/edge/inference/encoder-batch';
import type { EncoderClientConfig, EncoderImage } from '../../../src/edge/inference/encoder-client';
import { type StandIn, sha256Hex } from '../support/encoder-stand-in';
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
const bytes = (id: keyof typeof demoImages): EncoderImage => ({
  kind: 'bytes',
  bytes: new Uint8Array(demoImages[id] as ArrayBuffer),
  contentType: 'image/png',
});
const junk: EncoderImage = { kind: 'bytes', bytes: new Uint8Array([1, 2, 3]), contentType: 'image/png' };
const url = (id: string): EncoderImage => ({ kind: 'url', url: demoUrl(id) });

let standIn: StandIn;
beforeEach(async () => {
  standIn = await installDemoEncoder();
});
afterEach(() => standIn.restore());

describe('embedImages', () => {
  it('sends bytes as one multipart call and URLs as one JSON call, answering in the given order', async () => {
    const items = await embedImages(config, model, [
      bytes('demo-0001'),
      url('demo-0042'),
      bytes('demo-0005'),
      url('demo-0007'),
    ]);
    expect(items.map((i) => i.ok)).toEqual([true, true, true, true]);
    const vectors = items.map((i) => (i.ok ? Array.from(i.embedding) : []));
    expect(vectors).toEqual(
      ['demo-0001', 'demo-0042', 'demo-0005', 'demo-0007'].map((id) => Array.from(demoVector(id))),
    );
    expect(items[0]).toMatchObject({ sha256: await sha256Hex(demoImages['demo-0001'] as ArrayBuffer) });
    expect(items[1]).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(standIn.calls.map((c) => c.contentType?.split(';')[0]).sort()).toEqual([
      'application/json',
      'multipart/form-data',
    ]);
    expect(standIn.items.sort()).toEqual([2, 2]);
  });

  it('answers per-item errors beside the embeddings of the other images', async () => {
    standIn.urlErrors.set(demoUrl('demo-0002'), {
      status: 403,
      code: 'url_refused',
      message: 'private address',
    });
    const items = await embedImages(config, model, [
      bytes('demo-0001'),
      junk,
      url('demo-0002'),
      url('demo-0003'),
    ]);
    expect(items.map((i) => (i.ok ? 'ok' : `${i.status} ${i.code}`))).toEqual([
      'ok',
      '422 not_an_image',
      '403 url_refused',
      'ok',
    ]);
  });

  it("turns a single image's error answer into that item's error, with its status and the encoder's words", async () => {
    expect(await embedImages(config, model, [junk])).toEqual([
      { ok: false, status: 422, code: 'not_an_image', message: 'not an image the stand-in knows' },
    ]);
    standIn.urlErrors.set('https://images.test/x.png', {
      status: 502,
      code: 'upstream_status',
      message: 'the image URL answered HTTP 404',
    });
    expect(await embedImages(config, model, [{ kind: 'url', url: 'https://images.test/x.png' }])).toEqual([
      { ok: false, status: 502, code: 'upstream_status', message: 'the image URL answered HTTP 404' },
    ]);
  });

  it('rejects encoder faults: 5xx, timeouts, answers out of contract or of another model', async () => {
    for (const [mode, code] of [
      ['status500', 'encoder_error'],
      ['status503', 'encoder_error'],
      ['hang', 'encoder_timeout'],
      ['not-json', 'encoder_bad_response'],
      ['bad-shape', 'encoder_bad_response'],
      ['wrong-version', 'encoder_model_mismatch'],
      ['wrong-count', 'encoder_bad_response'],
      ['unauthorized', 'encoder_auth_failed'],
    ] as const) {
      standIn.mode = mode;
      for (const batch of [
        [bytes('demo-0001')],
        [bytes('demo-0001'), bytes('demo-0005')],
        [url('demo-0001')],
      ]) {
        const error = await embedImages(config, model, batch).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, `${mode} ${batch[0]?.kind} x${batch.length}`).toBeInstanceOf(ApiError);
        expect((error as ApiError).code, mode).toBe(code);
      }
    }
  });

  it("splits a batch larger than the contract's images per call, answering every image in order", async () => {
    const ids = ['demo-0001', 'demo-0005'] as const;
    const many = Array.from({ length: ENCODER_LIMITS.images + 3 }, (_, i) =>
      bytes(ids[i % 2] as keyof typeof demoImages),
    );
    const items = await embedImages(config, model, many);
    expect(standIn.items).toEqual([ENCODER_LIMITS.images, 3]);
    expect(items.map((i) => (i.ok ? Array.from(i.embedding) : []))).toEqual(
      many.map((_, i) => Array.from(demoVector(ids[i % 2] as string))),
    );
  });

  it('makes no call for no images', async () => {
    expect(await embedImages(config, model, [])).toEqual([]);
    expect(standIn.calls).toEqual([]);
  });
});

describe('callsFor', () => {
  const sized = (n: number): EncoderImage => ({
    kind: 'bytes',
    bytes: new Uint8Array(n),
    contentType: 'image/png',
  });
  const limits = { images: 3, bodyBytes: 10_000 };

  it('keeps one kind per call, at most `images` each, in input order', () => {
    const images = [sized(1), url('a'), sized(1), sized(1), url('b'), sized(1)];
    expect(callsFor(images, limits)).toEqual([[0, 2, 3], [5], [1, 4]]);
  });

  it('closes a multipart call before its body would pass `bodyBytes`; an oversized image goes alone', () => {
    const images = [sized(3000), sized(3000), sized(3000), sized(20_000), sized(10)];
    expect(callsFor(images, limits)).toEqual([[0, 1], [2], [3], [4]]);
  });
});
