/**
 * The memory of a kernel index, shared by its builder and its searches (and by kernel.as.ts, which
 * reads it): one wasm instance per index, its memory laid out from the module's heap base: the
 * query, the allowed-row mask, the shortlist heap and the rescoring buffers, then for every row
 * its approximate score, its float32 scale, its int8 codes (dim rounded up to 16, zero padded)
 * and, optionally, a 1- or 2-bit residual per component, so a vector is
 * `scale * (code + residual)` (the int8 codes are those of quantiseInt8, i.e. of int8 segments).
 * Also what that takes against the memory budget, and the error when it does not fit.
 */
import { KERNEL_MEMORY_BUDGET_BYTES } from '../../isolate-memory';

/** Largest k a search accepts (covers the Worker's pagination depth of 1000, plus one). */
export const KERNEL_MAX_K = 1024;
/** Residual bits per component used when building from float vectors or fp16 segments. */
export const DEFAULT_RESIDUAL_BITS: ResidualBits = 2;
/** Rows rescored per call when the shortlist is widened. */
export const BLOCK_ROWS = 4096;

export type ResidualBits = 0 | 1 | 2;

/** What kernel.wasm exports; pointers are byte offsets into its memory. */
export interface KernelExports {
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

export const align16 = (n: number) => Math.ceil(n / 16) * 16;
export const shortlistFor = (k: number) => 2 * k + 64;

export interface Layout {
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

export function layout(base: number, capacity: number, dimP: number, bits: number): Layout {
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

export function instantiate(module: WebAssembly.Module): KernelExports {
  return new WebAssembly.Instance(module, {}).exports as unknown as KernelExports;
}
