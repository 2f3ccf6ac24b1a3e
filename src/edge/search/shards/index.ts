/**
 * Search shards: an index searched past one isolate. The writer puts every segment on a shard
 * (../../index/shard-plan.ts, recorded in its catalogue); a SearchShard Durable Object per shard
 * holds its segments warm in the search kernel (./shard.ts); a search sends the query to the
 * shards of the catalogue it read and merges their best rows into the page one exact search over
 * the whole index gives (./fan-out.ts, ./merge.ts). The Worker isolate holds no index.
 * The design and its failure behaviour: docs/indexing.md ("Search shards").
 */
import type { IndexKey } from '../../../core/contract/spaces';
import type { Env } from '../../env';
import type { CatalogueView } from '../../index';
import type { SearchPath } from '../catalogue-search';
import type { SearchOptions, SearchPage } from '../page';
import { fanOut, partsOf, type ShardSettings, shardSettings } from './fan-out';
import { needFor, pageOf } from './merge';
import type { SearchShard } from './shard';

export type { ShardAnswer, ShardPart, ShardSearch } from './contract';
export { partsOf, shardName } from './fan-out';
export { SearchShard } from './shard';

/** One shard's Durable Object stub, by its name (shardName): tests, benchmarks and debug routes. */
export function shardStub(env: Pick<Env, 'SEARCH_SHARDS'>, name: string): DurableObjectStub<SearchShard> {
  const ns = env.SEARCH_SHARDS as unknown as DurableObjectNamespace<SearchShard>;
  return ns.get(ns.idFromName(name));
}

export interface ShardedPage {
  page: SearchPage;
  /** Shards the catalogue has. */
  shards: number;
  /** The ranking path of every shard that answered. */
  paths: SearchPath[];
  /** Shards that did not answer (after a retry), and the share of the index's rows they hold. */
  missing: { shards: number[]; share: number };
}

/** The page of `options` over the catalogue, from its shards. */
export async function searchShards(
  env: Pick<Env, 'SEARCH_SHARDS'>,
  index: IndexKey,
  catalogue: CatalogueView,
  query: Float32Array,
  options: Omit<SearchOptions, 'dead'>,
  settings: ShardSettings = shardSettings(env),
): Promise<ShardedPage> {
  const parts = partsOf(catalogue);
  const offset = options.offset ?? 0;
  const { segments: _, ...identity } = catalogue;
  const answer = await fanOut(
    {
      index,
      catalogue: identity,
      query,
      need: needFor(offset, options.k),
      ...(options.minScore === undefined ? {} : { minScore: options.minScore }),
      ...(options.filter ? { filter: options.filter } : {}),
      ...(options.exclude?.size ? { exclude: [...options.exclude] } : {}),
      budgetMs: settings.SEARCH_BUDGET_MS,
    },
    parts,
    { env, settings, log: (message) => console.warn(message) },
  );
  const rows = catalogue.segments.reduce((n, s) => n + s.count, 0);
  const missingRows = answer.missing.reduce((n, m) => n + m.rows, 0);
  return {
    page: pageOf(answer, offset, options.k),
    shards: parts.length,
    paths: answer.paths,
    missing: {
      shards: answer.missing.map((m) => m.shard).sort((a, b) => a - b),
      share: rows === 0 ? 0 : missingRows / rows,
    },
  };
}
