/**
 * The consumer of `koclip-index` and of its dead-letter queue `koclip-index-dlq`. A batch holds
 * upsert messages (from webhooks and uploads, already accepted by their writer) and R2 event
 * notifications (accepted by ingest, ../ingest/r2-events.ts, then processed in the same batch). Upserts are grouped by index
 * and processed by ./process-index.ts; every message ends acked (done, failed for good, stale,
 * ignored or poison) or retried with backoff (a fault on our side). The dead-letter handler marks
 * the upserts that ran out of retries `failed` (`dead_lettered`) so that none stays pending.
 */

import {
  enqueueUpserts,
  indexOf,
  type UpsertMessage,
  UpsertMessageSchema,
} from '../../core/contract/queue-messages';
import type { Env } from '../env';
import { withRequestScope } from '../http/request-context';
import { writerFor } from '../index';
import { acceptR2Events, type R2Event, type R2EventOutcome, R2EventSchema } from '../ingest/r2-events';
import { writerName } from '../storage-keys';
import { retryCapSeconds, retryDelaySeconds } from './failures';
import { processIndex, type Work } from './process-index';

/**
 * Handles one batch of `koclip-index`, in a scope of its own (../http/request-context.ts): its
 * encoder calls go to the encoder's index lane, under the request id of the messages they carry
 * (./process-index.ts) or else the batch's own id.
 */
export function handleIndexBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const scope = {
    requestId: crypto.randomUUID(),
    lane: 'index' as const,
    client: () => 'queue',
    encoderMs: 0,
    encoderCalls: 0,
  };
  return withRequestScope(scope, () => consumeIndexBatch(batch, env));
}

async function consumeIndexBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const settling: Promise<void>[] = [];
  const works: Work[] = [];
  const events: { msg: Message<unknown>; event: R2Event }[] = [];
  for (const msg of batch.messages) {
    const upsert = UpsertMessageSchema.safeParse(msg.body);
    if (upsert.success) {
      works.push(queuedWork(env, msg, upsert.data));
      continue;
    }
    const event = R2EventSchema.safeParse(msg.body);
    if (!event.success) {
      console.error(`queue: poison message ${msg.id} acked (neither an upsert nor an R2 event)`);
      msg.ack();
      continue;
    }
    events.push({ msg, event: event.data });
  }
  works.push(...(await acceptR2(env, events, settling)));
  const groups = new Map<string, Work[]>();
  for (const work of mergeDuplicates(works)) {
    const key = writerName(indexOf(work.message));
    groups.set(key, [...(groups.get(key) ?? []), work]);
  }
  await Promise.all(
    [...groups.values()].map((group) =>
      processIndex(env, group).catch((error) => {
        for (const work of group) work.fault(String(error));
      }),
    ),
  );
  await Promise.all(settling);
}

/** Seconds before `msg` is delivered again: the backoff of its attempts, capped by config. */
const retryDelay = (env: Env, msg: Message<unknown>) => retryDelaySeconds(msg.attempts, retryCapSeconds(env));

/** A message of the queue as work: ack when done, retry with backoff on a fault. */
function queuedWork(env: Env, msg: Message<unknown>, message: UpsertMessage): Work {
  return {
    message,
    attempts: msg.attempts,
    done: () => msg.ack(),
    fault: (reason) => {
      const delaySeconds = retryDelay(env, msg);
      console.warn(`queue: ${message.collection}/${message.id} retried in ${delaySeconds} s (${reason})`);
      msg.retry({ delaySeconds });
    },
  };
}

/**
 * Hands R2 events to ingest: ignored ones and deletes are done, accepted puts become work of this
 * batch. A fault of R2 or a writer delivers every event again.
 */
async function acceptR2(
  env: Env,
  events: { msg: Message<unknown>; event: R2Event }[],
  settling: Promise<void>[],
): Promise<Work[]> {
  if (events.length === 0) return [];
  let outcomes: R2EventOutcome[];
  try {
    outcomes = await acceptR2Events(
      env,
      events.map((e) => e.event),
    );
  } catch (error) {
    console.warn('queue: R2 events retried', error);
    for (const { msg } of events) msg.retry({ delaySeconds: retryDelay(env, msg) });
    return [];
  }
  return events.flatMap(({ msg, event }, i) => {
    const outcome = outcomes[i] as R2EventOutcome;
    if (outcome.kind === 'upsert') return [r2Work(env, msg, outcome.message, settling)];
    if (outcome.kind === 'ignored')
      console.log(`queue: R2 event for ${event.object.key} ignored (${outcome.reason})`);
    msg.ack();
    return [];
  });
}

function r2Work(env: Env, msg: Message<unknown>, message: UpsertMessage, settling: Promise<void>[]): Work {
  return {
    message,
    attempts: msg.attempts,
    done: () => msg.ack(),
    fault: (reason) => {
      const delaySeconds = retryDelay(env, msg);
      console.warn(
        `queue: ${message.collection}/${message.id} (R2 event) queued again in ${delaySeconds} s (${reason})`,
      );
      settling.push(
        enqueueUpserts(env.INDEX_QUEUE, [message], { delaySeconds }).then(
          () => msg.ack(),
          () => msg.retry({ delaySeconds }),
        ),
      );
    },
  };
}

/** Deliveries of one message twice in a batch (at least once) become one work with both deliveries. */
function mergeDuplicates(works: Work[]): Work[] {
  const byKey = new Map<string, Work[]>();
  for (const w of works) {
    const key = `${writerName(indexOf(w.message))}\n${w.message.id}\n${w.message.seq}`;
    byKey.set(key, [...(byKey.get(key) ?? []), w]);
  }
  return [...byKey.values()].map((same) =>
    same.length === 1
      ? (same[0] as Work)
      : {
          message: (same[0] as Work).message,
          attempts: Math.max(...same.map((w) => w.attempts)),
          done: () => {
            for (const w of same) w.done();
          },
          fault: (reason) => {
            for (const w of same) w.fault(reason);
          },
        },
  );
}

/** Handles one batch of the dead-letter queue: upserts that ran out of retries end `failed`. */
export async function handleDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const groups = new Map<string, { msg: Message<unknown>; message: UpsertMessage }[]>();
  for (const msg of batch.messages) {
    const parsed = UpsertMessageSchema.safeParse(msg.body);
    if (!parsed.success) {
      console.error(`dead letter ${msg.id} acked (not an upsert message: nothing is pending for it)`);
      msg.ack();
      continue;
    }
    const key = writerName(indexOf(parsed.data));
    groups.set(key, [...(groups.get(key) ?? []), { msg, message: parsed.data }]);
  }
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const first = group[0]?.message as UpsertMessage;
      try {
        await writerFor(env, indexOf(first)).apply(
          group.map(({ message }) => ({
            id: message.id,
            seq: message.seq,
            error: {
              code: 'dead_lettered',
              message:
                'indexing gave up after repeated faults of the encoder or the index; send the image again',
            },
          })),
        );
        for (const { msg } of group) msg.ack();
      } catch (error) {
        console.error('dead letters: the writer could not take them; retried', error);
        for (const { msg } of group) msg.retry({ delaySeconds: retryDelay(env, msg) });
      }
    }),
  );
}
