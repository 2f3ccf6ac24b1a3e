/**
 * Pillow's 8-bit bicubic resampling and alpha compositing, reproduced integer for integer so the
 * encoder's pixels equal the model kit's (PIL) reference: separable convolution with the a = -0.5
 * cubic, support widened by the downscale factor (antialiasing), coefficients in 22-bit fixed
 * point, a horizontal pass then a vertical pass, each clipped to 0..255 (Pillow's Resample.c).
 * Only the output window that survives the centre crop is computed; every output pixel depends
 * only on its own coefficients, so the window is bit-identical to a full resize then a crop.
 *
 * The two passes run in WebAssembly SIMD (simd.ts, wasm/pixels.as.ts: the same integer arithmetic four
 * or sixteen lanes at a time); the scalar passes below are the readable reference the SIMD ones
 * are tested against, and the fallback where WebAssembly SIMD is missing.
 */
import { Arena, kernels, type PixelKernels } from './simd';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
const SUPPORT = 2;

function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

interface Coefficients {
  ksize: number;
  /** Per computed output index: first input index and tap count. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per computed output index. */
  weights: Int32Array;
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bicubic filter, for the `count`
 * output indices from `first` only (entry i belongs to output index first + i), so that a
 * huge resized size (an extreme aspect ratio) costs nothing beyond the window.
 */
function coefficients(inSize: number, outSize: number, first: number, count: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = SUPPORT * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(count * 2);
  const weights = new Int32Array(count * ksize);
  const k = new Float64Array(ksize);
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? (k[x] as number) / ww : (k[x] as number);
      weights[i * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[i * 2] = xmin;
    bounds[i * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : Math.min(v, 255);
}

/** `count` bounds pairs moved `by` input indices (the vertical pass reads a copy of its rows). */
function shiftBounds(c: Coefficients, by: number): Coefficients {
  const bounds = c.bounds.slice();
  for (let i = 0; i < bounds.length; i += 2) bounds[i] = (bounds[i] as number) - by;
  return { ...c, bounds };
}

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, 8 bits per channel. */
  data: Uint8Array;
}

export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** What a windowed resize computes, shared by both implementations of the passes. */
interface Plan {
  window: Window;
  /** Input rows [rowFirst, rowFirst + rows) feed the vertical pass. */
  rowFirst: number;
  rows: number;
  /** Absent when the width does not change (the window's columns are copied). */
  horizontal?: Coefficients;
  /** Absent when the height does not change; bounds relative to rowFirst. */
  vertical?: Coefficients;
}

function plan(inW: number, inH: number, outWidth: number, outHeight: number, window: Window): Plan {
  const { top, height } = window;
  const horizontal =
    outWidth !== inW ? { horizontal: coefficients(inW, outWidth, window.left, window.width) } : {};
  if (outHeight === inH) return { window, rowFirst: top, rows: height, ...horizontal };
  const vert = coefficients(inH, outHeight, top, height);
  const rowFirst = vert.bounds[0] as number;
  const last = (height - 1) * 2;
  const rows = (vert.bounds[last] as number) + (vert.bounds[last + 1] as number) - rowFirst;
  return { window, rowFirst, rows, vertical: shiftBounds(vert, rowFirst), ...horizontal };
}

/** The plan's input rows, window columns only (no horizontal resize), packed into `out`. */
function copyWindowRows(src: RgbImage, p: Plan, out: Uint8Array): void {
  const rowBytes = p.window.width * 3;
  for (let y = 0; y < p.rows; y++) {
    const from = ((y + p.rowFirst) * src.width + p.window.left) * 3;
    out.set(src.data.subarray(from, from + rowBytes), y * rowBytes);
  }
}

function horizontalScalar(src: RgbImage, p: Plan, h: Coefficients): Uint8Array {
  const { ksize, bounds, weights } = h;
  const { data, width: inW } = src;
  const winW = p.window.width;
  const temp = new Uint8Array(p.rows * winW * 3);
  for (let y = 0; y < p.rows; y++) {
    const rowBase = (y + p.rowFirst) * inW * 3;
    const outBase = y * winW * 3;
    for (let xo = 0; xo < winW; xo++) {
      const xmin = bounds[xo * 2] as number;
      const xmax = bounds[xo * 2 + 1] as number;
      const kb = xo * ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let q = rowBase + xmin * 3;
      // int32 arithmetic throughout: Pillow's sums fit in 32 bits by design (PRECISION_BITS).
      for (let x = 0; x < xmax; x++, q += 3) {
        const w = weights[kb + x] as number;
        s0 = (s0 + Math.imul(data[q] as number, w)) | 0;
        s1 = (s1 + Math.imul(data[q + 1] as number, w)) | 0;
        s2 = (s2 + Math.imul(data[q + 2] as number, w)) | 0;
      }
      const o = outBase + xo * 3;
      temp[o] = clip8(s0);
      temp[o + 1] = clip8(s1);
      temp[o + 2] = clip8(s2);
    }
  }
  return temp;
}

function verticalScalar(temp: Uint8Array, p: Plan, v: Coefficients): Uint8Array {
  const { ksize, bounds, weights } = v;
  const stride = p.window.width * 3;
  const out = new Uint8Array(stride * p.window.height);
  const acc = new Int32Array(stride);
  for (let yo = 0; yo < p.window.height; yo++) {
    const ymin = bounds[yo * 2] as number;
    const ymax = bounds[yo * 2 + 1] as number;
    const kb = yo * ksize;
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const w = weights[kb + y] as number;
      const rowBase = (ymin + y) * stride;
      for (let i = 0; i < stride; i++)
        acc[i] = ((acc[i] as number) + Math.imul(temp[rowBase + i] as number, w)) | 0;
    }
    const outBase = yo * stride;
    for (let i = 0; i < stride; i++) out[outBase + i] = clip8(acc[i] as number);
  }
  return out;
}

function runScalar(src: RgbImage, p: Plan): Uint8Array {
  let temp: Uint8Array;
  if (p.horizontal) temp = horizontalScalar(src, p, p.horizontal);
  else {
    temp = new Uint8Array(p.rows * p.window.width * 3);
    copyWindowRows(src, p, temp);
  }
  return p.vertical ? verticalScalar(temp, p, p.vertical) : temp;
}

function runSimd(k: PixelKernels, src: RgbImage, p: Plan): Uint8Array {
  const winW = p.window.width;
  const stride = winW * 3;
  const { horizontal: h, vertical: v } = p;
  const arena = new Arena(k);
  const hBounds = h ? arena.take(h.bounds.byteLength) : 0;
  const hWeights = h ? arena.take(h.weights.byteLength) : 0;
  const vBounds = v ? arena.take(v.bounds.byteLength) : 0;
  const vWeights = v ? arena.take(v.weights.byteLength) : 0;
  const inputRowBytes = src.width * 3;
  const input = h ? arena.take(p.rows * inputRowBytes) : 0;
  const temp = arena.take(p.rows * stride);
  const out = v ? arena.take(stride * p.window.height) : temp;
  const heap = arena.heap();
  if (h) {
    arena.putInt32(heap, hBounds, h.bounds);
    arena.putInt32(heap, hWeights, h.weights);
    const from = p.rowFirst * inputRowBytes;
    heap.set(src.data.subarray(from, from + p.rows * inputRowBytes), input);
    k.horizontal(input, inputRowBytes, p.rows, winW, hBounds, hWeights, h.ksize, temp);
  } else {
    copyWindowRows(src, p, heap.subarray(temp, temp + p.rows * stride));
  }
  if (v) {
    arena.putInt32(heap, vBounds, v.bounds);
    arena.putInt32(heap, vWeights, v.weights);
    k.vertical(temp, stride, p.window.height, vBounds, vWeights, v.ksize, out);
  }
  return heap.slice(out, out + stride * p.window.height);
}

/** Which implementation of the passes `resizeBicubicWindow` uses on this thread. */
export const resampler: 'simd' | 'scalar' = kernels ? 'simd' : 'scalar';

/**
 * Resizes `src` to `outWidth x outHeight` with Pillow's bicubic filter and returns only the
 * pixels inside `window` (coordinates in the resized image). `implementation` is for tests.
 */
export function resizeBicubicWindow(
  src: RgbImage,
  outWidth: number,
  outHeight: number,
  window: Window,
  implementation: 'simd' | 'scalar' = resampler,
): RgbImage {
  const p = plan(src.width, src.height, outWidth, outHeight, window);
  const data = implementation === 'simd' && kernels ? runSimd(kernels, src, p) : runScalar(src, p);
  return { width: window.width, height: window.height, data };
}

/** Pillow's `Image.alpha_composite(white, rgba).convert('RGB')` (AlphaComposite.c, integer maths). */
export function flattenOnWhite(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = rgba[i * 4 + 3] as number;
    const o = i * 3;
    if (a === 0) {
      out[o] = 255;
      out[o + 1] = 255;
      out[o + 2] = 255;
      continue;
    }
    // dst is opaque white: outa255 = 255 * 255, coef1 = a * 128, coef2 = (255 - a) * 128.
    const coef1 = a << 7;
    const coef2 = (255 << 7) - coef1;
    for (let c = 0; c < 3; c++) {
      const tmp = (rgba[i * 4 + c] as number) * coef1 + 255 * coef2 + (0x80 << 7);
      out[o + c] = (((tmp >> 8) + tmp) >> 8) >> 7;
    }
  }
  return out;
}
