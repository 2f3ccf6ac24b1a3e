/**
 * Startup: the CUDA request falls back to CPU (logged and reported) where CUDA cannot load, the
 * runner layout, and a package whose ONNX file does not match its manifest's sha256 is refused.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { runnerLayout } from '../../src/encoder/config';
import {
  cosine,
  type EmbedAnswer,
  MODEL_DIR,
  ROOT,
  type RunningEncoder,
  startEncoder,
} from './support/service-process';

// Development machines have no CUDA provider libraries (onnxruntime-node's installer is off).
const cudaInstalled = existsSync(
  `${ROOT}node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so`,
);

describe('execution provider', () => {
  it.skipIf(cudaInstalled)(
    'ENCODER_PROVIDER=cuda without usable CUDA falls back to CPU and says so',
    async () => {
      const encoder = await startEncoder({ ENCODER_PROVIDER: 'cuda' });
      try {
        const health = (await (await encoder.call('/healthz', { auth: false })).json()) as Record<
          string,
          unknown
        >;
        expect(health).toMatchObject({ provider: 'cpu', provider_requested: 'cuda' });
        expect(health.provider_fallback_reason).toEqual(expect.any(String));
        expect(encoder.logs()).toMatch(/CUDA requested but unavailable, falling back to CPU/);
      } finally {
        await encoder.stop();
      }
    },
  );
});

describe('runners', () => {
  it('default layout: one runner on CUDA, two on CPU (one on a single core); set values win', () => {
    expect(runnerLayout('cuda', 0, 0, 16)).toEqual({ runners: 1, threads: 0 });
    expect(runnerLayout('cpu', 0, 0, 2)).toEqual({ runners: 2, threads: 0 });
    expect(runnerLayout('cpu', 0, 0, 16)).toEqual({ runners: 2, threads: 0 });
    expect(runnerLayout('cpu', 0, 0, 1)).toEqual({ runners: 1, threads: 0 });
    expect(runnerLayout('cpu', 3, 1, 16)).toEqual({ runners: 3, threads: 1 });
  });

  it('three runners serve concurrent requests with the same embeddings as one, and /healthz says so', async () => {
    const one = await startEncoder({ ENCODER_RUNNERS: '1' });
    const three = await startEncoder({ ENCODER_RUNNERS: '3', ENCODER_BATCH_SIZE: '2' });
    try {
      const health = (await (await three.call('/healthz', { auth: false })).json()) as Record<
        string,
        unknown
      >;
      expect(health.runners).toMatchObject({ count: 3, intra_op_threads: 1 });
      const images = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          sharp({
            create: { width: 80, height: 60 + i, channels: 3, background: { r: 20 * i, g: 90, b: 40 } },
          })
            .png()
            .toBuffer(),
        ),
      );
      const embed = async (encoder: RunningEncoder, bytes: Buffer) => {
        const res = await encoder.call('/v1/embed/image', {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: new Uint8Array(bytes),
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as EmbedAnswer).data[0]?.embedding as number[];
      };
      const parallel = await Promise.all(images.map((bytes) => embed(three, bytes)));
      for (const [i, bytes] of images.entries())
        expect(cosine(parallel[i] as number[], await embed(one, bytes))).toBeGreaterThan(0.99999);
    } finally {
      await Promise.all([one.stop(), three.stop()]);
    }
  });
});

describe('package integrity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'encoder-models-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start when an ONNX file does not match the manifest sha256', async () => {
    const copy = join(dir, 'koclip-tiny');
    cpSync(MODEL_DIR, copy, { recursive: true });
    writeFileSync(join(copy, 'text-int8.onnx'), 'not the model');
    await expect(startEncoder({ ENCODER_MODELS_DIR: dir })).rejects.toThrow(
      /text-int8\.onnx does not match the manifest/,
    );
  });

  it('refuses an unknown configuration value with a message naming it', async () => {
    await expect(startEncoder({ ENCODER_PROVIDER: 'tpu' })).rejects.toThrow(/ENCODER_PROVIDER/);
  });
});
