/**
 * Startup: the CUDA request falls back to CPU (logged and reported) where CUDA cannot load, and a
 * package whose ONNX file does not match its manifest's sha256 is refused.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MODEL_DIR, ROOT, startEncoder } from './service';

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
