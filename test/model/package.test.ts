import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ModelManifest, parseManifest } from '../../src/core/manifest';
import { cosine } from '../../src/core/vector';

const MODELS = join(import.meta.dirname, '..', '..', 'models');
const packages = readdirSync(MODELS).filter(
  (d) => !d.startsWith('.') && statSync(join(MODELS, d)).isDirectory(),
);

interface GoldenText {
  cases: { text: string; input_ids: number[]; embedding: number[] }[];
}
interface GoldenImage {
  cases: { file: string; pixels: string; embedding: number[] }[];
  pixels_shape: [number, number, number];
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

async function embedTexts(file: string, ids: number[][], pad: number): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(file);
  const width = Math.max(...ids.map((r) => r.length));
  const flatIds = ids.flatMap((r) => [...r, ...Array(width - r.length).fill(pad)]);
  const flatMask = ids.flatMap((r) => [...r.map(() => 1), ...Array(width - r.length).fill(0)]);
  const out = await session.run({
    input_ids: new ort.Tensor('int64', BigInt64Array.from(flatIds, BigInt), [ids.length, width]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(flatMask, BigInt), [ids.length, width]),
  });
  const data = out.text_embeds?.data as Float32Array;
  const dim = data.length / ids.length;
  return ids.map((_, i) => data.subarray(i * dim, (i + 1) * dim));
}

describe.each(packages)('model package %s', (id) => {
  const dir = join(MODELS, id);
  let manifest: ModelManifest;
  const read = (rel: string) => readFileSync(join(dir, rel));
  const json = <T>(rel: string) => JSON.parse(read(rel).toString('utf8')) as T;

  beforeAll(() => {
    manifest = parseManifest(json('manifest.json'));
  });

  it('has a manifest naming this folder', () => {
    expect(manifest.id).toBe(id);
  });

  it('lists every file with its sha256 and size, and nothing else', () => {
    const onDisk = listFiles(dir)
      .map((f) => relative(dir, f))
      .filter((f) => f !== 'manifest.json')
      .sort();
    expect(Object.keys(manifest.files).sort()).toEqual(onDisk);
    for (const [rel, { sha256, bytes }] of Object.entries(manifest.files)) {
      const data = read(rel);
      expect(data.length, rel).toBe(bytes);
      expect(createHash('sha256').update(data).digest('hex'), rel).toBe(sha256);
    }
  });

  it('stays within the 15 MB package budget', () => {
    const total =
      Object.values(manifest.files).reduce((n, f) => n + f.bytes, 0) + read('manifest.json').length;
    expect(total).toBeLessThanOrEqual(15 * 1024 * 1024);
  });

  it('runs both text towers on the golden inputs within tolerance', async () => {
    if (!manifest.golden) return expect.fail('package has no golden vectors');
    const golden = json<GoldenText>(manifest.golden.text);
    const ids = golden.cases.map((c) => c.input_ids);
    for (const [variant, min] of [
      ['fp32', 0.9999],
      ['int8', 0.99],
    ] as const) {
      const file = manifest.text.files[variant];
      if (!file) continue;
      const got = await embedTexts(join(dir, file), ids, manifest.tokenizer.pad_token_id);
      golden.cases.forEach((c, i) => {
        const e = got[i] as Float32Array;
        expect(e.length).toBe(manifest.projection_dim);
        expect(cosine(e, c.embedding), `${variant} ${c.text}`).toBeGreaterThanOrEqual(min);
      });
    }
  });

  // fp32 is exact; the int8 tower quantises activations per tensor, so batch-mates and padding
  // shift its output slightly (measured: cosine ~0.9999)
  it.each([
    ['fp32', 0.99999],
    ['int8', 0.999],
  ] as const)('gives the same %s text embedding whatever the padding and batch', async (variant, min) => {
    const file = join(dir, manifest.text.files[variant] as string);
    const golden = json<GoldenText>(manifest.golden?.text as string);
    const first = golden.cases[0]?.input_ids as number[];
    const alone = (await embedTexts(file, [first], manifest.tokenizer.pad_token_id))[0] as Float32Array;
    const longest = [...first, ...Array(12).fill(5)];
    const padded = (
      await embedTexts(file, [first, longest], manifest.tokenizer.pad_token_id)
    )[0] as Float32Array;
    expect(cosine(alone, padded)).toBeGreaterThan(min);
  });

  it('runs the image tower on the golden pixels within tolerance', async () => {
    const golden = json<GoldenImage>(manifest.golden?.image as string);
    const session = await ort.InferenceSession.create(join(dir, manifest.image.file));
    const [c, h, w] = golden.pixels_shape;
    expect([h, w]).toEqual([manifest.image.size, manifest.image.size]);
    for (const g of golden.cases) {
      const buf = read(g.pixels);
      const px = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      expect(px.length).toBe(c * h * w);
      const out = await session.run({ pixel_values: new ort.Tensor('float32', px, [1, c, h, w]) });
      expect(cosine(out.image_embeds?.data as Float32Array, g.embedding), g.file).toBeGreaterThanOrEqual(
        0.9999,
      );
    }
  });
});
