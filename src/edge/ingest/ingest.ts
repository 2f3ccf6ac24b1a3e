/**
 * The one way into the index for webhooks, uploads and R2 events: events (already validated)
 * are grouped by collection, accepted by the writer of each index the collection writes to (its
 * current model's; during a migration both, ../collections/), upserts becoming `pending` with an
 * arrival seq and deletes applied at once, and the upserts are queued for the consumer. Callers
 * answer only once this resolves, so a 202 means "durably accepted and queued".
 */
import type { ImageMetadata, ImageSourceRef } from '../../core/contract/ingest-schemas';
import { enqueueUpserts, type UpsertMessage, upsertMessage } from '../../core/contract/queue-messages';
import { type EmbeddingSpace, indexKey } from '../../core/contract/spaces';
import { embeddingSpace } from '../../core/manifest';
import { readModelOf, writeSpacesOf } from '../collections';
import type { Env } from '../env';
import { ApiError } from '../http/errors';
import { currentScope } from '../http/request-context';
import { type AcceptedEvent, type WriterEvent, writerFor } from '../index';
import { getModel } from '../inference/model-registry';
import { imageObjectKey } from '../storage-keys';
import { dropRate, dropsMessage } from './drop-hook';

export type IngestEvent =
  | {
      op: 'upsert';
      collection: string;
      id: string;
      source: ImageSourceRef;
      metadata: ImageMetadata;
      caption?: string;
      content_sha256?: string;
    }
  | { op: 'delete'; collection: string; id: string };

export interface AcceptedIngest extends AcceptedEvent {
  collection: string;
}

/** The space a read of `collection` uses: `modelId`, else the collection's current model. */
export async function readSpace(env: Env, collection: string, modelId?: string): Promise<EmbeddingSpace> {
  return embeddingSpace(await getModel(env, modelId ?? (await readModelOf(env, collection))));
}

const toWriterEvent = (e: IngestEvent): WriterEvent =>
  e.op === 'delete'
    ? { op: 'delete', id: e.id }
    : {
        op: 'upsert',
        id: e.id,
        source: e.source,
        metadata: e.metadata,
        ...(e.caption === undefined ? {} : { caption: e.caption }),
        ...(e.content_sha256 === undefined ? {} : { content_sha256: e.content_sha256 }),
      };

/**
 * Accepts the events with their indexes' writers (one call per collection and index) and returns,
 * in the events' order, what each got in the index reads use, plus the queue messages of the
 * upserts: `messages` for that index, `others` for the second index of a migration. Deletes also
 * remove the image's kept original (uploads). Writer failures are 503 `index_unavailable`.
 */
export async function acceptEvents(
  env: Env,
  events: IngestEvent[],
): Promise<{ accepted: AcceptedIngest[]; messages: UpsertMessage[]; others: UpsertMessage[] }> {
  const groups = new Map<string, number[]>();
  events.forEach((e, i) => {
    groups.set(e.collection, [...(groups.get(e.collection) ?? []), i]);
  });
  const accepted: AcceptedIngest[] = new Array(events.length);
  const messages: UpsertMessage[] = [];
  const others: UpsertMessage[] = [];
  const acceptedAt = new Date().toISOString();
  // The request (or queue batch, for R2 events) these events came with: its messages carry its id.
  const requestId = currentScope()?.requestId;
  await Promise.all(
    [...groups].map(async ([collection, indexes]) => {
      const group = indexes.map((i) => events[i] as IngestEvent);
      const spaces = await writeSpacesOf(env, collection);
      await Promise.all(
        spaces.map(async (space, s) => {
          const writer = writerFor(env, indexKey(space, collection));
          let results: AcceptedEvent[];
          try {
            results = await writer.accept({ collection, ...space }, group.map(toWriterEvent));
          } catch (cause) {
            throw new ApiError(503, 'index_unavailable', 'the index writer could not accept the events', {
              cause,
            });
          }
          results.forEach((r, k) => {
            const event = group[k] as IngestEvent;
            if (s === 0) accepted[indexes[k] as number] = { id: r.id, op: r.op, seq: r.seq, collection };
            if (event.op === 'upsert')
              (s === 0 ? messages : others).push(
                upsertMessage(indexKey(space, collection), event, r.seq, acceptedAt, requestId),
              );
          });
        }),
      );
    }),
  );
  const deletes = events.filter((e) => e.op === 'delete');
  if (deletes.length > 0) {
    await env.IMAGES_BUCKET.delete(deletes.map((e) => imageObjectKey(e.collection, e.id)));
  }
  return { accepted, messages, others };
}

/** Accepts the events and queues their upserts; resolves once all are durably queued (else 503). */
export async function ingestEvents(env: Env, events: IngestEvent[]): Promise<AcceptedIngest[]> {
  const { accepted, messages: primary, others } = await acceptEvents(env, events);
  const messages = [...primary, ...others];
  const rate = dropRate(env);
  const sent =
    rate === 0
      ? messages
      : (
          await Promise.all(messages.map(async (m) => ((await dropsMessage(rate, m.id, m.seq)) ? [] : [m])))
        ).flat();
  if (sent.length < messages.length)
    console.warn(
      `test hook: ${messages.length - sent.length} upsert message(s) dropped (DEBUG_DROP_UPSERTS)`,
    );
  try {
    await enqueueUpserts(env.INDEX_QUEUE, sent);
  } catch (cause) {
    throw new ApiError(503, 'queue_unavailable', 'the events could not be queued; retry the request', {
      cause,
      headers: { 'Retry-After': '5' },
    });
  }
  return accepted;
}
