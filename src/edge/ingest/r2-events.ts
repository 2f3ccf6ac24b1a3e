/**
 * R2 event notifications of IMAGES_BUCKET, in the platform's message shape
 * `{ account, action, bucket, object: { key, size, eTag }, eventTime }`, and the rule that turns an
 * object key into an image: `<R2_EVENTS_PREFIX><collection>/<id>`, or `<R2_EVENTS_PREFIX><id>` for
 * the `default` collection, the id percent-decoded. Keys outside the prefix are not ours.
 */
import { z } from 'zod';
import {
  CollectionSchema,
  DEFAULT_COLLECTION,
  ImageIdSchema,
  Sha256HexSchema,
} from '../../core/contract/ids';
import { type ImageMetadata, ImageMetadataSchema } from '../../core/contract/ingest-schemas';
import { INGEST_LIMITS } from '../../core/contract/limits';
import { enqueueUpserts, type UpsertMessage } from '../../core/contract/queue-messages';
import type { Env } from '../env';
import { acceptEvents, type IngestEvent } from './ingest';

const UPSERT_ACTIONS = new Set(['PutObject', 'CopyObject', 'CompleteMultipartUpload']);
const DELETE_ACTIONS = new Set(['DeleteObject', 'LifecycleDeletion']);

/** The platform's notification (extra fields, such as `copySource`, are allowed and ignored). */
export const R2EventSchema = z.object({
  account: z.string(),
  action: z.string(),
  bucket: z.string(),
  object: z.object({
    key: z.string().min(1),
    size: z.number().optional(),
    eTag: z.string().optional(),
  }),
  eventTime: z.string(),
});
export type R2Event = z.infer<typeof R2EventSchema>;

/** What an event means for the index, or why it is ignored. */
export type R2EventTarget =
  | { op: 'upsert' | 'delete'; collection: string; id: string; key: string }
  | { ignore: string };

/** The image an event names under `prefix` (an empty prefix turns R2 events off). */
export function r2EventTarget(event: R2Event, prefix: string | undefined): R2EventTarget {
  const op = UPSERT_ACTIONS.has(event.action) ? 'upsert' : DELETE_ACTIONS.has(event.action) ? 'delete' : null;
  if (!op) return { ignore: `action ${event.action}` };
  const { key } = event.object;
  if (!prefix) return { ignore: 'R2_EVENTS_PREFIX is not set' };
  if (!key.startsWith(prefix)) return { ignore: `key outside ${prefix}` };
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  const collection = slash === -1 ? DEFAULT_COLLECTION : rest.slice(0, slash);
  const rawId = slash === -1 ? rest : rest.slice(slash + 1);
  if (!CollectionSchema.safeParse(collection).success)
    return { ignore: `invalid collection '${collection}'` };
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    return { ignore: 'the id is not valid percent-encoding' };
  }
  if (!ImageIdSchema.safeParse(id).success) return { ignore: `invalid image id '${rawId.slice(0, 64)}'` };
  return { op, collection, id, key };
}

/** What ingest made of one R2 event. */
export type R2EventOutcome =
  /** Not ours (another action, outside the prefix, a bad name) or the object is already gone. */
  | { kind: 'ignored'; reason: string }
  /** A delete, applied by its writer. */
  | { kind: 'deleted' }
  /** A put, accepted by its writer as a pending upsert: process `message` like a queued one. */
  | { kind: 'upsert'; message: UpsertMessage };

/**
 * Accepts R2 events through the one accept path (src/edge/ingest/ingest.ts): a delete takes effect
 * now; a put whose object still exists becomes a pending upsert (its custom metadata, caption and
 * our sha256 read from the object's head), whose message the caller processes at once; a put whose
 * object is gone is ignored (its delete event removes the image). Answers per event, in order;
 * rejects when R2 or a writer fails (the caller delivers every event again).
 */
export async function acceptR2Events(env: Env, events: readonly R2Event[]): Promise<R2EventOutcome[]> {
  const outcomes: R2EventOutcome[] = new Array(events.length);
  const accepted: { at: number; event: IngestEvent }[] = [];
  await Promise.all(
    events.map(async (event, at) => {
      const target = r2EventTarget(event, env.R2_EVENTS_PREFIX);
      if ('ignore' in target) {
        outcomes[at] = { kind: 'ignored', reason: target.ignore };
        return;
      }
      if (target.op === 'delete') {
        accepted.push({ at, event: { op: 'delete', collection: target.collection, id: target.id } });
        return;
      }
      const head = await env.IMAGES_BUCKET.head(target.key);
      if (!head) {
        outcomes[at] = { kind: 'ignored', reason: 'the object is gone' };
        return;
      }
      const sha = Sha256HexSchema.safeParse(head.customMetadata?.sha256);
      accepted.push({
        at,
        event: {
          op: 'upsert',
          collection: target.collection,
          id: target.id,
          source: { r2_key: target.key },
          ...objectMetadata(head.customMetadata),
          ...(sha.success ? { content_sha256: sha.data } : {}),
        },
      });
    }),
  );
  if (accepted.length === 0) return outcomes;
  const {
    accepted: seqs,
    messages,
    others,
  } = await acceptEvents(
    env,
    accepted.map((a) => a.event),
  );
  // The second index of a migration gets its messages through the queue.
  await enqueueUpserts(env.INDEX_QUEUE, others);
  const byKey = new Map(messages.map((m) => [`${m.collection}/${m.id}#${m.seq}`, m]));
  accepted.forEach(({ at, event }, i) => {
    const message =
      event.op === 'upsert' ? byKey.get(`${event.collection}/${event.id}#${seqs[i]?.seq}`) : undefined;
    outcomes[at] = message ? { kind: 'upsert', message } : { kind: 'deleted' };
  });
  return outcomes;
}

/**
 * Metadata and caption of an object put under the prefix: its R2 custom metadata (`caption` is the
 * caption, `sha256` is our content hash and not metadata). Metadata past the limits is dropped.
 */
export function objectMetadata(custom: Record<string, string> | undefined): {
  metadata: ImageMetadata;
  caption?: string;
} {
  const { caption, sha256: _sha, ...rest } = custom ?? {};
  const parsed = ImageMetadataSchema.safeParse(rest);
  if (!parsed.success) console.warn('R2 event: custom metadata past the limits is ignored');
  return {
    metadata: parsed.success ? parsed.data : {},
    ...(caption ? { caption: caption.slice(0, INGEST_LIMITS.captionChars) } : {}),
  };
}
