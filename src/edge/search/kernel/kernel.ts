/**
 * The search kernel: exact top-k over quantised vectors in WebAssembly SIMD (kernel.as.ts, built
 * into kernel.wasm). This module owns the packed index (one wasm instance and its memory per
 * index), its memory budget, the query preparation, the allowed-row mask and exclude set, and the
 * rescoring of the shortlist; it does not know ids, metadata or pages (the caller maps rows).
 *
 * Layout: every vector is stored as contiguous int8 codes (dim rounded up to 16, zero padded), a
 * float32 per-vector scale and, optionally, a 1- or 2-bit residual per component, so a vector is
 * `scale * (code + residual)` (the int8 codes are those of quantiseInt8, i.e. of int8 segments).
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
 *
 * The wasm module arrives as a `WebAssembly.Module`: in workerd through wrangler's CompiledWasm
 * rule (`import mod from './kernel.wasm'`), in Node compiled from the file by the caller.
 */

import type { Segment } from '../../../core/index-format/segment';
import { halfToFloatTable, quantiseInt8, TopK, toHalf } from '../../../core/vector';
import { KERNEL_MEMORY_BUDGET_BYTES } from '../../isolate-memory';
/** Largest k a search accepts (covers the Worker's pagination depth of 1000, plus one). */
export const KERNEL_MAX_K = 1024;
/** Residual bits per component used when building from float vectors or fp16 segments. */
export const DEFAULT_RESIDUAL_BITS: ResidualBits = 2;
/** Rows rescored per call when the shortlist is widened. */
const BLOCK_ROWS = 4096;

export type ResidualBits = 0 | 1 | 2;

interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  scan(
    rows: number,
    scales: number,
    n: number,
    dimP: number,
    query: number,
    mask: number,
    heapS: number,
    heapR: number,
    m: number,
    approx: number,
  ): number;
  rescore(
    cands: number,
    count: number,
    out: number,
    rows: number,
    resid: number,
    bits: number,
    scales: number,
    queryF: number,
    dim: number,
    dimP: number,
  ): void;
  collect(approx: number, from: number, n: number, threshold: number, out: number, max: number): number;
}

/** The index would not fit its memory budget. */
export class KernelMemoryError extends Error {
  readonly code = 'kernel_memory_budget';
  constructor(
    readonly neededBytes: number,
    readonly budgetBytes: number,
    detail: string,
  ) {
    super(
      `search kernel: ${detail} needs ${neededBytes} bytes of memory, over the budget of ${budgetBytes} bytes ` +
        `(KERNEL_MEMORY_BUDGET_BYTES = ${KERNEL_MEMORY_BUDGET_BYTES}); use fewer rows per index, fewer residual bits or split the index`,
    );
    this.name = 'KernelMemoryError';
  }
}

export interface KernelIndexOptions {
  /** Residual bits per component (0 = int8 codes only). Default DEFAULT_RESIDUAL_BITS. */
  residualBits?: ResidualBits;
  /** Memory budget in bytes; default (and maximum) KERNEL_MEMORY_BUDGET_BYTES. */
  budgetBytes?: number;
}

export interface KernelSearchOptions {
  /**
   * Rows that may be returned: a bitset (Uint8Array, bit `r & 7` of byte `r >> 3`) or a list of
   * row numbers (any other array). Omitted: every row.
   */
  allowed?: Uint8Array | ArrayLike<number>;
  /** Rows never returned (row numbers outside the index are ignored). */
  exclude?: ArrayLike<number> | ReadonlySet<number>;
  /** Shortlist size override (default `2k + 64`); mainly for measurements. */
  shortlist?: number;
}

export interface KernelHit {
  row: number;
  score: number;
}

export interface KernelMemory {
  /** int8 codes: capacity x dimPadded. */
  codeBytes: number;
  residualBytes: number;
  scaleBytes: number;
  /** Query, mask, shortlist and rescoring buffers. */
  bufferBytes: number;
  /** Everything the index lays out (the figure checked against the budget). */
  totalBytes: number;
  /** The wasm memory's size (total rounded up to 64 KiB pages, plus the module's own page). */
  wasmMemoryBytes: number;
  budgetBytes: number;
}

export interface KernelSearchStats {
  /** Rows in the shortlist (fewer than asked when fewer rows were admitted). */
  shortlist: number;
  /** Whether the shortlist was proven to hold the top k right away. */
  fastPath: boolean;
  /** Rows rescored when it was not (those whose approximate score was close enough). */
  widened: number;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;
const shortlistFor = (k: number) => 2 * k + 64;

interface Layout {
  queryI16: number;
  queryF32: number;
  mask: number;
  heapS: number;
  heapR: number;
  out: number;
  block: number;
  approx: number;
  scales: number;
  codes: number;
  resid: number;
  end: number;
}

function layout(base: number, capacity: number, dimP: number, bits: number): Layout {
  let at = align16(base);
  const take = (bytes: number) => {
    const start = at;
    at = align16(at + bytes);
    return start;
  };
  const maxShortlist = shortlistFor(KERNEL_MAX_K);
  const queryI16 = take(dimP * 2);
  const queryF32 = take(dimP * 4);
  const mask = take(Math.ceil(capacity / 32) * 4);
  const heapS = take(maxShortlist * 4);
  const heapR = take(maxShortlist * 4);
  const out = take(Math.max(maxShortlist, BLOCK_ROWS) * 8);
  const block = take(BLOCK_ROWS * 4);
  const approx = take(capacity * 4);
  const scales = take(capacity * 4);
  const codes = take(capacity * dimP);
  const resid = take((capacity * dimP * bits) / 8);
  return { queryI16, queryF32, mask, heapS, heapR, out, block, approx, scales, codes, resid, end: at };
}

/** wasm memory the module itself takes below the index (its static data and stack), at most. */
const MODULE_RESERVE_BYTES = 65536;

/**
 * The wasm memory an index of `capacity` x `dim` takes (the layout plus the module's own page):
 * what a builder of that capacity checks against its budget, give or take that page.
 */
export function kernelIndexBytes(dim: number, capacity: number, residualBits: ResidualBits): number {
  return MODULE_RESERVE_BYTES + layout(0, capacity, align16(dim), residualBits).end;
}

/** The most rows of `dim` an index may hold within `budgetBytes` (kernelIndexBytes <= budget). */
export function kernelCapacityFor(dim: number, residualBits: ResidualBits, budgetBytes: number): number {
  let lo = 0;
  let hi = Math.ceil(budgetBytes / Math.max(1, align16(dim) * (1 + residualBits / 8)));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (kernelIndexBytes(dim, mid, residualBits) <= budgetBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function instantiate(module: WebAssembly.Module): KernelExports {
  return new WebAssembly.Instance(module, {}).exports as unknown as KernelExports;
}

/**
 * Fills an index row by row (float vectors or int8 codes with their scale). The memory for
 * `capacity` rows is reserved, and checked against the budget, when the builder is made.
 */
export class KernelIndexBuilder {
  readonly dim: number;
  readonly dimPadded: number;
  readonly capacity: number;
  readonly residualBits: ResidualBits;
  #k: KernelExports;
  #l: Layout;
  #budget: number;
  #count = 0;
  #maxScaledL1 = 0;
  #maxScale = 0;
  #tmp: Int8Array;
  #done = false;

  constructor(module: WebAssembly.Module, dim: number, capacity: number, options: KernelIndexOptions = {}) {
    if (!Number.isInteger(dim) || dim < 1 || dim > 8192)
      throw new RangeError(`search kernel: bad dim ${dim}`);
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError(`search kernel: bad capacity ${capacity}`);
    const bits = options.residualBits ?? DEFAULT_RESIDUAL_BITS;
    if (bits !== 0 && bits !== 1 && bits !== 2)
      throw new RangeError(`search kernel: bad residual bits ${bits}`);
    const budget = options.budgetBytes ?? KERNEL_MEMORY_BUDGET_BYTES;
    if (!(budget > 0 && budget <= KERNEL_MEMORY_BUDGET_BYTES)) {
      throw new RangeError(`search kernel: budget ${budget} must be in (0, ${KERNEL_MEMORY_BUDGET_BYTES}]`);
    }
    this.dim = dim;
    this.dimPadded = align16(dim);
    this.capacity = capacity;
    this.residualBits = bits;
    this.#budget = budget;
    // Check before instantiating anything: a layout from address 0 is the same size give or take
    // the module's static data, which is added once the instance exists.
    const needed = layout(0, capacity, this.dimPadded, bits).end;
    if (needed > budget) {
      throw new KernelMemoryError(needed, budget, `an index of ${capacity} x ${dim} (residual ${bits} bits)`);
    }
    this.#k = instantiate(module);
    this.#l = layout(this.#k.heapBase(), capacity, this.dimPadded, bits);
    if (this.#l.end > budget) {
      throw new KernelMemoryError(
        this.#l.end,
        budget,
        `an index of ${capacity} x ${dim} (residual ${bits} bits)`,
      );
    }
    const have = this.#k.memory.buffer.byteLength;
    if (this.#l.end > have) this.#k.memory.grow(Math.ceil((this.#l.end - have) / 65536));
    this.#tmp = new Int8Array(dim);
  }

  get count(): number {
    return this.#count;
  }

  #next(): number {
    if (this.#done) throw new Error('search kernel: builder already finished');
    if (this.#count >= this.capacity)
      throw new RangeError(`search kernel: index is full (${this.capacity} rows)`);
    return this.#count++;
  }

  /** Adds a float vector (quantised here: int8 codes like quantiseInt8, plus the residual). */
  add(vector: ArrayLike<number>): number {
    if (vector.length !== this.dim) {
      throw new RangeError(`search kernel: vector has ${vector.length} components, expected ${this.dim}`);
    }
    for (let i = 0; i < this.dim; i++) {
      if (!Number.isFinite(vector[i] as number)) throw new RangeError('search kernel: non-finite component');
    }
    const row = this.#next();
    const codes = this.#tmp;
    const scale = Math.fround(quantiseInt8(vector, codes));
    const mem = this.#k.memory.buffer;
    new Int8Array(mem, this.#l.codes + row * this.dimPadded, this.dim).set(codes);
    if (this.residualBits > 0 && scale > 0) {
      const bits = this.residualBits;
      const per = 8 / bits;
      const res = new Uint8Array(
        mem,
        this.#l.resid + (row * this.dimPadded * bits) / 8,
        (this.dimPadded * bits) / 8,
      );
      res.fill(0);
      for (let i = 0; i < this.dim; i++) {
        const r = (vector[i] as number) / scale - (codes[i] as number);
        const levels = 1 << bits;
        const c = Math.max(0, Math.min(levels - 1, Math.floor((r + 0.5) * levels)));
        res[(i / per) | 0] = (res[(i / per) | 0] as number) | (c << ((i % per) * bits));
      }
    } else if (this.residualBits > 0) {
      // A zero vector: codes 0, scale 0; the residual is multiplied by 0 anyway.
      new Uint8Array(
        mem,
        this.#l.resid + (row * this.dimPadded * this.residualBits) / 8,
        (this.dimPadded * this.residualBits) / 8,
      ).fill(0);
    }
    this.#setScale(row, scale, codes);
    return row;
  }

  /** Adds a vector given as int8 codes and its scale (an int8 segment's row); no residual. */
  addInt8(codes: Int8Array, scale: number): number {
    if (this.residualBits !== 0)
      throw new Error('search kernel: int8 rows carry no residual; build with residualBits 0');
    if (codes.length !== this.dim) {
      throw new RangeError(`search kernel: row has ${codes.length} codes, expected ${this.dim}`);
    }
    if (!(Number.isFinite(scale) && scale >= 0)) throw new RangeError(`search kernel: bad scale ${scale}`);
    const row = this.#next();
    new Int8Array(this.#k.memory.buffer, this.#l.codes + row * this.dimPadded, this.dim).set(codes);
    this.#setScale(row, Math.fround(scale), codes);
    return row;
  }

  #setScale(row: number, scale: number, codes: Int8Array): void {
    new Float32Array(this.#k.memory.buffer, this.#l.scales + row * 4, 1)[0] = scale;
    let l1 = 0;
    for (let i = 0; i < codes.length; i++) l1 += Math.abs(codes[i] as number);
    this.#maxScaledL1 = Math.max(this.#maxScaledL1, scale * l1);
    this.#maxScale = Math.max(this.#maxScale, scale);
  }

  /**
   * Forgets the rows from `count` on (the next rows added overwrite them). The error bounds the
   * search uses keep the maxima of every row ever added, which stays correct (only looser).
   * Views made by snapshot() before a truncation must not be searched after it.
   */
  truncate(count: number): void {
    if (this.#done) throw new Error('search kernel: builder already finished');
    if (!Number.isInteger(count) || count < 0 || count > this.#count)
      throw new RangeError(`search kernel: cannot truncate ${this.#count} rows to ${count}`);
    this.#count = count;
  }

  /** Copies the first `count` rows of `from` (same dim and residual bits) into this empty builder. */
  copyRows(from: KernelIndexBuilder, count: number): void {
    if (this.#done) throw new Error('search kernel: builder already finished');
    if (this.#count !== 0) throw new Error('search kernel: copyRows needs an empty builder');
    if (from.dim !== this.dim || from.residualBits !== this.residualBits)
      throw new RangeError('search kernel: copyRows between indexes of another shape');
    if (!Number.isInteger(count) || count < 0 || count > from.count || count > this.capacity)
      throw new RangeError(`search kernel: cannot copy ${count} rows`);
    const src = from.#k.memory.buffer;
    const dst = this.#k.memory.buffer;
    const copy = (fromAt: number, toAt: number, bytes: number) =>
      new Uint8Array(dst, toAt, bytes).set(new Uint8Array(src, fromAt, bytes));
    copy(from.#l.codes, this.#l.codes, count * this.dimPadded);
    copy(from.#l.resid, this.#l.resid, (count * this.dimPadded * this.residualBits) / 8);
    copy(from.#l.scales, this.#l.scales, count * 4);
    this.#count = count;
    this.#maxScaledL1 = from.#maxScaledL1;
    this.#maxScale = from.#maxScale;
  }

  /**
   * A searchable index over the rows added so far, sharing this builder's memory: the builder
   * keeps taking rows (the view never sees them). Lets an index grow segment by segment.
   */
  snapshot(): KernelIndex {
    if (this.#done) throw new Error('search kernel: builder already finished');
    return this.#index();
  }

  finish(): KernelIndex {
    if (this.#done) throw new Error('search kernel: builder already finished');
    this.#done = true;
    return this.#index();
  }

  #index(): KernelIndex {
    const memory: KernelMemory = {
      codeBytes: this.capacity * this.dimPadded,
      residualBytes: (this.capacity * this.dimPadded * this.residualBits) / 8,
      scaleBytes: this.capacity * 4,
      bufferBytes: this.#l.scales - this.#l.queryI16,
      totalBytes: this.#l.end,
      wasmMemoryBytes: this.#k.memory.buffer.byteLength,
      budgetBytes: this.#budget,
    };
    if (memory.totalBytes > this.#budget) {
      throw new KernelMemoryError(
        memory.totalBytes,
        this.#budget,
        `an index of ${this.capacity} x ${this.dim}`,
      );
    }
    return new KernelIndex(
      this.#k,
      this.#l,
      this.dim,
      this.#count,
      this.residualBits,
      memory,
      this.#maxScaledL1,
      this.#maxScale,
    );
  }
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
    const maskPtr = this.#prepareMask(options, mem);
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

  /** Writes the effective mask (allowed minus excluded) and returns its address, or 0 for none. */
  #prepareMask(options: KernelSearchOptions, mem: ArrayBuffer): number {
    const { allowed, exclude } = options;
    const excludeSize = exclude === undefined ? 0 : 'size' in exclude ? exclude.size : exclude.length;
    if (allowed === undefined && excludeSize === 0) return 0;
    const n = this.count;
    const words = Math.ceil(n / 32);
    const bytes = new Uint8Array(mem, this.#l.mask, words * 4);
    if (allowed === undefined) {
      bytes.fill(0xff);
    } else if (allowed instanceof Uint8Array) {
      const need = Math.ceil(n / 8);
      if (allowed.length < need) {
        throw new RangeError(
          `search kernel: allowed bitset has ${allowed.length} bytes, the index needs ${need}`,
        );
      }
      bytes.fill(0);
      bytes.set(allowed.subarray(0, need));
    } else {
      bytes.fill(0);
      for (let i = 0; i < allowed.length; i++) {
        const r = allowed[i] as number;
        if (!Number.isInteger(r) || r < 0 || r >= n) {
          throw new RangeError(`search kernel: allowed row ${r} is outside the index (0..${n - 1})`);
        }
        bytes[r >>> 3] = (bytes[r >>> 3] as number) | (1 << (r & 7));
      }
    }
    if (exclude !== undefined) {
      const clear = (r: number) => {
        if (Number.isInteger(r) && r >= 0 && r < n)
          bytes[r >>> 3] = (bytes[r >>> 3] as number) & ~(1 << (r & 7));
      };
      if ('size' in exclude) for (const r of exclude) clear(r);
      else for (let i = 0; i < exclude.length; i++) clear(exclude[i] as number);
    }
    // Bits past the last row stay clear (the scan never reads them, but keep the mask tidy).
    if (n % 32 !== 0 && allowed !== undefined) {
      for (let r = n; r < words * 32; r++) bytes[r >>> 3] = (bytes[r >>> 3] as number) & ~(1 << (r & 7));
    }
    return this.#l.mask;
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

/** An index over float vectors (each `dim` long), quantised here. */
export function buildKernelIndex(
  module: WebAssembly.Module,
  dim: number,
  vectors: readonly ArrayLike<number>[],
  options: KernelIndexOptions = {},
): KernelIndex {
  const builder = new KernelIndexBuilder(module, dim, vectors.length, options);
  for (const v of vectors) builder.add(v);
  return builder.finish();
}

/**
 * An index over decoded segments, rows numbered across them in order (the numbering of
 * searchSegments). int8 segments are copied code for code (residualBits must be 0, the default
 * for them); fp16 segments are dequantised and quantised again (default DEFAULT_RESIDUAL_BITS).
 */
export function buildKernelIndexFromSegments(
  module: WebAssembly.Module,
  segments: readonly Segment[],
  options: KernelIndexOptions = {},
): KernelIndex {
  const first = segments[0];
  if (!first) throw new RangeError('search kernel: no segments');
  const dim = first.dim;
  const anyInt8 = segments.some((s) => s.encoding === 'int8');
  const bits = options.residualBits ?? (anyInt8 ? 0 : DEFAULT_RESIDUAL_BITS);
  if (anyInt8 && bits !== 0) throw new RangeError('search kernel: int8 segments need residualBits 0');
  const total = segments.reduce((s, seg) => s + seg.count, 0);
  const builder = new KernelIndexBuilder(module, dim, total, { ...options, residualBits: bits });
  const table = segments.some((s) => s.encoding === 'fp16') ? halfToFloatTable() : undefined;
  const v = new Float64Array(dim);
  for (const seg of segments) {
    if (seg.dim !== dim) throw new RangeError(`search kernel: segment has dim ${seg.dim}, expected ${dim}`);
    for (let row = 0; row < seg.count; row++) {
      const scale = seg.scales[row] as number;
      if (seg.encoding === 'int8') {
        builder.addInt8((seg.vectors as Int8Array).subarray(row * dim, (row + 1) * dim), scale);
      } else {
        const bits16 = seg.vectors as Uint16Array;
        for (let i = 0; i < dim; i++)
          v[i] = ((table as Float32Array)[bits16[row * dim + i] as number] as number) * scale;
        builder.add(v);
      }
    }
  }
  return builder.finish();
}
