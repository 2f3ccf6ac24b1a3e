/**
 * The page of a search from a catalogue's kernel index (catalogue-kernel.ts): kernelPage, the same
 * page the reference ranking (referencePage, ../reference-ranking.ts) returns over the same
 * segments. The metadata filter, the dead rows and the excluded ids become the kernel's
 * allowed-row mask; the kernel gives the exact top `depth + 1` of the admitted rows; `min_score`
 * and the page are cut from that.
 *
 * Scores, per encoding:
 * - int8: the kernel's rows are the segments' codes and its float64 sum follows scoreRow's order,
 *   so scores (and so ties and pages) are identical to referencePage's.
 * - fp16 with the fp16 rows held (catalogues that fit the budget beside the kernel, see
 *   store.ts): the kernel's shortlist is rescored with scoreRow from the fp16 rows. A row
 *   outside the shortlist scores at most `t + B` in fp16 (t: the shortlist's lowest kernel score,
 *   B: the requantisation bound of CatalogueKernel.fp16ErrorPerL1 times the query's L1 norm), so
 *   when the last needed fp16 score beats `t + B` the page is exactly referencePage's. Otherwise
 *   the shortlist widens to KERNEL_MAX_K, and then the JS loop runs over the held rows.
 * - fp16 without them (`requantised`): the kernel's own scores, exact over int8 codes + 2-bit
 *   residual, which differ from the fp16 rows' by at most B (about 1e-4 on unit CLIP vectors).
 */
import { scoreRow } from '../../../core/index-format/segment';
import { compileFilter } from '../filter';
import { MAX_SEARCH_DEPTH, type SearchHit, type SearchOptions, type SearchPage } from '../page';
import { referencePage } from '../reference-ranking';
import type { CatalogueKernel, HeldSegment } from './catalogue-kernel';
import type { KernelHit } from './kernel-index';
import { KERNEL_MAX_K } from './layout';

/** How the page was scored: kernel scores (int8), fp16 rescoring, or requantised fp16. */
export type KernelScoring = 'int8' | 'fp16' | 'requantised';

/** The allowed-row mask of a request: filter passes, not dead, not excluded. */
export function allowedRows(entry: CatalogueKernel, options: SearchOptions): Uint8Array {
  const mask = new Uint8Array(Math.ceil(entry.rows / 8));
  const passes = options.filter ? compileFilter(options.filter) : undefined;
  const clear = (row: number) => {
    mask[row >>> 3] = (mask[row >>> 3] as number) & ~(1 << (row & 7));
  };
  if (!passes) mask.fill(0xff);
  for (const [s, held] of entry.held.entries()) {
    if (passes) {
      // By row number: the ISO-date fields it compares are parsed once per held segment.
      const rowPasses = passes.rows(held.attrs);
      for (let row = 0; row < held.count; row++) {
        if (!rowPasses(row)) continue;
        const r = held.base + row;
        mask[r >>> 3] = (mask[r >>> 3] as number) | (1 << (r & 7));
      }
    }
    for (const row of options.dead?.[s] ?? []) if (row < held.count) clear(held.base + row);
    for (const id of options.exclude ?? []) {
      const row = held.ids.indexOf(id);
      if (row >= 0) clear(held.base + row);
    }
  }
  return mask;
}

function heldAt(held: readonly HeldSegment[], row: number): HeldSegment {
  let lo = 0;
  let hi = held.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((held[mid] as HeldSegment).base <= row) lo = mid;
    else hi = mid - 1;
  }
  return held[lo] as HeldSegment;
}

const byScore = (a: KernelHit, b: KernelHit) => b.score - a.score || a.row - b.row;

/** fp16 scores of the shortlist, or null when the shortlist cannot be shown to hold the page. */
function rescoreFp16(
  entry: CatalogueKernel,
  query: Float32Array,
  shortlist: KernelHit[],
  asked: number,
  need: number,
  minScore: number,
): KernelHit[] | null {
  const exact = shortlist
    .map(({ row }) => {
      const held = heldAt(entry.held, row);
      return { row, score: scoreRow(held.fp16 as NonNullable<HeldSegment['fp16']>, query, row - held.base) };
    })
    .sort(byScore);
  // Fewer rows than asked: every admitted row is in the shortlist.
  if (shortlist.length < asked) return exact;
  let l1 = 0;
  for (let i = 0; i < query.length; i++) l1 += Math.abs(query[i] as number);
  const bound = entry.fp16ErrorPerL1 * l1 + 1e-9;
  const lowest = Math.min(...shortlist.map((h) => h.score));
  const passing = exact.filter((h) => h.score >= minScore);
  const required = passing.length >= need ? (passing[need - 1] as KernelHit).score : minScore;
  return lowest + bound < required ? exact : null;
}

/** The page `[offset, offset + k)` of the catalogue for `query`, as referencePage would rank it. */
export function kernelPage(
  entry: CatalogueKernel,
  query: Float32Array,
  options: SearchOptions,
): { page: SearchPage; scoring: KernelScoring } {
  const index = entry.index;
  if (!index) throw new Error('search kernel: the catalogue index was never synced');
  if (query.length !== entry.dim)
    throw new RangeError(`query has dim ${query.length}, index has ${entry.dim}`);
  const offset = options.offset ?? 0;
  const minScore = options.minScore ?? Number.NEGATIVE_INFINITY;
  const depth = Math.min(offset + options.k, MAX_SEARCH_DEPTH);
  // One extra result tells whether another page exists.
  const need = depth + 1;
  const allowed = allowedRows(entry, options);
  let ranked: KernelHit[] | null;
  let scoring: KernelScoring = entry.encoding === 'int8' ? 'int8' : 'requantised';
  if (entry.exactFp16) {
    scoring = 'fp16';
    ranked = null;
    for (const asked of [Math.min(KERNEL_MAX_K, 2 * need + 16), KERNEL_MAX_K]) {
      ranked = rescoreFp16(entry, query, index.search(query, asked, { allowed }), asked, need, minScore);
      if (ranked || asked === KERNEL_MAX_K) break;
    }
    if (!ranked) {
      const segments = entry.held.map((h) => h.fp16 as NonNullable<HeldSegment['fp16']>);
      return { page: referencePage(segments, query, options), scoring };
    }
  } else {
    ranked = index.search(query, need, { allowed });
  }
  const kept = ranked.filter((h) => h.score >= minScore).slice(0, need);
  const hits: SearchHit[] = kept.slice(offset, depth).map(({ row, score }) => {
    const held = heldAt(entry.held, row);
    const attrs = held.attrs[row - held.base] as HeldSegment['attrs'][number];
    return {
      id: held.ids[row - held.base] as string,
      score,
      metadata: attrs.metadata,
      ...(attrs.caption === undefined ? {} : { caption: attrs.caption }),
    };
  });
  const more = kept.length > depth && depth < MAX_SEARCH_DEPTH;
  const rows = kept.slice(offset, depth).map(({ row }) => row);
  return { page: { hits, rows, nextOffset: more ? depth : null }, scoring };
}
