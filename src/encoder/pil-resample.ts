/**
 * Pillow's 8-bit bicubic resampling and alpha compositing, reproduced integer for integer so the
 * encoder's pixels equal the model kit's (PIL) reference: separable convolution with the a = -0.5
 * cubic, support widened by the downscale factor (antialiasing), coefficients in 22-bit fixed
 * point, a horizontal pass then a vertical pass, each clipped to 0..255 (Pillow's Resample.c).
 * Only the output window that survives the centre crop is computed; every output pixel depends
 * only on its own coefficients, so the window is bit-identical to a full resize then a crop.
 */

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

/**
 * Resizes `src` to `outWidth x outHeight` with Pillow's bicubic filter and returns only the
 * pixels inside `window` (coordinates in the resized image).
 */
export function resizeBicubicWindow(
  src: RgbImage,
  outWidth: number,
  outHeight: number,
  window: Window,
): RgbImage {
  const { width: inW, height: inH, data } = src;
  const needH = outWidth !== inW;
  const needV = outHeight !== inH;
  const winW = window.width;
  const winH = window.height;

  // Rows of the (horizontally resized) image that the vertical pass will read.
  const vert = needV ? coefficients(inH, outHeight, window.top, winH) : undefined;
  let rowFirst = window.top;
  let rowLast = window.top + winH;
  if (vert) {
    rowFirst = vert.bounds[0] as number;
    const last = winH - 1;
    rowLast = (vert.bounds[last * 2] as number) + (vert.bounds[last * 2 + 1] as number);
  }
  const rows = rowLast - rowFirst;

  // Horizontal pass: rows [rowFirst, rowLast) x output columns of the window.
  let temp: Uint8Array;
  if (needH) {
    const horiz = coefficients(inW, outWidth, window.left, winW);
    const { ksize, bounds, weights } = horiz;
    temp = new Uint8Array(rows * winW * 3);
    for (let y = 0; y < rows; y++) {
      const rowBase = (y + rowFirst) * inW * 3;
      const outBase = y * winW * 3;
      for (let xo = 0; xo < winW; xo++) {
        const xmin = bounds[xo * 2] as number;
        const xmax = bounds[xo * 2 + 1] as number;
        const kb = xo * ksize;
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        let p = rowBase + xmin * 3;
        // int32 arithmetic throughout: Pillow's sums fit in 32 bits by design (PRECISION_BITS).
        for (let x = 0; x < xmax; x++, p += 3) {
          const w = weights[kb + x] as number;
          s0 = (s0 + Math.imul(data[p] as number, w)) | 0;
          s1 = (s1 + Math.imul(data[p + 1] as number, w)) | 0;
          s2 = (s2 + Math.imul(data[p + 2] as number, w)) | 0;
        }
        const o = outBase + xo * 3;
        temp[o] = clip8(s0);
        temp[o + 1] = clip8(s1);
        temp[o + 2] = clip8(s2);
      }
    }
  } else {
    temp = new Uint8Array(rows * winW * 3);
    for (let y = 0; y < rows; y++) {
      const from = ((y + rowFirst) * inW + window.left) * 3;
      temp.set(data.subarray(from, from + winW * 3), y * winW * 3);
    }
  }
  if (!vert) return { width: winW, height: winH, data: temp };

  // Vertical pass over the window's rows, a whole row at a time (contiguous reads).
  const out = new Uint8Array(winW * winH * 3);
  const { ksize, bounds, weights } = vert;
  const stride = winW * 3;
  const acc = new Int32Array(stride);
  for (let yo = 0; yo < winH; yo++) {
    const ymin = (bounds[yo * 2] as number) - rowFirst;
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
  return { width: winW, height: winH, data: out };
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
