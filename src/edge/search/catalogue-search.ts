/**
 * Ranking one catalogue for one request (rankCatalogue): the search kernel's page from the
 * isolate's kernel index of the catalogue (./kernel) when it fits the kernel budget, else the
 * reference ranking, the JS loop, over the decoded segments (reference-ranking.ts). Both give the
 * same page; the path taken is reported so the route can say which answered.
 */

import type { IndexKey } from '../../core/contract/spaces';
import type { Segment } from '../../core/index-format/segment';
import type { CatalogueSegment, CatalogueView } from '../index';
import { type KernelStoreOptions, kernelPage, withKernel } from './kernel';
// By path, not through ./kernel: see the note on kernel.wasm in kernel/index.ts.
import kernelModule from './kernel/kernel.wasm';
import type { SearchOptions, SearchPage } from './page';
import { referencePage } from './reference-ranking';

/**
 * `kernel-int8` / `kernel-fp16`: the kernel's page with the segments' own scores;
 * `kernel-requantised`: fp16 scored from the kernel's int8 + 2-bit residual rows;
 * `js` / `js-over-budget` / `js-kernel-error`: the reference ranking (asked for, or the kernel's
 * fallback).
 */
export type SearchPath =
  | 'kernel-int8'
  | 'kernel-fp16'
  | 'kernel-requantised'
  | 'js'
  | 'js-over-budget'
  | 'js-kernel-error';

export interface CatalogueSource {
  index: IndexKey;
  catalogue: CatalogueView;
  /** The decoded segments, in the order asked; `cache: false` keeps them out of the segment cache. */
  segments(refs: readonly CatalogueSegment[], options: { cache?: boolean }): Promise<Segment[]>;
}

export interface RankSettings {
  /** false: the reference ranking only (benchmarks). Default true. */
  kernel?: boolean;
  /** A smaller kernel budget (tests, benchmarks); the module defaults to kernel.wasm. */
  store?: Partial<KernelStoreOptions>;
}

export async function rankCatalogue(
  source: CatalogueSource,
  query: Float32Array,
  options: Omit<SearchOptions, 'dead'>,
  settings: RankSettings = {},
): Promise<{ page: SearchPage; path: SearchPath }> {
  const { catalogue } = source;
  const dead = catalogue.segments.map((s) => new Set(s.dead));
  let path: SearchPath = 'js';
  if (settings.kernel !== false) {
    const answer = await withKernel(
      source.index,
      catalogue,
      (refs) => source.segments(refs, { cache: false }),
      (entry) => kernelPage(entry, query, { ...options, dead }),
      { ...settings.store, module: settings.store?.module ?? kernelModule },
    );
    if (answer.kind === 'kernel') return { page: answer.value.page, path: `kernel-${answer.value.scoring}` };
    path = answer.reason === 'over_budget' ? 'js-over-budget' : 'js-kernel-error';
  }
  const segments = await source.segments(catalogue.segments, { cache: true });
  const page = referencePage(segments, query, { ...options, dead });
  return { page, path };
}
