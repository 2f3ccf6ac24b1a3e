import { describe, expect, it } from 'vitest';
import { resampler, resizeBicubicWindow } from '../../../src/encoder/images/pil-resample';
import { normalise, shortSideSize } from '../../../src/encoder/images/pixel-tensor';

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Noise with runs of 0 and 255, which push the filter's overshoot into the clipping. */
function noiseImage(width: number, height: number, rnd: () => number) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    const r = rnd();
    data[i] = r < 0.15 ? 0 : r < 0.3 ? 255 : Math.floor(rnd() * 256);
  }
  return { width, height, data };
}

const CLIP = {
  size: 224,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
} as const;

describe('pixel kernels', () => {
  it('load on this Node (WebAssembly SIMD)', () => {
    expect(resampler).toBe('simd');
  });

  // [width, height, model size]: downscales, upscales, one-pixel sides, extreme aspect ratios,
  // widths whose rows are not a multiple of 16 bytes, and the golden images' shapes.
  const shapes: [number, number, number][] = [
    [640, 480, 224],
    [480, 640, 224],
    [224, 224, 224],
    [320, 240, 224],
    [300, 400, 224],
    [256, 200, 224],
    [100, 75, 224],
    [1, 1, 224],
    [1, 500, 224],
    [3000, 2, 32],
    [37, 1013, 7],
    [1201, 677, 300],
    [5, 5, 1],
  ];
  it.each(shapes)('resize %ix%i to %i: SIMD equals the scalar reference', (width, height, size) => {
    const rnd = random(width * 7919 + height);
    const image = noiseImage(width, height, rnd);
    const resized = shortSideSize(width, height, size);
    const window = {
      left: Math.floor(rnd() * (resized.width - Math.min(size, resized.width) + 1)),
      top: Math.floor(rnd() * (resized.height - Math.min(size, resized.height) + 1)),
      width: Math.min(size, resized.width),
      height: Math.min(size, resized.height),
    };
    const simd = resizeBicubicWindow(image, resized.width, resized.height, window, 'simd');
    const scalar = resizeBicubicWindow(image, resized.width, resized.height, window, 'scalar');
    expect(simd.data.length).toBe(window.width * window.height * 3);
    expect(Buffer.from(simd.data).equals(Buffer.from(scalar.data))).toBe(true);
  });

  it('200 random shapes and windows: SIMD equals the scalar reference', () => {
    const rnd = random(42);
    let mismatches = 0;
    for (let t = 0; t < 200; t++) {
      const width = 1 + Math.floor(rnd() ** 2 * 700);
      const height = 1 + Math.floor(rnd() ** 2 * 700);
      const image = noiseImage(width, height, rnd);
      const outW = 1 + Math.floor(rnd() * 400);
      const outH = 1 + Math.floor(rnd() * 400);
      const w = 1 + Math.floor(rnd() * outW);
      const h = 1 + Math.floor(rnd() * outH);
      const window = {
        left: Math.floor(rnd() * (outW - w + 1)),
        top: Math.floor(rnd() * (outH - h + 1)),
        width: w,
        height: h,
      };
      const a = resizeBicubicWindow(image, outW, outH, window, 'simd');
      const b = resizeBicubicWindow(image, outW, outH, window, 'scalar');
      if (!Buffer.from(a.data).equals(Buffer.from(b.data))) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it.each([1, 3, 4, 5, 224 * 224, 1789])(
    'normalise %i pixels: SIMD equals the scalar reference',
    (pixels) => {
      const data = new Uint8Array(pixels * 3);
      for (let i = 0; i < data.length; i++) data[i] = (i * 37 + Math.floor(i / 3)) & 255;
      const image = { width: pixels, height: 1, data };
      for (const spec of [CLIP, { size: 1, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }] as const) {
        const s = { size: spec.size, mean: [...spec.mean], std: [...spec.std] } as Parameters<
          typeof normalise
        >[1];
        const a = normalise(image, s, undefined, 0, 'simd');
        const b = normalise(image, s, undefined, 0, 'scalar');
        expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      }
    },
  );

  it('normalise writes at an offset without touching the rest of the output', () => {
    const image = {
      width: 5,
      height: 1,
      data: new Uint8Array([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255, 9, 9, 9]),
    };
    const spec = { size: 1, mean: [0.1, 0.2, 0.3], std: [0.9, 0.8, 0.7] } as Parameters<typeof normalise>[1];
    const out = new Float32Array(40).fill(7);
    normalise(image, spec, out, 20, 'simd');
    expect([...out.subarray(0, 20)].every((x) => x === 7)).toBe(true);
    expect([...out.subarray(35)].every((x) => x === 7)).toBe(true);
    expect(out[20]).toBe(Math.fround(Math.fround(0 / 255 - Math.fround(0.1)) / Math.fround(0.9)));
  });
});
