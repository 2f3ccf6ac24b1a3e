/**
 * The isolate's search-kernel indexes, one per catalogue (collection, model id, model version:
 * keyed by the index's writer name from storage-keys.ts), each brought up to date with the
 * catalogue a request read (its segment list: key and etag of every immutable segment) before it
 * answers, so a write is seen by the next search and no request rebuilds what an earlier one built.
 *
 * All catalogues together hold at most KERNEL_MEMORY_BUDGET_BYTES (the isolate's memory split is
 * in src/edge/isolate-memory.ts): least recently used catalogues are dropped to make room, and a
 * catalogue over the budget alone is served by the JS loop (logged once per size). fp16 keeps
 * exact scores up to ~40k x 512. While an index grows, the old and new wasm memories coexist for
 * one copy.
 */

import type { IndexKey } from '../../../core/contract/spaces';
import type { Segment } from '../../../core/index-format/segment';
import type { CatalogueSegment, CatalogueView } from '../../index';
import { KERNEL_MEMORY_BUDGET_BYTES } from '../../isolate-memory';
import { writerName } from '../../storage-keys';
import { CatalogueKernel, segmentIdentity } from './catalogue-kernel';
import { KernelMemoryError, kernelIndexBytes } from './layout';

/** Reads segments of the catalogue (in the order asked), without keeping them in the segment cache. */
export type SegmentLoader = (refs: readonly CatalogueSegment[]) => Promise<Segment[]>;

export type KernelAnswer<T> =
  | { kind: 'kernel'; value: T; entry: CatalogueKernel }
  | { kind: 'fallback'; reason: 'over_budget' | 'kernel_error' };

/** Segments read (and appended) at a time while an index is built: bounds the decoded copies alive. */
const LOAD_BATCH = 4;

const entries = new Map<string, CatalogueKernel>();
/** Per catalogue, the update in progress: updates of one catalogue run one after another. */
const locks = new Map<string, Promise<unknown>>();
const warned = new Set<string>();
const counters = { builds: 0, updates: 0, reused: 0, fallbacks: 0, evictions: 0 };

export interface KernelStoreOptions {
  /** kernel.wasm, compiled (in workerd by wrangler's CompiledWasm rule). */
  module: WebAssembly.Module;
  /** One catalogue's index: at most, and by default, KERNEL_MEMORY_BUDGET_BYTES (tests and benchmarks give less). */
  budgetBytes?: number;
  /** All catalogues of the isolate together (default: budgetBytes); a search shard's isolate holds two shards. */
  isolateBudgetBytes?: number;
  /** The entry's name (default: the index's writer name; a search shard adds its number). */
  key?: string;
}

function fallback(key: string, reason: 'over_budget' | 'kernel_error', message: string) {
  counters.fallbacks++;
  if (!warned.has(key)) {
    warned.add(key);
    console.warn(`search kernel: ${message}; searching with the JS loop`);
  }
  return { kind: 'fallback' as const, reason };
}

/** Drops least recently used catalogues other than `keep` while all of them exceed the budget. */
function evict(keep: string, budget: number): void {
  let total = 0;
  for (const entry of entries.values()) total += entry.bytes;
  for (const [key, entry] of entries) {
    if (total <= budget) break;
    if (key === keep) continue;
    entries.delete(key);
    total -= entry.bytes;
    counters.evictions++;
  }
}

async function update<T>(
  key: string,
  catalogue: CatalogueView,
  load: SegmentLoader,
  use: (entry: CatalogueKernel) => T,
  options: KernelStoreOptions,
): Promise<KernelAnswer<T>> {
  const budget = Math.min(options.budgetBytes ?? KERNEL_MEMORY_BUDGET_BYTES, KERNEL_MEMORY_BUDGET_BYTES);
  const isolateBudget = Math.max(budget, options.isolateBudgetBytes ?? budget);
  const { dim, encoding, segments: refs } = catalogue;
  const rows = refs.reduce((sum, ref) => sum + ref.count, 0);
  const needed = kernelIndexBytes(dim, rows, encoding === 'int8' ? 0 : 2);
  if (needed > budget) {
    entries.delete(key);
    return fallback(
      `${key}:${rows}`,
      'over_budget',
      `${key} (${rows} x ${dim} ${encoding}) needs ${needed} bytes, over the kernel budget of ${budget}`,
    );
  }
  let entry = entries.get(key);
  const fresh = !entry || entry.dim !== dim || entry.encoding !== encoding;
  if (!entry || fresh) entry = new CatalogueKernel(options.module, dim, encoding, budget);
  entries.delete(key);
  entries.set(key, entry);
  let upto = entry.prefix(refs);
  const changed = !entry.index || upto !== refs.length || entry.held.length !== refs.length;
  try {
    entry.sync(refs.slice(0, upto), new Map(), rows);
    while (upto < refs.length) {
      const batch = refs.slice(upto, upto + LOAD_BATCH);
      let segments: Segment[];
      try {
        segments = await load(batch);
      } catch (error) {
        // The index holds a consistent prefix; the error is the request's (as in the JS loop).
        throw new LoadError(error);
      }
      entry.sync(
        refs.slice(0, upto + batch.length),
        new Map(batch.map((ref, i) => [segmentIdentity(ref), segments[i] as Segment])),
        rows,
      );
      upto += batch.length;
    }
  } catch (error) {
    if (error instanceof LoadError) throw error.cause;
    // A half-updated index is never searched: the next request starts a new one.
    entries.delete(key);
    const message = error instanceof Error ? error.message : String(error);
    return fallback(
      `${key}:${rows}:error`,
      error instanceof KernelMemoryError ? 'over_budget' : 'kernel_error',
      `${key}: ${message}`,
    );
  }
  if (fresh) counters.builds++;
  else if (changed) counters.updates++;
  else counters.reused++;
  evict(key, isolateBudget);
  return { kind: 'kernel', value: use(entry), entry };
}

class LoadError extends Error {
  constructor(override readonly cause: unknown) {
    super('segment read failed');
  }
}

/**
 * Brings the kernel index of `catalogue` up to its segment list and calls `use` with it in the
 * same synchronous step (so no other request's update lands between), or says why the JS loop
 * must answer. Errors reading segments (a missing or corrupt segment) are thrown, as the JS loop
 * would throw them; kernel errors are logged and answered with a fallback.
 */
export async function withKernel<T>(
  index: IndexKey,
  catalogue: CatalogueView,
  load: SegmentLoader,
  use: (entry: CatalogueKernel) => T,
  options: KernelStoreOptions,
): Promise<KernelAnswer<T>> {
  const key = options.key ?? writerName(index);
  const previous = locks.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => update(key, catalogue, load, use, options));
  locks.set(key, run);
  try {
    return await run;
  } finally {
    if (locks.get(key) === run) locks.delete(key);
  }
}

/** Counters and sizes, for tests and the debug probe. */
export function kernelStoreStats() {
  let bytes = 0;
  for (const entry of entries.values()) bytes += entry.bytes;
  return { ...counters, entries: entries.size, bytes };
}

/** What one catalogue's index holds now (wasm memory and fp16 rows), or null when it is not held. */
export function kernelEntryBytes(key: string): number | null {
  return entries.get(key)?.bytes ?? null;
}

/** Drops one catalogue's index (a search shard's eviction, asked for by benchmarks); true if it was held. */
export function dropKernelEntry(key: string): boolean {
  return entries.delete(key);
}

/** Drops every catalogue index and resets the counters (tests). */
export function clearKernelStore(): void {
  entries.clear();
  warned.clear();
  for (const name of Object.keys(counters) as (keyof typeof counters)[]) counters[name] = 0;
}
