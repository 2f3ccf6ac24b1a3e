/**
 * SearchShard: a Durable Object that holds a part of one index (the segments the writer put on
 * its shard) warm in the search kernel and answers exact top-`need` for a query vector. It keeps
 * nothing of its own: every call brings the segment list and dead rows of the catalogue the
 * search read, and the shard's kernel index is brought to exactly that list before it answers
 * (search/kernel/store.ts: held segments that are a prefix of the list stay, the rest is read from
 * R2). After an eviction the first search reads the part again from R2, where the segments are
 * immutable and already stored (docs/indexing.md, "Search shards").
 *
 * Its kernel index may take SHARD_KERNEL_BYTES, and the kernel indexes of every shard that shares
 * its isolate SHARD_ISOLATE_KERNEL_BYTES together (../../isolate-memory.ts; SHARD_ISOLATE_KERNEL_MIB
 * raises that where one isolate holds every shard, as wrangler dev's does). A group's leader
 * (`searchGroup`) answers its own part and calls the group's other shards (./fan-out.ts).
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../../env';
import { IndexReader } from '../../index';
import { SHARD_KERNEL_BYTES } from '../../isolate-memory';
import { rankCatalogue } from '../catalogue-search';
import { dropKernelEntry, kernelEntryBytes, kernelStoreStats } from '../kernel';
import type { ShardAnswer, ShardPart, ShardRpc, ShardSearch } from './contract';
import { fanOut, shardName, shardSettings } from './fan-out';
import { probeReload, type ReloadProbe } from './reload-probe';

/** One shard's best rows for `search` over its `part`, rows numbered in the whole catalogue. */
export async function answerPart(
  env: Pick<Env, 'INDEX_BUCKET' | 'INDEX_WRITER'>,
  search: ShardSearch,
  part: ShardPart,
): Promise<ShardAnswer> {
  const catalogue = { ...search.catalogue, segments: part.segments };
  const reader = new IndexReader(env, search.index);
  const { page, path } = await rankCatalogue(
    {
      index: search.index,
      catalogue,
      segments: (refs, options) => reader.segments(catalogue, refs, options),
    },
    search.query,
    {
      k: search.need,
      ...(search.minScore === undefined ? {} : { minScore: search.minScore }),
      ...(search.filter ? { filter: search.filter } : {}),
      ...(search.exclude?.length ? { exclude: new Set(search.exclude) } : {}),
    },
    {
      store: {
        budgetBytes: SHARD_KERNEL_BYTES,
        isolateBudgetBytes: shardSettings(env).SHARD_ISOLATE_KERNEL_MIB * 1024 * 1024,
        key: shardName(search, part.shard),
      },
    },
  );
  // The page's rows count from the part's first segment; the merge orders ties by catalogue row.
  const starts: number[] = [];
  let start = 0;
  for (const segment of part.segments) {
    starts.push(start);
    start += segment.count;
  }
  const rows = page.rows.map((row) => {
    let s = starts.length - 1;
    while ((starts[s] as number) > row) s--;
    return (part.bases[s] as number) + row - (starts[s] as number);
  });
  return { hits: page.hits, rows, paths: [path], missing: [] };
}

export class SearchShard extends DurableObject<Env> implements ShardRpc {
  /** A fault the tests ask for (DEBUG_ROUTES only): fail or hang every search until `until`. */
  #fault: { until: number; mode: 'error' | 'hang' } | undefined;

  private async faultIfAsked(): Promise<void> {
    const fault = this.#fault;
    if (!fault || Date.now() >= fault.until) return;
    if (fault.mode === 'hang') await new Promise((r) => setTimeout(r, fault.until - Date.now()));
    throw new Error('search shard: failing on purpose (debug fault)');
  }

  /** This shard's best rows of its part. */
  async search(search: ShardSearch, part: ShardPart): Promise<ShardAnswer> {
    await this.faultIfAsked();
    return answerPart(this.env, search, part);
  }

  /** A group's merged best rows: this shard leads (its part is the first) and calls the others. */
  async searchGroup(search: ShardSearch, parts: ShardPart[]): Promise<ShardAnswer> {
    await this.faultIfAsked();
    const own = parts[0];
    if (!own) return { hits: [], rows: [], paths: [], missing: [] };
    return fanOut(search, parts, {
      env: this.env,
      settings: shardSettings(this.env),
      self: { shard: own.shard, answer: (s, p) => answerPart(this.env, s, p) },
      log: (message) => console.warn(message),
    });
  }

  /**
   * The kernel store of this shard's isolate (every index and shard it holds), and with the
   * shard named, what that shard's own kernel index holds now (null when evicted): benchmarks'
   * memory per shard.
   */
  async stats(search?: Pick<ShardSearch, 'index'>, shard?: number) {
    const own = search && shard !== undefined ? kernelEntryBytes(shardName(search, shard)) : null;
    return { ...kernelStoreStats(), shard_bytes: own };
  }

  private debugOnly(): void {
    const debug = (this.env as { DEBUG_ROUTES?: string }).DEBUG_ROUTES;
    if (debug !== '1' && debug !== 'true') throw new Error('debug calls need DEBUG_ROUTES=1');
  }

  /** Tests only (DEBUG_ROUTES=1): every search fails (`error`) or hangs (`hang`) for `ms`. */
  async debugFault(ms: number, mode: 'error' | 'hang' = 'error'): Promise<void> {
    this.debugOnly();
    this.#fault = { until: Date.now() + ms, mode };
  }

  /**
   * Benchmarks only (DEBUG_ROUTES=1): drops this shard's kernel index as an eviction would, so the
   * next search reloads its part; true if it was held.
   */
  async debugEvict(search: Pick<ShardSearch, 'index'>, shard: number): Promise<boolean> {
    this.debugOnly();
    return dropKernelEntry(shardName(search, shard));
  }

  /** Benchmarks only (DEBUG_ROUTES=1): its part read from R2 against from its own SQLite (./reload-probe.ts). */
  async debugReloadProbe(
    search: Pick<ShardSearch, 'index' | 'catalogue'>,
    part: ShardPart,
  ): Promise<ReloadProbe> {
    this.debugOnly();
    return probeReload(this.ctx.storage.sql, this.ctx.storage, this.env.INDEX_BUCKET, search, part);
  }
}
