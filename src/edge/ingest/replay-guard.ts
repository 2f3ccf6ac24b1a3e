/**
 * The replay guard of the signed webhook: Durable Objects that remember every signature seen
 * inside the tolerance window, so that a delivery sent twice changes nothing the second time.
 * Signatures are HMAC-SHA256 hex, uniformly spread: the first hex character picks one of 16
 * objects (`replayGuardFor`). Each object keeps `seen(signature, t)` in SQLite; an alarm deletes
 * the entries whose timestamp has left the window (a signature that old is refused as stale
 * before the guard is asked, so forgetting it cannot let a replay through).
 */
import { DurableObject } from 'cloudflare:workers';
import { SIGNATURE_TOLERANCE_S } from '../../core/contract/webhook-signature';
import type { Env } from '../env';

/** Entries are kept this long past their timestamp's window (clock skew between isolates). */
const KEEP_MARGIN_S = 60;

export class ReplayGuard extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec('CREATE TABLE IF NOT EXISTS seen (signature TEXT PRIMARY KEY, t INTEGER NOT NULL)');
    this.sql.exec('CREATE INDEX IF NOT EXISTS seen_by_t ON seen (t)');
  }

  /** Records `signature` (signed at unix second `t`); false when it was already seen. */
  async remember(signature: string, t: number): Promise<boolean> {
    // No await between the read and the write: the object's input gate makes the pair atomic.
    const known = this.sql.exec('SELECT 1 FROM seen WHERE signature = ?', signature).toArray().length > 0;
    if (known) return false;
    this.sql.exec('INSERT INTO seen (signature, t) VALUES (?, ?)', signature, t);
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(expiryMs(t));
    }
    return true;
  }

  /**
   * Forgets a signature whose delivery failed on our side (503) after it was remembered, so that
   * the sender's retry of the very same request is not refused as a replay.
   */
  async forget(signature: string): Promise<void> {
    this.sql.exec('DELETE FROM seen WHERE signature = ?', signature);
  }

  /** Entries remembered now (tests and diagnostics). */
  async size(): Promise<number> {
    return Number(this.sql.exec('SELECT COUNT(*) AS n FROM seen').one().n);
  }

  /** Deletes the entries outside the window; wakes again for the oldest one left. */
  override async alarm(): Promise<void> {
    const nowS = Math.floor(Date.now() / 1000);
    this.sql.exec('DELETE FROM seen WHERE t < ?', nowS - SIGNATURE_TOLERANCE_S - KEEP_MARGIN_S);
    const oldest = this.sql.exec('SELECT MIN(t) AS t FROM seen').one().t;
    if (oldest !== null) await this.ctx.storage.setAlarm(expiryMs(Number(oldest)));
  }
}

/** When an entry signed at `t` may go: its window has passed, plus the margin. */
function expiryMs(t: number): number {
  return Math.max(Date.now(), (t + SIGNATURE_TOLERANCE_S + KEEP_MARGIN_S) * 1000 + 1000);
}

/** The shard of the guard that owns `signature` (one of 16, by its first hex character). */
export function replayGuardFor(
  env: Pick<Env, 'REPLAY_GUARD'>,
  signature: string,
): DurableObjectStub<ReplayGuard> {
  const ns = env.REPLAY_GUARD as unknown as DurableObjectNamespace<ReplayGuard>;
  const shard = /^[0-9a-f]/.test(signature) ? signature[0] : '0';
  return ns.get(ns.idFromName(`replay-guard:${shard}`));
}
