/**
 * The memory split of the isolates (Workers do not let an isolate exceed 128 MB), in one place.
 *
 * The Worker's isolate (routes, queue consumer) holds no index since search shards
 * (search/shards/): beside the text tower it keeps
 * - segment cache (index/segment-cache.ts): decoded segments for image-id lookups (search and
 *   score by an indexed image) and the index writer;
 * - query cache (query/text-embedder.ts): embeddings of recent queries of `edge` towers;
 * - score answers (score/cache.ts): recent caption-score answers, so a repeated score does no I/O
 *   but the index generation;
 * - the rest for the heap: requests, the app.
 * scripts/model/fit.mjs adds these three budgets to a tower's measured wasm memory to decide
 * whether an `edge` tower fits (test/model/fit.test.ts holds its copy equal to these).
 *
 * A search shard's isolate (search/shards/shard.ts; instances of one class may share one) holds
 * the kernel indexes of its shards, SHARD_KERNEL_BYTES each and SHARD_ISOLATE_KERNEL_BYTES
 * together (least recently used dropped first), the segment cache for the JS loop a shard falls
 * back to, and the ids and metadata of the held rows on the heap.
 *
 * KERNEL_MEMORY_BUDGET_BYTES is the ceiling of one kernel index anywhere (search/kernel/): 100k x
 * 512 int8 (52 MB) or fp16 (62 MiB, requantised scores) fits; the benchmarks build up to it.
 */

const MIB = 1024 * 1024;

/** The isolate's memory limit. */
export const ISOLATE_MEMORY_BYTES = 128 * MIB;

/** The most one search-kernel index may take (codes, residual, scales and buffers), in any isolate. */
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
