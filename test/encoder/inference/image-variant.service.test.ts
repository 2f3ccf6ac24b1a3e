/**
 * The image tower variant (ENCODER_IMAGE_VARIANT): the choice per provider and package, and the
 * real encoder running the fp16 file of a converted package when forced on CPU (a small
 * random-weight koclip-base-shaped checkpoint written by transformers and converted by the kit),
 * with embeddings within cosine 0.999 of the fp32 file's and the variant in /healthz, /metrics and
 * the startup log.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelManifest, parseManifest } from '../../../src/core/manifest';
import { chooseImageVariant } from '../../../src/encoder/inference/model-package';
import { cosine, type EmbedAnswer, MODEL_DIR, ROOT, startEncoder } from '../support/service-process';

const PY = join(ROOT, 'scripts', 'model', '.venv', 'bin', 'python');

describe('chooseImageVariant', () => {
  const tiny = parseManifest(JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')));
  const converted: ModelManifest = {
    ...tiny,
    image: { ...tiny.image, files: { fp32: 'image-fp32.onnx', fp16: 'image-fp16.onnx' } },
  };

  it('auto: fp16 on CUDA when the package has it, fp32 on CPU or without one', () => {
    expect(chooseImageVariant(converted, 'auto', 'cuda')).toEqual({
      variant: 'fp16',
      file: 'image-fp16.onnx',
    });
    expect(chooseImageVariant(converted, 'auto', 'cpu')).toEqual({
      variant: 'fp32',
      file: 'image-fp32.onnx',
    });
    expect(chooseImageVariant(tiny, 'auto', 'cuda')).toEqual({ variant: 'fp32', file: 'image-fp32.onnx' });
  });

  it('a forced variant wins over the provider', () => {
    expect(chooseImageVariant(converted, 'fp16', 'cpu').variant).toBe('fp16');
    expect(chooseImageVariant(converted, 'fp32', 'cuda').variant).toBe('fp32');
    expect(chooseImageVariant(tiny, 'fp32', 'cuda').file).toBe(tiny.image.file);
  });

  it('forced fp16 without an fp16 file is an error naming the model and the setting', () => {
    expect(() => chooseImageVariant(tiny, 'fp16', 'cuda')).toThrow(
      /model koclip-tiny: ENCODER_IMAGE_VARIANT=fp16, but the package has no fp16 image tower/,
    );
  });
});

describe('the encoder on a converted package', () => {
  const work = mkdtempSync(join(tmpdir(), 'encoder-fp16-'));
  const models = join(work, 'models');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  beforeAll(() => {
    expect(existsSync(PY), `${PY} is missing: run ./scripts/setup.sh`).toBe(true);
    const kit = (...args: string[]) => {
      const res = spawnSync(PY, ['-m', 'koclip_kit', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(res.status, res.stderr).toBe(0);
    };
    const ckpt = join(work, 'ckpt');
    kit('make-fixture', '--out', ckpt, '--format', 'safetensors', '--arch', 'base', '--seed', '4');
    kit('convert', ckpt, '--out', join(models, 'koclip-fx'), '--version', 'fx-1');
  }, 180_000);

  const env = (variant: string) => ({
    ENCODER_MODELS_DIR: models,
    ENCODER_MODELS: 'koclip-fx',
    ENCODER_DEFAULT_MODEL: 'koclip-fx',
    ENCODER_IMAGE_VARIANT: variant,
  });

  it('forced fp16 on CPU runs image-fp16.onnx: within cosine 0.999 of fp32, and says so', async () => {
    const images = await Promise.all(
      [
        [192, 144],
        [90, 180],
        [300, 300],
      ].map(([width, height]) =>
        sharp({
          create: {
            width: width as number,
            height: height as number,
            channels: 3,
            background: { r: 0, g: 0, b: 0 },
            noise: { type: 'gaussian', mean: 120, sigma: 40 },
          },
        })
          .png()
          .toBuffer(),
      ),
    );
    const fp16 = await startEncoder(env('fp16'));
    const fp32 = await startEncoder(env('auto')); // CPU: auto is fp32
    try {
      for (const [encoder, variant] of [
        [fp16, 'fp16'],
        [fp32, 'fp32'],
      ] as const) {
        const health = (await (await encoder.call('/healthz', { auth: false })).json()) as {
          models: { id: string; image_variant: string }[];
        };
        expect(health.models).toEqual([expect.objectContaining({ id: 'koclip-fx', image_variant: variant })]);
        const metrics = await (await encoder.call('/metrics', { auth: false })).text();
        expect(metrics).toMatch(
          new RegExp(
            `encoder_model_info\\{model="koclip-fx",version="fx-1",image_variant="${variant}",text_variant="int8"\\} 1`,
          ),
        );
        expect(encoder.logs()).toMatch(
          new RegExp(`loaded koclip-fx fx-1 \\(dim \\d+, image ${variant}, text int8\\)`),
        );
      }
      const embed = async (encoder: typeof fp16, bytes: Buffer) => {
        const res = await encoder.call('/v1/embed/image', {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: new Uint8Array(bytes),
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as EmbedAnswer).data[0]?.embedding as number[];
      };
      for (const bytes of images) {
        const [half, full] = [await embed(fp16, bytes), await embed(fp32, bytes)];
        expect(cosine(half, full)).toBeGreaterThan(0.999);
        // a different file ran: float16 weights do not give fp32's numbers bit for bit
        expect(Math.max(...half.map((x, i) => Math.abs(x - (full[i] as number))))).toBeGreaterThan(0);
      }
    } finally {
      await Promise.all([fp16.stop(), fp32.stop()]);
    }
  }, 120_000);

  it('ENCODER_IMAGE_VARIANT=fp16 with a package that has no fp16 tower refuses to start', async () => {
    await expect(startEncoder({ ENCODER_IMAGE_VARIANT: 'fp16' })).rejects.toThrow(
      /koclip-tiny: ENCODER_IMAGE_VARIANT=fp16, but the package has no fp16 image tower/,
    );
  });

  it('an image tower without float32 pixel_values / image_embeds is refused at startup', async () => {
    const copy = join(work, 'odd', 'koclip-tiny');
    cpSync(MODEL_DIR, copy, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(copy, 'manifest.json'), 'utf8'));
    manifest.image.file = 'text-fp32.onnx';
    writeFileSync(join(copy, 'manifest.json'), JSON.stringify(manifest));
    await expect(startEncoder({ ENCODER_MODELS_DIR: join(work, 'odd') })).rejects.toThrow(
      /koclip-tiny: text-fp32\.onnx has no pixel_values; the encoder feeds float32 pixel_values/,
    );
  });

  it('an unknown ENCODER_IMAGE_VARIANT is refused by name', async () => {
    await expect(startEncoder({ ENCODER_IMAGE_VARIANT: 'bf16' })).rejects.toThrow(/ENCODER_IMAGE_VARIANT/);
  });
});
