/**
 * The reference ranking: a plain JS loop that scores every row of the decoded segments with
 * scoreRow and keeps the best of those that are not dead or excluded, pass the metadata filter
 * and reach the score floor.
 * It defines the page: the search kernel (./kernel) is tested to return exactly this page over
 * the same segments, and it answers when the kernel cannot (catalogue-search.ts). Pure: no
 * bindings, no I/O.
 */
import { type ItemMetadata, type Segment, scoreRow } from '../../core/index-format/segment';
import { TopK } from '../../core/vector';
import { compileFilter } from './filter';
import { MAX_SEARCH_DEPTH, type SearchOptions, type SearchPage } from './page';

/**
 * Scores every vector that passes the filter against the unit-length `query` and returns the
 * page `[offset, offset + k)` of the best, highest score first (ties: segment order).
 */
export function referencePage(
  segments: readonly Segment[],
  query: Float32Array,
  options: SearchOptions,
): SearchPage {
  const offset = options.offset ?? 0;
  const minScore = options.minScore ?? Number.NEGATIVE_INFINITY;
  const depth = Math.min(offset + options.k, MAX_SEARCH_DEPTH);
  // One extra result tells whether another page exists.
  const heap = new TopK(depth + 1);
  const passes = compileFilter(options.filter);
  // A hit is identified by its position in the concatenated segments (scan order breaks ties).
  const bases: number[] = [];
  let base = 0;
  for (const [s, segment] of segments.entries()) {
    bases.push(base);
    const dead = options.dead?.[s];
    if (segment.dim !== query.length)
      throw new RangeError(`query has dim ${query.length}, index has ${segment.dim}`);
    for (let row = 0; row < segment.count; row++) {
      if (dead?.has(row)) continue;
      if (options.exclude?.has(segment.ids[row] as string)) continue;
      if (!passes((segment.attrs[row] as { metadata: ItemMetadata }).metadata)) continue;
      const score = scoreRow(segment, query, row);
      if (score < minScore || score <= heap.threshold) continue;
      heap.push(base + row, score);
    }
    base += segment.count;
  }
  const ranked = heap.sorted();
  const rows = ranked.slice(offset, depth).map(({ index }) => index);
  const hits = ranked.slice(offset, depth).map(({ index, score }) => {
    let s = bases.length - 1;
    while ((bases[s] as number) > index) s--;
    const segment = segments[s] as Segment;
    const row = index - (bases[s] as number);
    const attrs = segment.attrs[row] as { metadata: ItemMetadata; caption?: string };
    return {
      id: segment.ids[row] as string,
      score,
      metadata: attrs.metadata,
      ...(attrs.caption === undefined ? {} : { caption: attrs.caption }),
    };
  });
  const more = ranked.length > depth && depth < MAX_SEARCH_DEPTH;
  return { hits, rows, nextOffset: more ? depth : null };
}
