// The search kernel's scan and rescoring loops in WebAssembly SIMD (AssemblyScript; built into
// kernel.wasm by `asc src/edge/search/kernel/kernel.as.ts --config src/edge/search/kernel/asconfig.json
// -o src/edge/search/kernel/kernel.wasm`). layout.ts owns the memory layout; builder.ts and
// kernel-index.ts call these.
//
// Index layout (laid out by layout.ts, all 16-byte aligned):
//   rows    n x dimP int8 codes, row-major, dimP = dim rounded up to 16, zero padded
//   scales  n x f32 per-vector scales (a vector is scale * (code + residual))
//   resid   n x (dimP * bits / 8) bytes of residual codes, little-end first (bits 0, 1 or 2)
// Query layout: dimP x i16 (the query quantised to int16, zero padded) and dim x f32.
//
// scan() computes the approximate score f32(Σ code * q16) * scale of every admitted row and keeps
// the m best in a min-heap (heapS f32 scores, heapR i32 rows; worse = lower score, or equal score
// and later row), writing every row's approximate score to a buffer as well. It reads the codes as
// four interleaved sequential streams (scanStreams) unless a sparse mask lets it skip whole words. rescore() computes the
// final score in f64, summing query[i] * (code[i] + residual[i]) in index order and multiplying by
// the scale, which is the operation order of the JS reference (dotInt8 / dotFp16 in
// src/core/vector.ts), so results agree bit for bit. collect() lists the rows whose approximate
// score reaches a threshold (when the shortlist has to be widened).

export function heapBase(): usize {
  return __heap_base;
}

@inline
function worse(sa: f32, ra: i32, sb: f32, rb: i32): bool {
  return sa < sb || (sa == sb && ra > rb);
}

@inline
function dotRow(row: usize, query: usize, dimP: i32): i32 {
  let acc0 = i32x4.splat(0);
  let acc1 = i32x4.splat(0);
  let acc2 = i32x4.splat(0);
  let acc3 = i32x4.splat(0);
  let j = 0;
  // 32 codes per iteration, four independent accumulators.
  for (; j + 32 <= dimP; j += 32) {
    const v0 = v128.load(row + <usize>j);
    const v1 = v128.load(row + <usize>j, 16);
    const q = query + (<usize>j << 1);
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v0), v128.load(q)));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v0), v128.load(q, 16)));
    acc2 = i32x4.add(acc2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v1), v128.load(q, 32)));
    acc3 = i32x4.add(acc3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v1), v128.load(q, 48)));
  }
  if (j < dimP) {
    const v0 = v128.load(row + <usize>j);
    const q = query + (<usize>j << 1);
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v0), v128.load(q)));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v0), v128.load(q, 16)));
  }
  const s = i32x4.add(i32x4.add(acc0, acc1), i32x4.add(acc2, acc3));
  return (
    i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3)
  );
}

@inline
function siftDown(heapS: usize, heapR: usize, size: i32, score: f32, r: i32): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    let c = l;
    const rr = l + 1;
    if (
      rr < size &&
      worse(
        load<f32>(heapS + (<usize>rr << 2)),
        load<i32>(heapR + (<usize>rr << 2)),
        load<f32>(heapS + (<usize>l << 2)),
        load<i32>(heapR + (<usize>l << 2)),
      )
    )
      c = rr;
    const cs = load<f32>(heapS + (<usize>c << 2));
    const cr = load<i32>(heapR + (<usize>c << 2));
    if (!worse(cs, cr, score, r)) break;
    store<f32>(heapS + (<usize>i << 2), cs);
    store<i32>(heapR + (<usize>i << 2), cr);
    i = c;
  }
  store<f32>(heapS + (<usize>i << 2), score);
  store<i32>(heapR + (<usize>i << 2), r);
}

@inline
function siftUp(heapS: usize, heapR: usize, at: i32, score: f32, r: i32): void {
  let i = at;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const ps = load<f32>(heapS + (<usize>p << 2));
    const pr = load<i32>(heapR + (<usize>p << 2));
    if (!worse(score, r, ps, pr)) break;
    store<f32>(heapS + (<usize>i << 2), ps);
    store<i32>(heapR + (<usize>i << 2), pr);
    i = p;
  }
  store<f32>(heapS + (<usize>i << 2), score);
  store<i32>(heapR + (<usize>i << 2), r);
}

/** Whether row `r` is admitted by `mask` (a bitset, or 0 for every row). */
@inline
function admitted(mask: usize, r: i32): bool {
  return mask == 0 || ((load<u32>(mask + (<usize>(r >> 5) << 2)) >>> (<u32>r & 31)) & 1) != 0;
}

/** Scores row `r` (or writes -Infinity when the mask excludes it) and offers it to the heap. */
@inline
function scoreRowAt(
  row: usize,
  r: i32,
  scales: usize,
  dimP: i32,
  query: usize,
  mask: usize,
  heapS: usize,
  heapR: usize,
  size: i32,
  m: i32,
  approx: usize,
): i32 {
  if (!admitted(mask, r)) {
    store<f32>(approx + (<usize>r << 2), -Infinity);
    return size;
  }
  const score = <f32>dotRow(row, query, dimP) * load<f32>(scales + (<usize>r << 2));
  store<f32>(approx + (<usize>r << 2), score);
  return admit(heapS, heapR, size, m, score, r);
}

/** Offers row `r` with approximate score `score` to the heap of the best `m`; returns its size. */
@inline
function admit(heapS: usize, heapR: usize, size: i32, m: i32, score: f32, r: i32): i32 {
  if (size < m) {
    siftUp(heapS, heapR, size, score, r);
    return size + 1;
  }
  // The root is the worst kept; the total order (score, then row) keeps ties exact whatever the
  // order rows are offered in.
  if (worse(load<f32>(heapS), load<i32>(heapR), score, r)) siftDown(heapS, heapR, size, score, r);
  return size;
}

/** Rows interleaved by the unfiltered scan: this many independent streams through the codes. */
const STREAMS = 4;

/**
 * The scan over STREAMS equal runs of rows at once (row r, r + q, r + 2q, r + 3q): each run is a
 * sequential stream, so several cache misses are in flight at a time; one stream alone waits on
 * memory at every 4 KiB page (hardware prefetchers stop at page boundaries) once the codes are
 * larger than the caches (100k x 512 int8: 3.4 ms against 9.2 ms with one stream, docs/benchmarks.md).
 * Used without a mask and with masks that admit more than a quarter of the rows.
 */
function scanStreams(
  rows: usize,
  scales: usize,
  n: i32,
  dimP: i32,
  query: usize,
  mask: usize,
  heapS: usize,
  heapR: usize,
  m: i32,
  approx: usize,
): i32 {
  let size = 0;
  const stride = <usize>dimP;
  const q = n / STREAMS;
  const step = stride * <usize>q;
  let row = rows;
  for (let r = 0; r < q; r++, row += stride) {
    size = scoreRowAt(row, r, scales, dimP, query, mask, heapS, heapR, size, m, approx);
    size = scoreRowAt(row + step, r + q, scales, dimP, query, mask, heapS, heapR, size, m, approx);
    size = scoreRowAt(row + 2 * step, r + 2 * q, scales, dimP, query, mask, heapS, heapR, size, m, approx);
    size = scoreRowAt(row + 3 * step, r + 3 * q, scales, dimP, query, mask, heapS, heapR, size, m, approx);
  }
  // The last n % STREAMS rows.
  row = rows + stride * <usize>(q * STREAMS);
  for (let r = q * STREAMS; r < n; r++, row += stride) {
    size = scoreRowAt(row, r, scales, dimP, query, mask, heapS, heapR, size, m, approx);
  }
  return size;
}

/** Rows admitted by the bitset `mask` over n rows. */
function admittedCount(mask: usize, n: i32): i32 {
  let count = 0;
  const words = (n + 31) >> 5;
  for (let w = 0; w < words; w++) count += <i32>popcnt<u32>(load<u32>(mask + (<usize>w << 2)));
  return count;
}

/**
 * Approximate scores of rows [0, n) (only those whose bit is set in `mask`, unless mask is 0)
 * against the int16 query; keeps the best `m` in the heap and returns how many it holds. Every
 * row's approximate score (-Infinity when not admitted) is also written to `approx` (n x f32).
 */
export function scan(
  rows: usize,
  scales: usize,
  n: i32,
  dimP: i32,
  query: usize,
  mask: usize,
  heapS: usize,
  heapR: usize,
  m: i32,
  approx: usize,
): i32 {
  // Sparse masks skip whole 32-row words below; denser ones (and no mask) stream.
  if (mask == 0 || admittedCount(mask, n) > n >> 2) {
    return scanStreams(rows, scales, n, dimP, query, mask, heapS, heapR, m, approx);
  }
  let size = 0;
  let row = rows;
  const stride = <usize>dimP;
  for (let r = 0; r < n; r++, row += stride) {
    if (load<u32>(mask + (<usize>(r >> 5) << 2)) == 0) {
      // skip the rest of this 32-row word
      const next = min((r | 31) + 1, n);
      for (let s = r; s < next; s++) store<f32>(approx + (<usize>s << 2), -Infinity);
      row += stride * <usize>(next - r - 1);
      r = next - 1;
      continue;
    }
    size = scoreRowAt(row, r, scales, dimP, query, mask, heapS, heapR, size, m, approx);
  }
  return size;
}

@inline
function exactRow(
  r: i32,
  rows: usize,
  resid: usize,
  bits: i32,
  scales: usize,
  queryF: usize,
  dim: i32,
  dimP: i32,
): f64 {
  const row = rows + <usize>r * <usize>dimP;
  let sum: f64 = 0;
  if (bits == 0) {
    for (let i = 0; i < dim; i++) {
      sum += <f64>load<f32>(queryF + (<usize>i << 2)) * <f64>load<i8>(row + <usize>i);
    }
  } else if (bits == 1) {
    const res = resid + ((<usize>r * <usize>dimP) >> 3);
    for (let i = 0; i < dim; i++) {
      const c = (load<u8>(res + (<usize>i >> 3)) >> (<u8>i & 7)) & 1;
      const v = <f64>load<i8>(row + <usize>i) + (c ? 0.25 : -0.25);
      sum += <f64>load<f32>(queryF + (<usize>i << 2)) * v;
    }
  } else {
    const res = resid + ((<usize>r * <usize>dimP) >> 2);
    for (let i = 0; i < dim; i++) {
      const c = (load<u8>(res + (<usize>i >> 2)) >> ((<u8>i & 3) << 1)) & 3;
      const v = <f64>load<i8>(row + <usize>i) + (<f64>c * 0.25 - 0.375);
      sum += <f64>load<f32>(queryF + (<usize>i << 2)) * v;
    }
  }
  return sum * <f64>load<f32>(scales + (<usize>r << 2));
}

/** Final (f64) scores of `count` rows listed as i32 at `cands`, written as f64 to `out`. */
export function rescore(
  cands: usize,
  count: i32,
  out: usize,
  rows: usize,
  resid: usize,
  bits: i32,
  scales: usize,
  queryF: usize,
  dim: i32,
  dimP: i32,
): void {
  for (let j = 0; j < count; j++) {
    const r = load<i32>(cands + (<usize>j << 2));
    store<f64>(out + (<usize>j << 3), exactRow(r, rows, resid, bits, scales, queryF, dim, dimP));
  }
}

/**
 * Rows r in [from, n) whose approximate score is at least `threshold`, in row order, written as
 * i32 to `out` (at most `max`); returns how many were written.
 */
export function collect(approx: usize, from: i32, n: i32, threshold: f64, out: usize, max: i32): i32 {
  let count = 0;
  for (let r = from; r < n && count < max; r++) {
    if (<f64>load<f32>(approx + (<usize>r << 2)) >= threshold) {
      store<i32>(out + (<usize>count << 2), r);
      count++;
    }
  }
  return count;
}
