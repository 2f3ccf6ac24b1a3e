/**
 * Exact daily counts of one caller (an API key, or a client IP in `open` mode): one Durable
 * Object per caller, so counting is serialised by the object and a quota is never passed, however
 * many requests arrive at once. Counts are per UTC day and kept for 8 days.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';

/** What is counted: requests on any route, and encoder work (query images fetched or decoded). */
export type UsageKind = 'requests' | 'encoder';

export interface Lease {
  /** Units counted and handed out now (0 when the quota is spent). */
  granted: number;
  /** The day's count after this lease. */
  used: number;
}

const KEEP_DAYS = 8;

/** The UTC day of `ms`, `YYYY-MM-DD`. */
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Seconds until the next UTC midnight (at least 1): the Retry-After of a spent daily quota. */
export function secondsToUtcMidnight(ms: number): number {
  const next = new Date(ms);
  next.setUTCHours(24, 0, 0, 0);
  return Math.max(1, Math.ceil((next.getTime() - ms) / 1000));
}

export class UsageCounter extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      'CREATE TABLE IF NOT EXISTS usage (day TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (day, kind))',
    );
  }

  /**
   * Counts up to `want` units of `kind` today and hands them out, never passing `limit` (null: no
   * limit, all of them). The isolates spend what they are handed before asking again, so the day's
   * count is what was handed out: at most the requests served plus what isolates still hold.
   * No await between the read and the write: the object's input gate makes them one step.
   */
  async lease(kind: UsageKind, want: number, limit: number | null): Promise<Lease> {
    const day = utcDay(Date.now());
    const row = this.sql.exec('SELECT n FROM usage WHERE day = ? AND kind = ?', day, kind).toArray()[0];
    const used = row ? Number(row.n) : 0;
    const granted = limit === null ? want : Math.max(0, Math.min(want, limit - used));
    if (granted === 0) return { granted, used };
    if (!row) this.sql.exec('DELETE FROM usage WHERE day < ?', utcDay(Date.now() - KEEP_DAYS * 86_400_000));
    this.sql.exec(
      'INSERT INTO usage (day, kind, n) VALUES (?, ?, ?) ON CONFLICT (day, kind) DO UPDATE SET n = n + excluded.n',
      day,
      kind,
      granted,
    );
    return { granted, used: used + granted };
  }

  /** Today's counts. */
  async today(): Promise<Record<UsageKind, number>> {
    const counts: Record<UsageKind, number> = { requests: 0, encoder: 0 };
    for (const r of this.sql.exec('SELECT kind, n FROM usage WHERE day = ?', utcDay(Date.now()))) {
      counts[r.kind as UsageKind] = Number(r.n);
    }
    return counts;
  }
}

/** The counter of one caller: `key:<id>` or `ip:<address>`. */
export function usageCounter(env: Env, caller: string): DurableObjectStub<UsageCounter> {
  return env.USAGE.get(env.USAGE.idFromName(caller));
}
