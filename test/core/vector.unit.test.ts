import { describe, expect, it } from 'vitest';
import {
  cosine,
  dot,
  dotFp16,
  dotInt8,
  fromHalf,
  maxAbs,
  norm,
  normalise,
  quantiseFp16,
  quantiseInt8,
  softmax,
  TopK,
  toHalf,
  topK,
} from '../../src/core/vector';
import { randomUnitVectors, rng } from './support/random-vectors';

describe('dot / norm / normalise / cosine', () => {
  it('computes the basics', () => {
    expect(dot([1, 2, 3], [4, 5, 6])).toBe(32);
    expect(norm([3, 4])).toBe(5);
    expect(Array.from(normalise([3, 4]))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(cosine([1, 0], [0, 2])).toBe(0);
    expect(cosine([2, 2], [1, 1])).toBeCloseTo(1, 12);
  });
  it('rejects mismatched lengths and keeps zero vectors zero', () => {
    expect(() => dot([1], [1, 2])).toThrow(RangeError);
    expect(Array.from(normalise([0, 0]))).toEqual([0, 0]);
    expect(cosine([0, 0], [1, 1])).toBe(0);
  });
});

describe('softmax', () => {
  it('sums to one, keeps order and survives large logits', () => {
    const p = softmax([1000, 1001, 999]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[1]).toBeGreaterThan(p[0] as number);
    expect(p[0]).toBeGreaterThan(p[2] as number);
    expect(softmax([0, 0])).toEqual([0.5, 0.5]);
  });
});

describe('top-k', () => {
  it('matches a full sort on random scores, for every k', () => {
    const next = rng(7);
    const scores = Array.from({ length: 500 }, () => next());
    const sorted = scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score);
    for (const k of [1, 2, 10, 99, 500, 600]) {
      expect(topK(scores, k)).toEqual(sorted.slice(0, k));
    }
  });
  it('breaks ties by the earlier index and tracks its threshold', () => {
    expect(topK([1, 3, 3, 2, 3], 2)).toEqual([
      { index: 1, score: 3 },
      { index: 2, score: 3 },
    ]);
    const heap = new TopK(2);
    expect(heap.threshold).toBe(Number.NEGATIVE_INFINITY);
    heap.push(0, 5);
    heap.push(1, 1);
    expect(heap.threshold).toBe(1);
    heap.push(2, 3);
    expect(heap.threshold).toBe(3);
  });
  it('rejects k < 1', () => {
    expect(() => new TopK(0)).toThrow(RangeError);
  });
});

describe('int8 quantisation', () => {
  it('round-trips within half a step and scores like the float dot product', () => {
    const [v, q] = randomUnitVectors(2, 256, 1) as [Float32Array, Float32Array];
    const out = new Int8Array(256);
    const scale = quantiseInt8(v, out);
    expect(scale).toBeCloseTo(maxAbs(v) / 127, 9);
    expect(Math.max(...Array.from(out, Math.abs))).toBe(127);
    for (let i = 0; i < 256; i++)
      expect(Math.abs((out[i] as number) * scale - (v[i] as number))).toBeLessThanOrEqual(scale / 2 + 1e-9);
    expect(Math.abs(dotInt8(q, out, 0, scale) - dot(q, v))).toBeLessThan(5e-3);
  });
  it('maps a zero vector to scale 0', () => {
    const out = new Int8Array(3).fill(9);
    expect(quantiseInt8([0, 0, 0], out)).toBe(0);
    expect(Array.from(out)).toEqual([0, 0, 0]);
  });
});

describe('fp16', () => {
  it('encodes exactly representable values and special cases', () => {
    const exact: [number, number][] = [
      [0, 0x0000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
    ];
    for (const [value, bits] of exact) {
      expect(toHalf(value)).toBe(bits);
      expect(fromHalf(bits)).toBe(value);
    }
    expect(toHalf(1e6)).toBe(0x7c00);
    expect(toHalf(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    expect(fromHalf(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(fromHalf(toHalf(Number.NaN)))).toBe(true);
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
  it('round-trips random values with relative error below 2^-11', () => {
    const next = rng(3);
    for (let i = 0; i < 2000; i++) {
      const x = (next() * 2 - 1) * 100;
      expect(Math.abs(fromHalf(toHalf(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -24);
    }
  });
  it('scaled fp16 vectors score like the float dot product', () => {
    const [v, q] = randomUnitVectors(2, 256, 2) as [Float32Array, Float32Array];
    const out = new Uint16Array(256);
    const scale = quantiseFp16(v, out);
    expect(scale).toBe(maxAbs(v));
    expect(Math.abs(dotFp16(q, out, 0, scale) - dot(q, v))).toBeLessThan(5e-4);
  });
});
