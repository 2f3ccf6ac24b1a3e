/**
 * What crosses between the Worker and the search shards (and between a group's leader and its
 * members): one search, the part of the catalogue a shard answers for, and the answer. Plain
 * structured-clone data for Durable Object RPC.
 */
import type { IndexKey } from '../../../core/contract/spaces';
import type { CatalogueSegment, CatalogueView } from '../../index';
import type { SearchPath } from '../catalogue-search';
import type { MetadataFilter } from '../filter';
import type { SearchHit } from '../page';

/** One shard's share of the catalogue the search read: its segments, in catalogue order. */
export interface ShardPart {
  shard: number;
  segments: CatalogueSegment[];
  /** Per segment, its first row in the whole catalogue (segments taken end to end). */
  bases: number[];
}

/** One search, as every shard of it receives it. */
export interface ShardSearch {
  index: IndexKey;
  /** The catalogue's identity and generation (segments travel in the parts). */
  catalogue: Omit<CatalogueView, 'segments'>;
  query: Float32Array;
  /** Best rows wanted from every shard: the page's depth plus one (at most MAX_SEARCH_DEPTH). */
  need: number;
  minScore?: number;
  filter?: MetadataFilter;
  exclude?: string[];
  /** What is left of the request's time budget when this call is made, in ms. */
  budgetMs: number;
}

/** A shard's (or a group's) best rows, highest score first, ties in catalogue order. */
export interface ShardAnswer {
  hits: SearchHit[];
  /** Per hit, its row in the whole catalogue (the tie order). */
  rows: number[];
  /** The ranking path of every shard that answered. */
  paths: SearchPath[];
  /** Shards that did not answer in time (after a retry), with the rows they hold. */
  missing: { shard: number; rows: number }[];
}

/** The calls the fan-out makes on a shard (SearchShard implements them). */
export interface ShardRpc {
  search(search: ShardSearch, part: ShardPart): Promise<ShardAnswer>;
  searchGroup(search: ShardSearch, parts: ShardPart[]): Promise<ShardAnswer>;
}
