#!/usr/bin/env node
// The encoder's own image preprocessing, for the model kit (koclip_kit.preprocess_effects): each
// file through src/encoder/images as a request goes (prepareImage: sharp decode, EXIF orientation,
// transparency onto white, Pillow-exact bicubic resize of the short side, centre crop; then
// normaliseBatch with the package's mean and std), so the kit measures the encoder's pixels, not
// a copy of its rules.
//   scripts/ts scripts/model/encoder-pixels.mjs --size S --mean a,b,c --std a,b,c --out px.f32 FILE...
// Writes pixel_values as float32 little-endian [N, 3, S, S] and prints one JSON line:
// [{ "file", "width", "height" }] (the decoded size, after orientation).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { normaliseBatch } from '../../src/encoder/images/pixel-tensor.ts';
import { prepareImage } from '../../src/encoder/images/prepare-image.ts';

function fail(message) {
  console.error(`encoder-pixels: ${message}`);
  process.exit(2);
}

function triple(name, text) {
  const values = (text ?? '').split(',').map(Number);
  if (values.length !== 3 || values.some((v) => !Number.isFinite(v))) fail(`--${name} needs three numbers`);
  return values;
}

const { values: opts, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string' },
    mean: { type: 'string' },
    std: { type: 'string' },
    out: { type: 'string' },
  },
});
const size = Number(opts.size);
if (!Number.isInteger(size) || size <= 0) fail('--size must be a positive integer');
if (!opts.out) fail('--out is required');
if (files.length === 0) fail('give at least one image file');
const spec = { size, mean: triple('mean', opts.mean), std: triple('std', opts.std) };

const plane = 3 * size * size;
const crops = new Uint8Array(files.length * plane);
const seen = [];
for (const [i, file] of files.entries()) {
  const prepared = await prepareImage({ bytes: readFileSync(file), size, maxPixels: 1e8 });
  crops.set(prepared.crops[0], i * plane);
  seen.push({ file, width: prepared.width, height: prepared.height });
}
const pixels = normaliseBatch(crops, files.length, spec, new Float32Array(files.length * plane));
writeFileSync(opts.out, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength));
console.log(JSON.stringify(seen));
