/**
 * Fan-out: one search sent to the shards of the catalogue it read, their answers merged.
 *
 * - The parts: the catalogue's segments grouped by the shard the writer put them on, each with
 *   its first row in the whole catalogue (the tie order), so a shard brings its kernel to exactly
 *   the segments and dead rows this search read (read-your-writes: the catalogue comes from the
 *   writer, and a shard never answers from another generation's segment list).
 * - Up to FANOUT shards are called directly. Past that the parts are split into FANOUT groups and
 *   each group's first shard leads it: it answers for itself and calls the others (recursively),
 *   so no caller holds more than FANOUT calls at once (Workers allow 6 simultaneous connections
 *   per request) and 36 shards take two levels, 216 three.
 * - Every call has a time limit (SHARD_TIMEOUT_MS, within what is left of SEARCH_BUDGET_MS) and
 *   is tried once more when it fails and time is left; a group whose leader fails is tried once
 *   more under its next member. A shard that still fails is reported in `missing`; the search
 *   route turns that into 503, or a page marked partial when asked.
 */
import { z } from 'zod';
import type { Env } from '../../env';
import { parseVars } from '../../env';
import type { CatalogueView } from '../../index';
import { SHARD_ISOLATE_KERNEL_BYTES } from '../../isolate-memory';
import { writerName } from '../../storage-keys';
import type { ShardAnswer, ShardPart, ShardRpc, ShardSearch } from './contract';
import { mergeAnswers } from './merge';

const MIB = 1024 * 1024;

/** Most calls one search (or one group leader) makes at once. */
export const FANOUT = 6;

const SettingsSchema = z.object({
  /** One shard call's limit, ms (a cold shard reads its segments from R2 first). */
  SHARD_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(5000),
  /** A whole search's shard work, retries included, ms. */
  SEARCH_BUDGET_MS: z.coerce.number().int().min(100).max(120_000).default(12_000),
  /**
   * What the kernel indexes of the shards sharing one isolate may take together, MiB (default
   * SHARD_ISOLATE_KERNEL_BYTES: two shards under the 128 MB limit). Locally, wrangler dev runs every
   * shard in one workerd isolate with no such limit: a benchmark of a many-shard index raises it
   * there, or the shards would evict each other on every search.
   */
  SHARD_ISOLATE_KERNEL_MIB: z.coerce
    .number()
    .int()
    .min(SHARD_ISOLATE_KERNEL_BYTES / MIB)
    .max(64 * 1024)
    .default(SHARD_ISOLATE_KERNEL_BYTES / MIB),
});
export type ShardSettings = z.infer<typeof SettingsSchema>;

const parsedSettings = new WeakMap<object, ShardSettings>();

/** The shard vars of this env, parsed once per env object (every search and shard call reads them). */
export function shardSettings(env: object): ShardSettings {
  let settings = parsedSettings.get(env);
  if (!settings) {
    settings = parseVars(SettingsSchema, env);
    parsedSettings.set(env, settings);
  }
  return settings;
}

/** The Durable Object name of one shard of an index. */
export const shardName = (search: Pick<ShardSearch, 'index'>, shard: number) =>
  `shard:${writerName(search.index)}#${shard}`;

/**
 * The RPC face of one shard, by name. Typed by ./contract.ts's ShardRpc rather than the class, so
 * that the class (which runs fan-outs as a group's leader) and this module do not import each
 * other; ./index.ts hands out the class-typed stub.
 */
function rpcStub(env: Pick<Env, 'SEARCH_SHARDS'>, name: string): ShardRpc {
  return env.SEARCH_SHARDS.get(env.SEARCH_SHARDS.idFromName(name)) as unknown as ShardRpc;
}

/** The catalogue's segments grouped by shard, in shard order, with their catalogue rows. */
export function partsOf(catalogue: CatalogueView): ShardPart[] {
  const parts = new Map<number, ShardPart>();
  let base = 0;
  for (const segment of catalogue.segments) {
    let part = parts.get(segment.shard);
    if (!part) {
      part = { shard: segment.shard, segments: [], bases: [] };
      parts.set(segment.shard, part);
    }
    part.segments.push(segment);
    part.bases.push(base);
    base += segment.count;
  }
  return [...parts.values()].sort((a, b) => a.shard - b.shard);
}

const rowsOf = (parts: readonly ShardPart[]) =>
  parts.flatMap((p) => p.segments.map((s) => ({ shard: p.shard, rows: s.count })));

function missingOf(parts: readonly ShardPart[]): ShardAnswer['missing'] {
  const rows = new Map<number, number>();
  for (const { shard, rows: n } of rowsOf(parts)) rows.set(shard, (rows.get(shard) ?? 0) + n);
  return [...rows].map(([shard, n]) => ({ shard, rows: n }));
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** How a caller reaches one part or one group: over RPC, or itself (a group's leader). */
export interface FanOutDeps {
  env: Pick<Env, 'SEARCH_SHARDS'>;
  settings: ShardSettings;
  /** The shard that runs this fan-out (a group's leader answers its own part without RPC). */
  self?: { shard: number; answer: (search: ShardSearch, part: ShardPart) => Promise<ShardAnswer> };
  /** Logs a failed call (the first failure of a part is retried). */
  log?: (message: string) => void;
}

/**
 * Calls `call` until it answers, at most twice, each within SHARD_TIMEOUT_MS and what is left of
 * the budget; undefined when it never answered.
 */
async function attempt(
  label: string,
  deps: FanOutDeps,
  deadline: number,
  call: (budgetMs: number) => Promise<ShardAnswer>,
): Promise<ShardAnswer | undefined> {
  for (let tries = 1; tries <= 2; tries++) {
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    try {
      return await withTimeout(call(left), Math.min(deps.settings.SHARD_TIMEOUT_MS, left));
    } catch (error) {
      deps.log?.(`search shard ${label}, try ${tries}: ${error instanceof Error ? error.message : error}`);
    }
  }
  return undefined;
}

/** The most a group leader's budget ends before the caller stops waiting for it. */
const GROUP_MARGIN_MS = 500;

/** Splits `parts` into `n` contiguous groups of nearly equal size. */
function groups<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  const size = Math.ceil(items.length / n);
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The merged answer of `parts` for `search` (the shards that failed in `missing`). */
export async function fanOut(
  search: ShardSearch,
  parts: readonly ShardPart[],
  deps: FanOutDeps,
): Promise<ShardAnswer> {
  const deadline = Date.now() + search.budgetMs;
  const one = (part: ShardPart): Promise<ShardAnswer> => {
    const name = shardName(search, part.shard);
    return attempt(name, deps, deadline, (budgetMs) =>
      deps.self?.shard === part.shard
        ? deps.self.answer({ ...search, budgetMs }, part)
        : rpcStub(deps.env, name).search({ ...search, budgetMs }, part),
    ).then((answer) => answer ?? { hits: [], rows: [], paths: [], missing: missingOf([part]) });
  };
  let answers: ShardAnswer[];
  if (parts.length <= FANOUT) {
    answers = await Promise.all(parts.map(one));
  } else {
    answers = await Promise.all(
      groups(parts, FANOUT).map(async (group) => {
        if (deps.self && group.some((p) => p.shard === deps.self?.shard)) {
          return fanOut({ ...search, budgetMs: deadline - Date.now() }, group, deps);
        }
        // The leader calls its members and retries them itself, so it gets what is left of the
        // budget. A leader that fails is replaced by the next member once: a failed shard then
        // costs only its own part, not its group's.
        const leaders = group.slice(0, 2);
        for (const [i, leader] of leaders.entries()) {
          const ordered = [leader, ...group.filter((p) => p !== leader)];
          const name = shardName(search, leader.shard);
          const left = deadline - Date.now();
          // A first leader that hangs must leave its replacement one shard timeout.
          const limit = i < leaders.length - 1 ? left - deps.settings.SHARD_TIMEOUT_MS : left;
          if (limit <= 0) continue;
          // The leader's own budget ends a margin before ours, so a member that times out inside
          // it still leaves the leader time to merge and answer (50 ms lost whole groups under load).
          const margin = Math.min(GROUP_MARGIN_MS, Math.max(50, limit * 0.1));
          try {
            return await withTimeout(
              rpcStub(deps.env, name).searchGroup(
                { ...search, budgetMs: Math.max(0, limit - margin) },
                ordered,
              ),
              limit,
            );
          } catch (error) {
            deps.log?.(
              `search shard ${name} (leading ${group.length}): ${error instanceof Error ? error.message : error}`,
            );
          }
        }
        return { hits: [], rows: [], paths: [], missing: missingOf(group) };
      }),
    );
  }
  return mergeAnswers(answers, search.need);
}
