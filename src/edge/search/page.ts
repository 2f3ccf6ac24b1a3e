/**
 * A page of search results and what asks for it: the options every ranking of a catalogue takes
 * (the reference ranking and the search kernel alike) and the page `[offset, offset + k)` they
 * return, down to MAX_SEARCH_DEPTH.
 */
import type { ItemMetadata } from '../../core/index-format/segment';
import type { MetadataFilter } from './filter';

/** Deepest result a cursor can reach (offset + k). */
export const MAX_SEARCH_DEPTH = 1000;

export interface SearchOptions {
  k: number;
  offset?: number;
  minScore?: number;
  filter?: MetadataFilter;
  /** Ids never returned (the query image itself when searching by an indexed id). */
  exclude?: ReadonlySet<string>;
  /** Per segment (same order), rows that no longer count: superseded or deleted since written. */
  dead?: readonly (ReadonlySet<number> | undefined)[];
}

export interface SearchHit {
  id: string;
  score: number;
  metadata: ItemMetadata;
  caption?: string;
}

export interface SearchPage {
  hits: SearchHit[];
  /**
   * Per hit (same order), its row in the ranked segments taken end to end: the tie order (a
   * search shard turns it into the row of the whole catalogue, ./shards/merge.ts).
   */
  rows: number[];
  /** Offset of the next page, or null when this page is the last. */
  nextOffset: number | null;
}
