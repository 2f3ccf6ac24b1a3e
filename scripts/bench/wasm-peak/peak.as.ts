/**
 * The multiply-accumulate rate that wasm SIMD128 reaches in a V8 isolate at its best: weights
 * streamed from a 4 KiB block (L1), each loaded vector multiplied with four activation registers
 * into eight independent accumulators, so neither memory nor dependency chains limit it. Its
 * only use is a ceiling for the text tower's int8 matmuls (scripts/bench/wasm-peak.ts): wasm SIMD
 * has no 8-bit dot product (relaxed SIMD's is not in the npm builds of onnxruntime-web), so
 * int8 kernels widen to 16 bits and use `i32x4.dot_i16x8_s`, 8 multiply-adds per instruction.
 * Hand-written: it measures the instruction set, which no library does.
 *
 *   npm run build:wasm-peak   (asc, committed as peak.wasm)
 */

const BLOCK_MASK: i32 = 4096 - 1;

/** Integer weights at bytes 0-4095, float weights (normal numbers, no denormal slow path) at
 * 4096-8191 (the results are not checked, only kept live). */
export function prepare(): void {
  for (let i = 0; i < 4096; i++) store<u8>(i, ((i * 37) & 63) + 1);
  for (let i = 0; i < 1024; i++) store<f32>(4096 + i * 4, 0.5 + <f32>((i * 7) & 15) / 16);
}

/** `iters` x 2 weight vectors of eight int16 (pre-widened, the best case) against four
 * activation vectors: 8 dot_i16x8_s a step, 64 multiply-adds. Returns a lane sum (kept live). */
export function dotI16(iters: i32): i32 {
  const x0 = v128.load(0);
  const x1 = v128.load(16);
  const x2 = v128.load(32);
  const x3 = v128.load(48);
  let a0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  let a4 = i32x4.splat(0);
  let a5 = i32x4.splat(0);
  let a6 = i32x4.splat(0);
  let a7 = i32x4.splat(0);
  let off: i32 = 0;
  for (let i = 0; i < iters; i++) {
    const w0 = v128.load(off);
    const w1 = v128.load(off + 16);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(w0, x0));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(w0, x1));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(w0, x2));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(w0, x3));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(w1, x0));
    a5 = i32x4.add(a5, i32x4.dot_i16x8_s(w1, x1));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(w1, x2));
    a7 = i32x4.add(a7, i32x4.dot_i16x8_s(w1, x3));
    off = (off + 32) & BLOCK_MASK;
  }
  const s = i32x4.add(
    i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)),
    i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)),
  );
  return (
    i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3)
  );
}

/** `iters` x one vector of sixteen int8 weights, widened to two int16 vectors in the loop (as an
 * int8 kernel must), against four activation vector pairs: 8 dot_i16x8_s a step, 64 multiply-adds. */
export function dotI8(iters: i32): i32 {
  const x0 = v128.load(0);
  const x1 = v128.load(16);
  const x2 = v128.load(32);
  const x3 = v128.load(48);
  let a0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  let a4 = i32x4.splat(0);
  let a5 = i32x4.splat(0);
  let a6 = i32x4.splat(0);
  let a7 = i32x4.splat(0);
  let off: i32 = 0;
  for (let i = 0; i < iters; i++) {
    const w = v128.load(off);
    const lo = i16x8.extend_low_i8x16_s(w);
    const hi = i16x8.extend_high_i8x16_s(w);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(lo, x0));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(lo, x1));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(lo, x2));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(lo, x3));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(hi, x0));
    a5 = i32x4.add(a5, i32x4.dot_i16x8_s(hi, x1));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(hi, x2));
    a7 = i32x4.add(a7, i32x4.dot_i16x8_s(hi, x3));
    off = (off + 16) & BLOCK_MASK;
  }
  const s = i32x4.add(
    i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)),
    i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)),
  );
  return (
    i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3)
  );
}

/** `iters` x two vectors of four float32 weights against four activation vectors with
 * f32x4.mul + f32x4.add (wasm SIMD has no fused multiply-add): 32 multiply-adds a step. */
export function mulAddF32(iters: i32): f32 {
  const x0 = f32x4.splat(0.5);
  const x1 = f32x4.splat(0.25);
  const x2 = f32x4.splat(0.125);
  const x3 = f32x4.splat(0.0625);
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0);
  let a5 = f32x4.splat(0);
  let a6 = f32x4.splat(0);
  let a7 = f32x4.splat(0);
  let off: i32 = 0;
  for (let i = 0; i < iters; i++) {
    const w0 = v128.load(4096 + off);
    const w1 = v128.load(4096 + off + 16);
    a0 = f32x4.add(a0, f32x4.mul(w0, x0));
    a1 = f32x4.add(a1, f32x4.mul(w0, x1));
    a2 = f32x4.add(a2, f32x4.mul(w0, x2));
    a3 = f32x4.add(a3, f32x4.mul(w0, x3));
    a4 = f32x4.add(a4, f32x4.mul(w1, x0));
    a5 = f32x4.add(a5, f32x4.mul(w1, x1));
    a6 = f32x4.add(a6, f32x4.mul(w1, x2));
    a7 = f32x4.add(a7, f32x4.mul(w1, x3));
    off = (off + 32) & BLOCK_MASK;
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)),
    f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)),
  );
  return (
    f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3)
  );
}
