// How far /v1/score's probabilities move when the image is an indexed `image_id`, scored with its
// stored index row (fp16 or int8 with a per-vector scale, src/core/index-format/segment.ts) instead
// of the image tower's float32 vector: koclip-tiny's demo image embeddings (a trained model, so its
// captions' embeddings differ as real ones do) against its golden caption embeddings (the fp32
// reference), through the segment codec, at the package's logit scale and at 100.
//   scripts/ts scripts/model/stored-rows-scores.ts [PACKAGE_DIR]   (default models/koclip-tiny)
// Prints one JSON line per encoding and scale: the largest |prob - prob with the float32 vector|.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeSegment, encodeSegment, rowVector } from '../../src/core/index-format/segment';
import { parseManifest } from '../../src/core/manifest';
import { softmax } from '../../src/core/vector';

const dir = resolve(process.argv[2] ?? 'models/koclip-tiny');
const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
if (!manifest.demo || !manifest.golden) throw new Error(`${dir} has no demo embeddings or golden texts`);
const dim = manifest.projection_dim;
const raw = readFileSync(join(dir, manifest.demo.embeddings));
const vectors = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const captions: number[][] = JSON.parse(readFileSync(join(dir, manifest.golden.text), 'utf8')).cases.map(
  (c: { embedding: number[] }) => c.embedding,
);
const items = Array.from({ length: vectors.length / dim }, (_, i) => ({
  id: `i${i}`,
  vector: vectors.slice(i * dim, (i + 1) * dim),
}));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
};
const probs = (image: ArrayLike<number>, scale: number) =>
  softmax(captions.map((t) => scale * dot(image, t)));

for (const encoding of ['fp16', 'int8'] as const) {
  const { id, version } = manifest;
  const segment = await decodeSegment(await encodeSegment({ model: id, version, dim, encoding, items }));
  for (const scale of [Math.exp(manifest.logit_scale), 100]) {
    let worst = 0;
    items.forEach((item, row) => {
      const exact = probs(item.vector, scale);
      const stored = probs(rowVector(segment, row), scale);
      for (let j = 0; j < exact.length; j++)
        worst = Math.max(worst, Math.abs((stored[j] as number) - (exact[j] as number)));
    });
    const line = { model: id, encoding, logit_scale_exp: Number(scale.toFixed(2)), images: items.length };
    console.log(
      JSON.stringify({ ...line, captions: captions.length, max_abs_prob_diff: Number(worst.toPrecision(3)) }),
    );
  }
}
