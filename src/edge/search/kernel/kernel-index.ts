/**
 * A kernel index's search (KernelIndex, made by KernelIndexBuilder): the exact top k of its rows
 * for a query. It knows no ids, metadata or pages (the caller maps rows).
 *
 * A search
 *   1. quantises the query to int16 and scans every admitted row with SIMD integer dot products
 *      (int8 x int16 -> int32), keeping a shortlist of the best `2k + 64` approximate scores;
 *   2. rescores the shortlist in float64 from codes + residual, in the same operation order as the
 *      JS reference (`scoreRow` of src/core/index-format/segment.ts), and keeps the k best (ties:
 *      lower row first);
 *   3. checks the shortlist: a row's approximate score is within a known bound of its final score
 *      (int16 rounding of the query, plus the residual the scan skips), so when the k-th final
 *      score beats the shortlist's cut-off by that bound no row outside can enter; otherwise every
 *      row whose approximate score is within the bound of the k-th is rescored as well.
 * So the result is always the exact top k of the index's vectors, equal to the JS reference over
 * them (`toReferenceSegment`), score for score; step 3 costs time only on near-tied data.
 */
import type { Segment } from '../../../core/index-format/segment';
import { TopK, toHalf } from '../../../core/vector';
import {
  align16,
  BLOCK_ROWS,
  KERNEL_MAX_K,
  type KernelExports,
  type KernelMemory,
  type Layout,
  type ResidualBits,
  shortlistFor,
} from './layout';
import { type RowSet, writeRowMask } from './mask';

export interface KernelSearchOptions {
  /**
   * Rows that may be returned: a bitset (Uint8Array, bit `r & 7` of byte `r >> 3`) or a list of
   * row numbers (any other array). Omitted: every row.
   */
  allowed?: Uint8Array | ArrayLike<number>;
  /** Rows never returned (row numbers outside the index are ignored). */
  exclude?: RowSet;
  /** Shortlist size override (default `2k + 64`); mainly for measurements. */
  shortlist?: number;
}

export interface KernelHit {
  row: number;
  score: number;
}

export interface KernelSearchStats {
  /** Rows in the shortlist (fewer than asked when fewer rows were admitted). */
  shortlist: number;
  /** Whether the shortlist was proven to hold the top k right away. */
  fastPath: boolean;
  /** Rows rescored when it was not (those whose approximate score was close enough). */
  widened: number;
}

/** A packed index over one wasm instance; rows are numbered in insertion order. */
export class KernelIndex {
  readonly dimPadded: number;
  /** Figures of the last search (for measurements and tests). */
  lastStats: KernelSearchStats = { shortlist: 0, fastPath: true, widened: 0 };
  #k: KernelExports;
  #l: Layout;
  #maxScaledL1: number;
  #maxScale: number;

  /** @internal use KernelIndexBuilder, buildKernelIndex or buildKernelIndexFromSegments */
  constructor(
    k: KernelExports,
    l: Layout,
    readonly dim: number,
    readonly count: number,
    readonly residualBits: ResidualBits,
    readonly memory: KernelMemory,
    maxScaledL1: number,
    maxScale: number,
  ) {
    this.#k = k;
    this.#l = l;
    this.dimPadded = align16(dim);
    this.#maxScaledL1 = maxScaledL1;
    this.#maxScale = maxScale;
  }

  /**
   * The k best admitted rows for `query` (length dim), highest score first, ties by lower row.
   * Scores are `scale * Σ query[i] * (code[i] + residual[i])` in float64.
   */
  search(query: Float32Array, k: number, options: KernelSearchOptions = {}): KernelHit[] {
    const { dim, dimPadded: dimP, count: n } = this;
    if (query.length !== dim)
      throw new RangeError(`search kernel: query has dim ${query.length}, index has ${dim}`);
    if (!Number.isInteger(k) || k < 1 || k > KERNEL_MAX_K) {
      throw new RangeError(`search kernel: k must be an integer in [1, ${KERNEL_MAX_K}], got ${k}`);
    }
    let maxAbs = 0;
    for (let i = 0; i < dim; i++) {
      const v = query[i] as number;
      if (!Number.isFinite(v)) throw new RangeError('search kernel: query has a non-finite component');
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    const k8 = this.#k;
    const l = this.#l;
    const mem = k8.memory.buffer;
    const maskPtr = writeRowMask(mem, l.mask, n, options.allowed, options.exclude);
    // int16 query: the largest |q| that keeps dimP * 127 * q16 inside int32.
    const qMax = Math.min(32767, Math.floor(0x7fffffff / (127 * dimP)));
    const sq = maxAbs / qMax;
    const q16 = new Int16Array(mem, l.queryI16, dimP);
    const qf = new Float32Array(mem, l.queryF32, dimP);
    q16.fill(0);
    qf.fill(0);
    qf.set(query);
    if (sq > 0) for (let i = 0; i < dim; i++) q16[i] = Math.round((query[i] as number) / sq);

    const m = Math.min(options.shortlist ?? shortlistFor(k), shortlistFor(KERNEL_MAX_K));
    if (!(Number.isInteger(m) && m >= k))
      throw new RangeError(`search kernel: shortlist ${m} is smaller than k ${k}`);
    const size = k8.scan(l.codes, l.scales, n, dimP, l.queryI16, maskPtr, l.heapS, l.heapR, m, l.approx);
    const stats: KernelSearchStats = { shortlist: size, fastPath: true, widened: 0 };
    this.lastStats = stats;
    if (size === 0) return [];
    const heapR = new Int32Array(mem, l.heapR, size);
    if (sq === 0) {
      // A zero query scores every row exactly 0: the first k admitted rows.
      return Array.from(heapR)
        .sort((a, b) => a - b)
        .slice(0, k)
        .map((row) => ({ row, score: 0 }));
    }
    const hits = this.#rescore(l.heapR, size, new TopK(k)).sorted();
    // Fewer admitted rows than the shortlist holds: every one of them was rescored.
    if (size < m) return hits.map(({ index, score }) => ({ row: index, score }));

    // A row's approximate score (times sq) is within `bound` of its final score: the int16
    // rounding of the query, plus the residual the scan does not read.
    let bound = (this.#maxScaledL1 * sq) / 2;
    if (this.residualBits > 0) {
      let l1 = 0;
      for (let i = 0; i < dim; i++) l1 += Math.abs(query[i] as number);
      bound += this.#maxScale * l1 * (this.residualBits === 1 ? 0.25 : 0.375);
    }
    const heapS = new Float32Array(mem, l.heapS, size);
    let cut = Number.POSITIVE_INFINITY;
    for (let j = 0; j < size; j++) cut = Math.min(cut, heapS[j] as number);
    cut *= sq;
    const kth = (hits[k - 1] as { score: number }).score;
    // float32 rounding of the approximate scores, generously
    const slack = (Math.abs(cut) + Math.abs(kth) + bound) * 2 ** -18 + 1e-300;
    // Rows outside the shortlist scored at most `cut` approximately, so at most cut + bound: when
    // that is below the k-th final score, none of them can enter the top k.
    if (kth > cut + bound + slack) return hits.map(({ index, score }) => ({ row: index, score }));
    // Otherwise rescore every row whose approximate score is within `bound` of the k-th: a row of
    // the true top k scores at least `kth` finally, so at least kth - bound approximately.
    stats.fastPath = false;
    const threshold = (kth - bound - slack) / sq;
    const top = new TopK(k);
    for (let from = 0; from < n; ) {
      const count = k8.collect(l.approx, from, n, threshold, l.block, BLOCK_ROWS);
      if (count === 0) break;
      this.#rescore(l.block, count, top);
      stats.widened += count;
      from = (new Int32Array(mem, l.block, count)[count - 1] as number) + 1;
    }
    return top.sorted().map(({ index, score }) => ({ row: index, score }));
  }

  /** Final scores of `count` rows listed at `rowsPtr`, pushed into `top`. */
  #rescore(rowsPtr: number, count: number, top: TopK): TopK {
    const l = this.#l;
    const k8 = this.#k;
    for (let done = 0; done < count; done += BLOCK_ROWS) {
      const c = Math.min(BLOCK_ROWS, count - done);
      k8.rescore(
        rowsPtr + done * 4,
        c,
        l.out,
        l.codes,
        l.resid,
        this.residualBits,
        l.scales,
        l.queryF32,
        this.dim,
        this.dimPadded,
      );
      const rows = new Int32Array(k8.memory.buffer, rowsPtr + done * 4, c);
      const exact = new Float64Array(k8.memory.buffer, l.out, c);
      for (let j = 0; j < c; j++) top.push(rows[j] as number, exact[j] as number);
    }
    return top;
  }

  /** Row `row` as floats (`scale * (code + residual)`). */
  vector(row: number): Float32Array {
    const codes = this.#codes(row);
    const scale = this.#scale(row);
    const out = new Float32Array(this.dim);
    for (let i = 0; i < this.dim; i++) out[i] = this.#value(row, i, codes) * scale;
    return out;
  }

  #codes(row: number): Int8Array {
    if (!Number.isInteger(row) || row < 0 || row >= this.count)
      throw new RangeError(`search kernel: no row ${row}`);
    return new Int8Array(this.#k.memory.buffer, this.#l.codes + row * this.dimPadded, this.dim);
  }

  #scale(row: number): number {
    return new Float32Array(this.#k.memory.buffer, this.#l.scales + row * 4, 1)[0] as number;
  }

  /** code + residual of component i (a multiple of 1/8, exact in float16). */
  #value(row: number, i: number, codes: Int8Array): number {
    const bits = this.residualBits;
    const c = codes[i] as number;
    if (bits === 0) return c;
    const per = 8 / bits;
    const res = new Uint8Array(
      this.#k.memory.buffer,
      this.#l.resid + (row * this.dimPadded * bits) / 8,
      (this.dimPadded * bits) / 8,
    );
    const code = ((res[(i / per) | 0] as number) >> ((i % per) * bits)) & ((1 << bits) - 1);
    return bits === 1 ? c + (code ? 0.25 : -0.25) : c + code * 0.25 - 0.375;
  }

  /**
   * The index as a decoded segment whose `scoreRow` equals this kernel's score bit for bit (int8
   * without a residual, fp16 bits of code + residual otherwise); ids are `row-<n>`. For tests.
   */
  toReferenceSegment(): Segment {
    const { dim, count } = this;
    const scales = new Float32Array(count);
    const int8 = this.residualBits === 0 ? new Int8Array(count * dim) : undefined;
    const fp16 = this.residualBits === 0 ? undefined : new Uint16Array(count * dim);
    for (let r = 0; r < count; r++) {
      scales[r] = this.#scale(r);
      const codes = this.#codes(r);
      if (int8) int8.set(codes, r * dim);
      else
        for (let i = 0; i < dim; i++) (fp16 as Uint16Array)[r * dim + i] = toHalf(this.#value(r, i, codes));
    }
    return {
      formatVersion: 1,
      model: 'kernel',
      version: '1',
      encoding: int8 ? 'int8' : 'fp16',
      dim,
      count,
      ids: Array.from({ length: count }, (_, r) => `row-${r}`),
      attrs: Array.from({ length: count }, () => ({ metadata: {} })),
      scales,
      vectors: int8 ?? (fp16 as Uint16Array),
      checksum: '',
    };
  }
}
