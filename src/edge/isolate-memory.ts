/**
 * The memory split of one Worker isolate (Workers do not let an isolate exceed 128 MB), in one
 * place: what each part of the Worker may hold beside the text tower. scripts/model/fit.mjs adds
 * these budgets to a tower's measured wasm memory to decide whether an `edge` tower fits
 * (test/model/fit.test.ts holds its copy equal to these).
 * - text tower: its ORT wasm memory after a run (koclip-tiny 16 MiB, docs/benchmarks.md);
 * - search kernel (search/kernel/store.ts): every catalogue's wasm memory together (int8 codes,
 *   the fp16 residual, scales, buffers) plus the fp16 rows kept for exact scores; least recently
 *   used catalogues are dropped to make room, and one over the budget alone is served by the JS
 *   loop. 100k x 512 int8 (52 MB) or fp16 (62 MiB, requantised scores) fits;
 * - segment cache (index/segment-cache.ts): decoded segments for the JS loop, image-id
 *   lookups and the index writer; segments read to build a kernel index bypass it;
 * - query cache (query/text-embedder.ts): embeddings of recent queries of `edge` towers;
 * - score answers (score/cache.ts): recent caption-score answers, so a repeated score does no I/O
 *   but the index generation;
 * - the rest for the Worker's heap: ids and metadata of held rows, requests.
 */

const MIB = 1024 * 1024;

/** The isolate's memory limit. */
export const ISOLATE_MEMORY_BYTES = 128 * MIB;

/** Everything the search kernel's indexes may hold together (codes, residual, scales and buffers). */
export const KERNEL_MEMORY_BUDGET_BYTES = 64 * MIB;

/**
 * One search shard's kernel index (search/shards/): the writer sizes shards in rows so that a
 * shard's kernel memory stays under this (index/shard-plan.ts). Two shards may share an isolate
 * ("instances of one class may share an isolate"): together 80 MiB, beside the segment cache
 * (24 MiB) and the heap that holds their ids and metadata, under the 128 MB limit.
 */
export const SHARD_KERNEL_BYTES = 40 * MIB;

/** What the kernel indexes of all shards one isolate holds may take together (two shards). */
export const SHARD_ISOLATE_KERNEL_BYTES = 2 * SHARD_KERNEL_BYTES;

/** Decoded segments kept by the isolate's segment cache. */
export const SEGMENT_CACHE_BYTES = 24 * MIB;

/** Recent caption-score answers (score/cache.ts): about 1,500 answers of 4 captions, 100 of 64. */
export const SCORE_ANSWER_CACHE_BYTES = 2 * MIB;

/**
 * Query embeddings of `edge`-placed towers: about 1,000 texts of a 256-dim model, 500 of a
 * 512-dim one.
 */
export const EDGE_QUERY_CACHE_BYTES = 2 * MIB;
