/**
 * The writer's reconciler: whatever the writer accepted ends `indexed` or `failed` on its own, even
 * when the queue message that should carry a pending record is lost between the writer and the
 * queue (a crash after `accept`, a 503 the client never retried, a local queue dropped on restart).
 *
 * Every pending record has a check time (`check_at`): `RECONCILE_AFTER_S` after it was accepted,
 * pushed back by the same amount each time the consumer takes it up (`plan`), so a record that is
 * being worked on, retries and dead-lettering included (no queue retry waits longer than 300 s),
 * is never touched. At its check time, from the writer's alarm, a record still pending is sent to
 * the queue again with the seq it has (the consumer's `plan` makes a duplicate harmless: a stale
 * or settled seq is dropped, an indexed vector is never written twice), and its next check waits
 * twice as long (after, 2x, 4x ...). After `RECONCILE_MAX_REENQUEUES` sends without an outcome the
 * record ends `failed` with `not_processed`. Defaults: 900 s and 5, so a lost message is sent again
 * after 15 minutes and a record nothing can process fails after 15.75 hours.
 */
import { z } from 'zod';
import { enqueueUpserts, type UpsertQueue, upsertMessage } from '../../../core/contract/queue-messages';
import { type Env, parseVars } from '../../env';
import type { Catalogue, IndexMeta } from './catalogue';
import type { RecordRow } from './schema';

export const DEFAULT_RECONCILE_AFTER_S = 900;
export const DEFAULT_RECONCILE_MAX_REENQUEUES = 5;
/** Records looked at per alarm; the rest wait for the next one (set at once when more are due). */
const RECORDS_PER_RUN = 500;

export interface ReconcileSettings {
  /** How long a pending record may go without news before it is sent again (ms). */
  afterMs: number;
  /** Sends after which a record still without an outcome ends failed. */
  maxReenqueues: number;
}

const SettingsSchema = z.object({
  RECONCILE_AFTER_S: z.coerce.number().int().min(1).max(86_400).default(DEFAULT_RECONCILE_AFTER_S),
  RECONCILE_MAX_REENQUEUES: z.coerce.number().int().min(0).max(20).default(DEFAULT_RECONCILE_MAX_REENQUEUES),
});

/** The reconciler's settings from the Worker's vars (unset or empty: the defaults); 500 when invalid. */
export function reconcileSettings(
  env: Partial<Pick<Env, 'RECONCILE_AFTER_S' | 'RECONCILE_MAX_REENQUEUES'>>,
): ReconcileSettings {
  const vars = parseVars(SettingsSchema, env);
  return { afterMs: vars.RECONCILE_AFTER_S * 1000, maxReenqueues: vars.RECONCILE_MAX_REENQUEUES };
}

/** When a record that has been sent `enqueues` times is looked at next. */
export const nextCheck = (now: number, settings: ReconcileSettings, enqueues: number) =>
  now + settings.afterMs * 2 ** Math.min(enqueues, 20);

export interface ReconcileDeps {
  storage: DurableObjectStorage;
  catalogue: Catalogue;
  queue: UpsertQueue;
}

/** What one run did. */
export interface ReconcileRun {
  reenqueued: number;
  failed: number;
  /** Due records the queue refused this time (looked at again after `afterMs`). */
  unsent: number;
}

/**
 * Looks at the pending records due by `now`: sends them to the queue again, or ends those out of
 * sends `failed`. The due list is read synchronously; the send is awaited; each record is then
 * updated only if it is still pending with the seq that was sent (a newer event or an outcome
 * that arrived meanwhile wins).
 */
export async function reconcile(
  { storage, catalogue, queue }: ReconcileDeps,
  meta: IndexMeta,
  settings: ReconcileSettings,
  now: number,
): Promise<ReconcileRun> {
  const due = catalogue.duePending(now, RECORDS_PER_RUN);
  const exhausted = due.filter((r) => r.enqueues >= settings.maxReenqueues);
  const resend = due.filter((r) => r.enqueues < settings.maxReenqueues);
  let failed = 0;
  if (exhausted.length > 0) {
    storage.transactionSync(() => {
      for (const r of exhausted) {
        catalogue.fail(
          r.id,
          {
            code: 'not_processed',
            message: `indexing did not finish: sent to the queue ${r.enqueues + 1} time(s) without an outcome; send the image again`,
          },
          now,
        );
        catalogue.gaveUp();
        failed++;
      }
      catalogue.bumpGeneration(now);
    });
  }
  if (resend.length === 0) return { reenqueued: 0, failed, unsent: 0 };
  let sent = true;
  try {
    await enqueueUpserts(
      queue,
      resend.map((r) => upsertMessage(meta, fieldsOf(r), r.seq, new Date(r.accepted_at).toISOString())),
    );
  } catch (error) {
    console.warn(`reconciler: ${resend.length} message(s) of ${meta.collection} could not be queued`, error);
    sent = false;
  }
  storage.transactionSync(() => {
    for (const r of resend) {
      const checkAt = sent ? nextCheck(now, settings, r.enqueues + 1) : now + settings.afterMs;
      catalogue.reenqueued(r.id, r.seq, checkAt, sent);
    }
  });
  if (sent) console.log(`reconciler: ${resend.length} pending record(s) of ${meta.collection} queued again`);
  return { reenqueued: sent ? resend.length : 0, failed, unsent: sent ? 0 : resend.length };
}

function fieldsOf(r: RecordRow) {
  return {
    id: r.id,
    source: JSON.parse(r.source ?? '{}'),
    metadata: JSON.parse(r.metadata),
    ...(r.caption === null ? {} : { caption: r.caption }),
    ...(r.expected_sha256 === null ? {} : { content_sha256: r.expected_sha256 }),
  };
}
