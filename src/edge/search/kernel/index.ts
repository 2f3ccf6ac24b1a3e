/**
 * The search kernel: exact top-k over quantised vectors in WebAssembly SIMD, held in the Worker
 * isolate per catalogue. It owns the packed index (int8 codes, residual and scales in one wasm
 * memory), its memory budget, the isolate's catalogue indexes and the page of a request from
 * them. Its pages are those of the reference ranking (referencePage, ../reference-ranking.ts)
 * over the same segments, score for score (within a stated bound for fp16 catalogues too large
 * to keep their fp16 rows: catalogue-page.ts), which the tests hold it to.
 *
 * Parts, from the bottom:
 * - kernel.as.ts: the scan and rescoring loops, built into kernel.wasm (`npm run build:kernel`);
 * - layout.ts: an index's wasm memory (codes, residual, scales, buffers), its size against the
 *   budget; mask.ts: the allowed-row mask the scan reads;
 * - builder.ts, build.ts: KernelIndexBuilder fills an index row by row (build.ts: in one call,
 *   from float vectors or decoded segments); kernel-index.ts: KernelIndex searches it, exact;
 * - catalogue-kernel.ts: one catalogue's index, grown segment by segment (CatalogueKernel);
 * - store.ts: the isolate's catalogue indexes under one budget, least recently used dropped first;
 * - catalogue-page.ts: a request's page from a catalogue's index (filter, dead rows and excluded
 *   ids as the allowed-row mask; fp16 rescoring).
 *
 * kernel.wasm is not imported here: in workerd it arrives as a WebAssembly.Module through
 * wrangler's CompiledWasm rule, imported by path (../catalogue-search.ts, the workerd tests and
 * benchmarks), while Node, where bench:kernel loads this module, cannot import a .wasm file and
 * compiles the file it reads instead.
 */

export { buildKernelIndex, buildKernelIndexFromSegments } from './build';
export { KernelIndexBuilder, type KernelIndexOptions } from './builder';
export type { CatalogueKernel } from './catalogue-kernel';
export { type KernelScoring, kernelPage } from './catalogue-page';
export {
  type KernelHit,
  KernelIndex,
  type KernelSearchOptions,
  type KernelSearchStats,
} from './kernel-index';
export {
  DEFAULT_RESIDUAL_BITS,
  KERNEL_MAX_K,
  type KernelMemory,
  KernelMemoryError,
  kernelIndexBytes,
  type ResidualBits,
} from './layout';
export {
  clearKernelStore,
  dropKernelEntry,
  type KernelAnswer,
  type KernelStoreOptions,
  kernelEntryBytes,
  kernelStoreStats,
  type SegmentLoader,
  withKernel,
} from './store';
