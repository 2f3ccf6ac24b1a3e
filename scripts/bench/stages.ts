/**
 * What one image costs in each stage of the encoder, measured in-process on one thread: sharp
 * decode, the Pillow-exact resize + crop (WebAssembly SIMD and the scalar reference), the
 * normalisation (both), and the image tower through onnxruntime-node (CPU time per image at
 * batch 1 and in a batch, with one intra-op thread and with onnxruntime's default).
 *
 *   npm run bench:stages                    # 640x480 JPEGs made from the demo images
 *   npm run bench:stages -- --runs 400
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { parseManifest } from '../../src/core/manifest';
import { decodeImage } from '../../src/encoder/images/image-decode';
import { resizeBicubicWindow } from '../../src/encoder/images/pil-resample';
import { normalise, resizeAndCrop, shortSideSize } from '../../src/encoder/images/pixel-tensor';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '200' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs is a positive integer');

sharp.concurrency(1);
sharp.cache(false);

const dir = `${ROOT}models/koclip-tiny/`;
const manifest = parseManifest(JSON.parse(readFileSync(`${dir}manifest.json`, 'utf8')));
const files = readdirSync(`${dir}demo/images`)
  .filter((f) => f.endsWith('.png'))
  .slice(0, 32);
const jpegs = await Promise.all(
  files.map((f) =>
    sharp(`${dir}demo/images/${f}`).resize(640, 480, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer(),
  ),
);

/** Mean wall and CPU milliseconds per call of `f` over `n` calls, after a tenth as warm-up. */
async function time(label: string, n: number, f: (i: number) => unknown, perCall = 1): Promise<void> {
  for (let i = 0; i < Math.ceil(n / 10); i++) await f(i);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < n; i++) await f(i);
  const wall = (performance.now() - started) / n / perCall;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / n / perCall;
  console.log(`| ${label} | ${wall.toFixed(2)} | ${cpuMs.toFixed(2)} |`);
}

console.log(
  `# encoder stages: 640x480 JPEG (q90) from ${jpegs.length} demo images, ${runs} runs, node ${process.version}`,
);
console.log('| stage (per image) | wall ms | CPU ms |');
console.log('|---|---|---|');
const limits = { pixels: 40_000_000 };
await time('sharp decode (decodeImage)', runs, (i) => decodeImage(jpegs[i % jpegs.length] as Buffer, limits));
const image = await decodeImage(jpegs[0] as Buffer, limits);
const size = manifest.image.size;
const resized = shortSideSize(image.width, image.height, size);
const window = {
  left: Math.round((resized.width - size) / 2),
  top: Math.round((resized.height - size) / 2),
  width: size,
  height: size,
};
for (const impl of ['simd', 'scalar'] as const)
  await time(`resize + crop to ${size}, ${impl}`, runs, () =>
    resizeBicubicWindow(image, resized.width, resized.height, window, impl),
  );
const crop = resizeAndCrop(image, size);
for (const impl of ['simd', 'scalar'] as const)
  await time(`normalise, ${impl}`, runs, () => normalise(crop, manifest.image, undefined, 0, impl));

const tower = readFileSync(`${dir}${manifest.image.file}`);
for (const threads of [1, 0]) {
  const session = await ort.InferenceSession.create(tower, {
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    ...(threads ? { intraOpNumThreads: threads } : {}),
  });
  for (const batch of [1, 8]) {
    const pixels = new Float32Array(batch * 3 * size * size);
    for (let b = 0; b < batch; b++) normalise(crop, manifest.image, pixels, b * 3 * size * size);
    const feeds = { pixel_values: new ort.Tensor('float32', pixels, [batch, 3, size, size]) };
    const label = `image tower, batch ${batch}, ${threads ? `${threads} intra-op thread` : 'default intra-op threads'}`;
    await time(label, Math.max(10, Math.ceil(runs / batch)), () => session.run(feeds), batch);
  }
  await session.release();
}
