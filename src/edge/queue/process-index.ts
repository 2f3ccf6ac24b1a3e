/**
 * The work of one index in a queue batch: ask the writer which upserts still matter (`plan`),
 * read their bytes from IMAGES_BUCKET or let the encoder fetch their URLs, embed them in batches,
 * and hand vectors, reuses and permanent failures to the writer (`apply`). An encoder fault never
 * reaches the writer: those messages are delivered again later (./consumer.ts decides when).
 */
import { LIMITS } from '../../core/contract/limits';
import { indexOf, type UpsertMessage } from '../../core/contract/queue-messages';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { sha256Hex } from '../../core/hash';
import { embeddingSpace } from '../../core/manifest';
import { normalise } from '../../core/vector';
import type { Env } from '../env';
import { ApiError } from '../http/errors';
import { currentScope, withRequestScope } from '../http/request-context';
import { type ApplyItem, writerFor } from '../index';
import { embedImages } from '../inference/encoder-batch';
import { type EncoderImage, encoderConfigFromEnv } from '../inference/encoder-client';
import { getModel } from '../inference/model-registry';
import { classifyItemError } from './failures';

/** One upsert to process, and what to do with its delivery. */
export interface Work {
  message: UpsertMessage;
  /** Deliveries of the message so far (1 on the first). */
  attempts: number;
  /** Finished (indexed, failed for good, or superseded): acknowledge it. */
  done(): void;
  /** Not finished for a reason on our side (encoder fault, writer unavailable): deliver it again. */
  fault(reason: string): void;
}

/** Images per encoder call, and bytes read from R2 per call (memory of the isolate). */
export const ENCODE_BATCH_ITEMS = 16;
export const ENCODE_BATCH_BYTES = 16 * 1024 * 1024;

type Writer = ReturnType<typeof writerFor>;
interface Outcome {
  work: Work;
  item: ApplyItem;
}

const failure = (m: UpsertMessage, code: string, message: string): ApplyItem => ({
  id: m.id,
  seq: m.seq,
  error: { code, message },
});

/** Processes the upserts of one index (every message has the same collection, model, version). */
export async function processIndex(env: Env, works: Work[]): Promise<void> {
  const first = works[0]?.message;
  if (!first) return;
  const writer = writerFor(env, indexOf(first));
  let model: EmbeddingSpace;
  try {
    const manifest = await getModel(env, first.model);
    model = embeddingSpace(manifest);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return applyAll(
        writer,
        works.map((w) => ({ work: w, item: failure(w.message, 'model_unavailable', error.message) })),
      );
    }
    return faultAll(works, error);
  }
  if (model.version !== first.version) {
    const reason = `the Worker now serves ${model.model}@${model.version}, not ${first.version}`;
    return applyAll(
      writer,
      works.map((w) => ({ work: w, item: failure(w.message, 'model_unavailable', reason) })),
    );
  }

  // Sizes first (a HEAD each), so that no encoder call reads more than ENCODE_BATCH_BYTES.
  const sized: { work: Work; size: number }[] = [];
  const failed: Outcome[] = [];
  await Promise.all(
    works.map(async (work) => {
      const { source } = work.message;
      if (!('r2_key' in source)) return sized.push({ work, size: 0 });
      const head = await env.IMAGES_BUCKET.head(source.r2_key);
      if (!head) {
        failed.push({
          work,
          item: failure(work.message, 'source_not_found', `no object '${source.r2_key}'`),
        });
      } else if (head.size > LIMITS.imageBytes) {
        const reason = `images may be at most ${LIMITS.imageBytes} bytes, got ${head.size}`;
        failed.push({ work, item: failure(work.message, 'image_too_large', reason) });
      } else {
        sized.push({ work, size: head.size });
      }
    }),
  );
  const chunks: Work[][] = [];
  let bytes = Number.POSITIVE_INFINITY;
  for (const { work, size } of sized) {
    const last = chunks.at(-1);
    if (!last || last.length >= ENCODE_BATCH_ITEMS || bytes + size > ENCODE_BATCH_BYTES) {
      chunks.push([work]);
      bytes = size;
    } else {
      last.push(work);
      bytes += size;
    }
  }
  await applyAll(writer, failed);
  for (const chunk of chunks) await processChunk(env, writer, model, chunk);
}

/** One encoder call's worth: read, plan, embed, apply. */
async function processChunk(env: Env, writer: Writer, model: EmbeddingSpace, works: Work[]): Promise<void> {
  const outcomes: Outcome[] = [];
  const loaded: { work: Work; image: EncoderImage; sha256?: string }[] = [];
  try {
    await Promise.all(
      works.map(async (work) => {
        const { source } = work.message;
        if ('image_url' in source)
          return loaded.push({ work, image: { kind: 'url', url: source.image_url } });
        const object = await env.IMAGES_BUCKET.get(source.r2_key);
        if (!object) {
          return outcomes.push({
            work,
            item: failure(work.message, 'source_not_found', `no object '${source.r2_key}'`),
          });
        }
        const bytes = new Uint8Array(await object.arrayBuffer());
        const contentType = object.httpMetadata?.contentType ?? 'application/octet-stream';
        loaded.push({ work, image: { kind: 'bytes', bytes, contentType }, sha256: await sha256Hex(bytes) });
      }),
    );
  } catch (error) {
    return faultAll(works, error);
  }
  let plan: Awaited<ReturnType<Writer['plan']>>;
  try {
    plan = await writer.plan(
      loaded.map(({ work, sha256 }) => ({
        id: work.message.id,
        seq: work.message.seq,
        ...(sha256 ? { content_sha256: sha256 } : {}),
      })),
    );
  } catch (error) {
    return faultAll(works, error);
  }
  const embed: typeof loaded = [];
  loaded.forEach((entry, i) => {
    const { message } = entry.work;
    const action = plan[i]?.action ?? 'embed';
    if (action === 'stale') entry.work.done();
    else if (action === 'reuse' && entry.sha256) {
      outcomes.push({
        work: entry.work,
        item: { id: message.id, seq: message.seq, reuse: true, content_sha256: entry.sha256 },
      });
    } else embed.push(entry);
  });
  if (embed.length > 0) {
    let results: (ApplyItem | 'retry')[] = [];
    try {
      const items = await embedChunk(
        env,
        model,
        embed.map((e) => e.work.message),
        embed.map((e) => e.image),
      );
      const urlIds = embed
        .filter((e, i) => e.image.kind === 'url' && items[i]?.ok)
        .map((e) => e.work.message.id);
      const indexed = new Map(
        await Promise.all(urlIds.map(async (id) => [id, await writer.record(id)] as const)),
      );
      results = embed.map((entry, i) => embedOutcome(entry, items[i], indexed));
    } catch (error) {
      faultAll(
        embed.map((e) => e.work),
        error,
      );
    }
    results.forEach((outcome, i) => {
      const { work } = embed[i] as (typeof embed)[number];
      if (outcome === 'retry') work.fault(`${work.message.id}: the image URL could not be fetched yet`);
      else outcomes.push({ work, item: outcome });
    });
  }
  await applyAll(writer, outcomes);
}

/**
 * One encoder call of the consumer, under the request id of the messages it carries when they
 * share one (a webhook call's or an upload's), else the batch's; one JSON line names them all.
 */
async function embedChunk(
  env: Env,
  model: EmbeddingSpace,
  messages: UpsertMessage[],
  images: EncoderImage[],
): Promise<Awaited<ReturnType<typeof embedImages>>> {
  const batch = currentScope();
  const ids = [...new Set(messages.flatMap((m) => (m.request_id ? [m.request_id] : [])))];
  const requestId =
    ids.length === 1 && messages.every((m) => m.request_id) ? (ids[0] as string) : batch?.requestId;
  const scope = {
    requestId: requestId ?? crypto.randomUUID(),
    lane: 'index' as const,
    client: () => 'queue',
    encoderMs: 0,
    encoderCalls: 0,
  };
  const started = performance.now();
  let outcome = 'ok';
  try {
    return await withRequestScope(scope, () => embedImages(encoderConfigFromEnv(env), model, images));
  } catch (error) {
    outcome = error instanceof ApiError ? error.code : 'error';
    throw error;
  } finally {
    console.log(
      JSON.stringify({
        msg: 'index_encode',
        request_id: scope.requestId,
        request_ids: ids,
        batch_id: batch?.requestId ?? null,
        images: images.length,
        ms: Math.round((performance.now() - started) * 10) / 10,
        encoder_ms: Math.round(scope.encoderMs * 10) / 10,
        outcome,
      }),
    );
  }
}

/** What to apply for one embedded image, or `retry` for a URL fetch that may work later. */
function embedOutcome(
  entry: { work: Work; image: EncoderImage; sha256?: string },
  item: Awaited<ReturnType<typeof embedImages>>[number] | undefined,
  indexed: Map<string, Awaited<ReturnType<Writer['record']>>>,
): ApplyItem | 'retry' {
  const { id, seq } = entry.work.message;
  if (!item) throw new ApiError(502, 'encoder_bad_response', 'the encoder answered fewer items than sent');
  if (!item.ok) {
    const kind = classifyItemError(item, entry.work.attempts);
    if (kind === 'retry') return 'retry';
    return { id, seq, error: { code: item.code, message: item.message } };
  }
  const sha256 = entry.sha256 ?? item.sha256;
  if (!sha256)
    throw new ApiError(502, 'encoder_bad_response', 'the encoder did not say the sha256 of a fetched URL');
  const record = indexed.get(id);
  if (entry.image.kind === 'url' && record?.location && record.content_sha256 === sha256) {
    return { id, seq, reuse: true, content_sha256: sha256 };
  }
  return { id, seq, vector: Array.from(normalise(item.embedding)), content_sha256: sha256 };
}

async function applyAll(writer: Writer, outcomes: Outcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  try {
    await writer.apply(outcomes.map((o) => o.item));
  } catch (error) {
    return faultAll(
      outcomes.map((o) => o.work),
      error,
    );
  }
  for (const o of outcomes) o.work.done();
}

function faultAll(works: Work[], error: unknown): void {
  const reason = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  for (const w of works) w.fault(reason);
}
