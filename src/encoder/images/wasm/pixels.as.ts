// The encoder's pixel kernels in WebAssembly SIMD (AssemblyScript; `npm run build:wasm` writes pixels.wasm).
//
// Pillow's 8-bit bicubic resampling passes (Resample.c, ImagingResampleHorizontal_8bpc and
// ImagingResampleVertical_8bpc) with WebAssembly SIMD, integer for integer: 22-bit fixed-point
// weights, int32 sums starting at 1 << 21, an arithmetic shift by 22 and a clip to 0..255.
// The coefficients are computed by the caller (src/encoder/images/pil-resample.ts) and passed in
// memory; bounds hold (first input index, tap count) pairs as int32.
//
// Every function may read up to 16 bytes past the end of its input and write up to 16 bytes
// past the end of its output: the caller leaves that much slack after each buffer.

const PRECISION_BITS: i32 = 22;

// Swizzle selectors: pixel k's R, G, B bytes (3k, 3k + 1, 3k + 2 of a 16-byte load) into the
// low byte of int32 lanes 0, 1, 2; index -1 (255, out of range) gives 0.
const PIXEL0 = v128(0, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, -1, -1, -1, -1);
const PIXEL1 = v128(3, -1, -1, -1, 4, -1, -1, -1, 5, -1, -1, -1, -1, -1, -1, -1);
const PIXEL2 = v128(6, -1, -1, -1, 7, -1, -1, -1, 8, -1, -1, -1, -1, -1, -1, -1);
const PIXEL3 = v128(9, -1, -1, -1, 10, -1, -1, -1, 11, -1, -1, -1, -1, -1, -1, -1);

@inline
function clipStore4(ptr: usize, acc: v128): void {
  const shifted = i32x4.shr_s(acc, PRECISION_BITS);
  const wide = i16x8.narrow_i32x4_u(shifted, shifted);
  v128.store32_lane(ptr, i8x16.narrow_i16x8_u(wide, wide), 0);
}

/**
 * Horizontal pass over interleaved RGB: `rows` rows of `srcStride` bytes from `src`, `outWidth`
 * output pixels per row written to `dst` (3 bytes each, rows packed).
 */
export function horizontal(
  src: usize,
  srcStride: i32,
  rows: i32,
  outWidth: i32,
  bounds: usize,
  weights: usize,
  ksize: i32,
  dst: usize,
): void {
  const half = i32x4.splat(1 << (PRECISION_BITS - 1));
  let out = dst;
  for (let y = 0; y < rows; y++) {
    const row = src + <usize>(y * srcStride);
    for (let xo = 0; xo < outWidth; xo++) {
      const b = bounds + (<usize>xo << 3);
      let p = row + <usize>(load<i32>(b) * 3);
      const taps = load<i32>(b, 4);
      let w = weights + (<usize>(xo * ksize) << 2);
      let acc = half;
      let x = 0;
      // Four taps per 16-byte load: each swizzle picks one pixel's R, G, B into int32 lanes
      // (zero-extended: the other selector bytes are out of range and read as 0).
      for (; x + 4 <= taps; x += 4) {
        const v = v128.load(p);
        acc = i32x4.add(acc, i32x4.mul(i8x16.swizzle(v, PIXEL0), i32x4.splat(load<i32>(w))));
        acc = i32x4.add(acc, i32x4.mul(i8x16.swizzle(v, PIXEL1), i32x4.splat(load<i32>(w, 4))));
        acc = i32x4.add(acc, i32x4.mul(i8x16.swizzle(v, PIXEL2), i32x4.splat(load<i32>(w, 8))));
        acc = i32x4.add(acc, i32x4.mul(i8x16.swizzle(v, PIXEL3), i32x4.splat(load<i32>(w, 12))));
        p += 12;
        w += 16;
      }
      for (; x < taps; x++) {
        const px = i8x16.swizzle(v128.load32_zero(p), PIXEL0);
        acc = i32x4.add(acc, i32x4.mul(px, i32x4.splat(load<i32>(w))));
        p += 3;
        w += 4;
      }
      clipStore4(out, acc);
      out += 3;
    }
  }
}

/**
 * Vertical pass over rows of `stride` bytes: output row `yo` sums the `taps` rows from
 * (bounds[yo].first) of `src` with its weights; `outHeight` rows written to `dst`.
 */
export function vertical(
  src: usize,
  stride: i32,
  outHeight: i32,
  bounds: usize,
  weights: usize,
  ksize: i32,
  dst: usize,
): void {
  const half = i32x4.splat(1 << (PRECISION_BITS - 1));
  for (let yo = 0; yo < outHeight; yo++) {
    const b = bounds + (<usize>yo << 3);
    const first = src + <usize>(load<i32>(b) * stride);
    const taps = load<i32>(b, 4);
    const wrow = weights + (<usize>(yo * ksize) << 2);
    const out = dst + <usize>(yo * stride);
    for (let i = 0; i < stride; i += 16) {
      let a0 = half;
      let a1 = half;
      let a2 = half;
      let a3 = half;
      let p = first + <usize>i;
      for (let y = 0; y < taps; y++) {
        const w = i32x4.splat(load<i32>(wrow + (<usize>y << 2)));
        const v = v128.load(p);
        const lo = i16x8.extend_low_i8x16_u(v);
        const hi = i16x8.extend_high_i8x16_u(v);
        a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(lo), w));
        a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(lo), w));
        a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(hi), w));
        a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(hi), w));
        p += <usize>stride;
      }
      const s0 = i16x8.narrow_i32x4_u(i32x4.shr_s(a0, PRECISION_BITS), i32x4.shr_s(a1, PRECISION_BITS));
      const s1 = i16x8.narrow_i32x4_u(i32x4.shr_s(a2, PRECISION_BITS), i32x4.shr_s(a3, PRECISION_BITS));
      v128.store(out + <usize>i, i8x16.narrow_i16x8_u(s0, s1));
    }
  }
}

/**
 * Interleaved RGB bytes -> planar float32 `(x / 255 - mean) / std`, in float32 arithmetic as
 * numpy computes it in the model kit: `pixels` pixels from `src`, three planes written to `dst`.
 */
export function normalise(
  src: usize,
  pixels: i32,
  mean0: f32,
  mean1: f32,
  mean2: f32,
  std0: f32,
  std1: f32,
  std2: f32,
  dst: usize,
): void {
  const plane = <usize>pixels << 2;
  const scale = f32x4.splat(255);
  const m0 = f32x4.splat(mean0);
  const m1 = f32x4.splat(mean1);
  const m2 = f32x4.splat(mean2);
  const d0 = f32x4.splat(std0);
  const d1 = f32x4.splat(std1);
  const d2 = f32x4.splat(std2);
  // Byte i of lane j picks channel c of pixel j out of 16 loaded bytes (12 used); the other
  // bytes select 0 (index >= 16), which zero-extends each picked byte to an int32 lane.
  const pickR = v128(0, -1, -1, -1, 3, -1, -1, -1, 6, -1, -1, -1, 9, -1, -1, -1);
  const pickG = v128(1, -1, -1, -1, 4, -1, -1, -1, 7, -1, -1, -1, 10, -1, -1, -1);
  const pickB = v128(2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1, 11, -1, -1, -1);
  let p = src;
  let o = dst;
  // Four pixels at a time (float32 division is exact per lane: the same numbers as scalar code),
  // then the last up to three one at a time.
  const vectorEnd = src + <usize>(pixels & ~3) * 3;
  while (p < vectorEnd) {
    const v = v128.load(p);
    const r = f32x4.convert_i32x4_s(i8x16.swizzle(v, pickR));
    const g = f32x4.convert_i32x4_s(i8x16.swizzle(v, pickG));
    const b = f32x4.convert_i32x4_s(i8x16.swizzle(v, pickB));
    v128.store(o, f32x4.div(f32x4.sub(f32x4.div(r, scale), m0), d0));
    v128.store(o + plane, f32x4.div(f32x4.sub(f32x4.div(g, scale), m1), d1));
    v128.store(o + 2 * plane, f32x4.div(f32x4.sub(f32x4.div(b, scale), m2), d2));
    p += 12;
    o += 16;
  }
  const end = src + <usize>pixels * 3;
  while (p < end) {
    store<f32>(o, (<f32>load<u8>(p) / 255 - mean0) / std0);
    store<f32>(o + plane, (<f32>load<u8>(p, 1) / 255 - mean1) / std1);
    store<f32>(o + 2 * plane, (<f32>load<u8>(p, 2) / 255 - mean2) / std2);
    p += 3;
    o += 4;
  }
}
