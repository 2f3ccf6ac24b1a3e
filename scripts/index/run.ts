/**
 * The bulk indexer: sends checked items (scripts/index/inputs.ts) to the Worker, webhook events
 * in signed batches and local files as uploads, with a concurrency and a request rate limit,
 * retrying 429/5xx/network errors; optionally follows each image's status until it is indexed or
 * failed. Events for the same image are never in flight at once, so they arrive in input order.
 * The CLI (main.ts), `npm start`'s seeding and the tests call runIndex.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { ImageMetadata, WebhookEvent } from '../../src/core/contract/ingest-schemas';
import { INGEST_LIMITS } from '../../src/core/contract/limits';
import { IMAGE_MEDIA_TYPES, sniffImageFormat } from '../../src/core/contract/media-types';
import { SIGNATURE_HEADER, signWebhook } from '../../src/core/contract/webhook-signature';
import {
  type Answer,
  errorOf,
  RateLimiter,
  type RetryOptions,
  requestWithRetry,
  Stopped,
  sleep,
} from './http';
import { IMAGE_EXTENSIONS, type Item, itemKey, type UploadItem, type WebhookItem } from './inputs';
import { createProgress, type Progress } from './progress';
import { fingerprint, IndexState } from './state';

export interface IndexOptions {
  /** The Worker, e.g. http://127.0.0.1:8787. */
  url: string;
  /** ADMIN_TOKEN: uploads and status. */
  token?: string;
  /** WEBHOOK_SECRET(s): a v1 signature with each. */
  secrets?: string[];
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Requests started per second, all kinds together; 0 = no limit (default). */
  rate?: number;
  /** Events per webhook call, at most INGEST_LIMITS.events (default). */
  batchSize?: number;
  /** Follow status until every image is indexed or failed. */
  wait?: boolean;
  waitTimeoutS?: number;
  pollIntervalMs?: number;
  /** Before uploading a file, skip it if its status is already indexed with the same bytes, metadata and caption. */
  skipIndexed?: boolean;
  state?: IndexState;
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  progress?: Progress;
  /** Aborting stops sending (in-flight requests finish); the state keeps what was accepted. */
  signal?: AbortSignal;
}

export interface Failure {
  id: string;
  collection: string;
  code: string;
  message: string;
  /** `send`: the service refused it or it never got through; `index`: status says failed. */
  phase: 'send' | 'index';
}

export interface Summary {
  total: number;
  /** Events the service accepted in this run (upserts and deletes). */
  sent: number;
  /** Already sent by an earlier run (state file) or already indexed (skipIndexed). */
  skipped: number;
  deletes: number;
  /** Status `indexed` (with --wait). */
  indexed: number;
  failed: Failure[];
  /** Images not known to be indexed or failed (no --wait, wait timeout or interrupted). */
  pending: number;
  /** `collection/id` of the images still pending when --wait ended (empty without --wait). */
  pendingIds: string[];
  interrupted: boolean;
  /** The run stopped early: a refused token or signature, an unreachable service. */
  fatal?: string;
  /** Retries of requests (429, 5xx, network). */
  retries: number;
  sendSeconds: number;
  waitSeconds: number;
}

interface Expectation {
  id: string;
  collection: string;
  metadata?: ImageMetadata;
  caption?: string;
  sha256?: string;
}

type Job =
  | { type: 'upload'; item: UploadItem; fp: string }
  | { type: 'webhook'; items: WebhookItem[]; fps: string[] };

class Fatal extends Error {}

const contentType = (file: string, bytes: Uint8Array) => {
  const format = sniffImageFormat(bytes);
  return format
    ? IMAGE_MEDIA_TYPES[format]
    : (IMAGE_EXTENSIONS[extname(file).toLowerCase()] ?? 'application/octet-stream');
};

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
    .join(',')}}`;
}

export const sameMetadata = (a: unknown, b: unknown) => canonical(a ?? {}) === canonical(b ?? {});

/** Batches of consecutive webhook events within the event and body limits; uploads one job each. */
function planJobs(items: Item[], fps: string[], batchSize: number, skip: (i: number) => boolean): Job[] {
  const jobs: Job[] = [];
  let batch: { items: WebhookItem[]; fps: string[]; bytes: number } | undefined;
  const budget = INGEST_LIMITS.bodyBytes - 1024;
  const flush = () => {
    if (batch?.items.length) jobs.push({ type: 'webhook', items: batch.items, fps: batch.fps });
    batch = undefined;
  };
  items.forEach((item, i) => {
    if (item.kind === 'upload') {
      flush();
      jobs.push({ type: 'upload', item, fp: fps[i] as string });
      return;
    }
    if (skip(i)) return;
    const bytes = Buffer.byteLength(JSON.stringify(item.event)) + 1;
    if (batch && (batch.items.length >= batchSize || batch.bytes + bytes > budget)) flush();
    batch ??= { items: [], fps: [], bytes: 20 };
    batch.items.push(item);
    batch.fps.push(fps[i] as string);
    batch.bytes += bytes;
  });
  flush();
  return jobs;
}

export async function runIndex(items: Item[], options: IndexOptions): Promise<Summary> {
  const base = options.url.replace(/\/+$/, '');
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const batchSize = Math.min(INGEST_LIMITS.events, Math.max(1, options.batchSize ?? INGEST_LIMITS.events));
  const progress = options.progress ?? createProgress('none');
  const state = options.state ?? IndexState.open(null, base, '');
  const signal = options.signal;
  const summary: Summary = {
    total: items.length,
    sent: 0,
    skipped: 0,
    deletes: 0,
    indexed: 0,
    failed: [],
    pending: 0,
    pendingIds: [],
    interrupted: false,
    retries: 0,
    sendSeconds: 0,
    waitSeconds: 0,
  };
  const retry: RetryOptions = {
    retries: options.retries ?? 8,
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 30_000,
    timeoutMs: options.timeoutMs ?? 60_000,
    limiter: new RateLimiter(options.rate ?? 0),
    signal,
    onRetry: (reason, attempt, delay) => {
      summary.retries++;
      if (attempt === 1 || attempt % 4 === 0)
        progress.note(`retrying (${reason}), try ${attempt + 1} in ${Math.round(delay)} ms`);
    },
  };
  const auth = { authorization: `Bearer ${options.token ?? ''}` };
  const needsToken = items.some((i) => i.kind === 'upload') || options.wait;
  if (needsToken && !options.token)
    throw new Fatal('an admin token is needed for uploads and --wait (--token or ADMIN_TOKEN)');
  if (items.some((i) => i.kind === 'webhook') && !options.secrets?.length) {
    throw new Fatal('a webhook secret is needed for URLs and R2 keys (--secret or WEBHOOK_SECRET)');
  }

  // Fingerprints: the key, its occurrence in the input, and what is sent (file bytes added later).
  const occurrences = new Map<string, number>();
  const fps = items.map((item) => {
    const key = itemKey(item);
    const n = occurrences.get(key) ?? 0;
    occurrences.set(key, n + 1);
    return fingerprint(
      item.kind === 'upload'
        ? [key, n, 'upload', item.metadata ?? null, item.caption ?? null]
        : [key, n, item.event],
    );
  });
  // The image's last item says what the index should end with.
  const last = new Map<string, number>();
  items.forEach((item, i) => {
    last.set(itemKey(item), i);
  });
  const expected = new Map<string, Expectation>();
  for (const [key, i] of last) {
    const item = items[i] as Item;
    if (item.kind === 'upload') {
      expected.set(key, {
        id: item.id,
        collection: item.collection,
        metadata: item.metadata,
        caption: item.caption,
      });
    } else if (item.event.op === 'upsert') {
      expected.set(key, {
        id: item.id,
        collection: item.collection,
        metadata: item.event.metadata,
        caption: item.event.caption,
      });
    }
  }
  const refused = new Set<string>();
  /** Keys that --skip-indexed found indexed with exactly what would be sent: no need to poll them. */
  const knownIndexed = new Set<string>();

  let done = 0;
  const advance = (n: number) => {
    done += n;
    progress.update(done, summary.failed.length);
  };
  const failSend = (item: Item, code: string, message: string) => {
    summary.failed.push({ id: item.id, collection: item.collection, code, message, phase: 'send' });
    refused.add(itemKey(item));
  };
  const fatalOf = (answer: Answer, what: string) =>
    new Fatal(
      `${what} refused with ${answer.status}${errorOf(answer.body) ? ` ${errorOf(answer.body)?.code}: ${errorOf(answer.body)?.message}` : ''}`,
    );

  const skipWebhook = (i: number) => items[i]?.kind === 'webhook' && state.has(fps[i] as string);
  const skippedWebhooks = items.filter((_, i) => skipWebhook(i)).length;
  const jobs = planJobs(items, fps, batchSize, skipWebhook);

  async function sendWebhook(job: Extract<Job, { type: 'webhook' }>): Promise<void> {
    const events: WebhookEvent[] = job.items.map((i) => i.event);
    const body = JSON.stringify({ events });
    let answer: Answer;
    try {
      answer = await requestWithRetry(
        async () => ({
          url: `${base}/v1/webhooks/index`,
          init: {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              [SIGNATURE_HEADER]: await signWebhook(options.secrets ?? [], body),
            },
            body,
          },
        }),
        retry,
      );
    } catch (error) {
      if (error instanceof Stopped) throw error;
      for (const item of job.items) failSend(item, 'unreachable', (error as Error).message);
      advance(job.items.length);
      return;
    }
    // 409: this very body and signature was accepted before (our own earlier try): nothing to redo.
    if (answer.status === 202 || answer.status === 200 || answer.status === 409) {
      job.items.forEach((item, k) => {
        state.markSent(job.fps[k] as string, { key: itemKey(item), op: item.event.op });
        if (item.event.op === 'delete') summary.deletes++;
      });
      summary.sent += job.items.length;
    } else if (answer.status === 401 || answer.status === 403) {
      throw fatalOf(answer, 'the webhook signature was');
    } else {
      const e = errorOf(answer.body) ?? { code: `http_${answer.status}`, message: answer.text.slice(0, 200) };
      for (const item of job.items) failSend(item, e.code, e.message);
    }
    advance(job.items.length);
  }

  async function status(collection: string, id: string): Promise<Answer> {
    return requestWithRetry(
      async () => ({
        url: `${base}/v1/images/${encodeURIComponent(id)}?collection=${encodeURIComponent(collection)}`,
        init: { headers: auth },
      }),
      retry,
    );
  }

  async function sendUpload(job: Extract<Job, { type: 'upload' }>): Promise<void> {
    const { item } = job;
    const key = itemKey(item);
    const bytes = new Uint8Array(readFileSync(item.file));
    const hash = sha256(bytes);
    const fp = fingerprint([job.fp, hash]);
    const exp = expected.get(key);
    if (exp && items[last.get(key) as number] === item) exp.sha256 = hash;
    if (state.has(fp)) {
      summary.skipped++;
      return advance(1);
    }
    if (options.skipIndexed) {
      const current = await status(item.collection, item.id);
      if (current.status === 401 || current.status === 403) throw fatalOf(current, 'the admin token was');
      const s = current.body as {
        state?: string;
        content_sha256?: string | null;
        metadata?: unknown;
        caption?: string;
      };
      if (
        current.status === 200 &&
        s.state === 'indexed' &&
        s.content_sha256 === hash &&
        sameMetadata(s.metadata, item.metadata) &&
        (s.caption ?? undefined) === item.caption
      ) {
        state.markSent(fp, { key, op: 'upsert' });
        if (items[last.get(key) as number] === item) knownIndexed.add(key);
        summary.skipped++;
        return advance(1);
      }
    }
    const type = contentType(item.file, bytes);
    let answer: Answer;
    try {
      answer = await requestWithRetry(async () => {
        let body: NonNullable<RequestInit['body']>;
        const headers: Record<string, string> = { ...auth };
        if (item.metadata !== undefined || item.caption !== undefined) {
          const form = new FormData();
          form.set('image', new Blob([bytes], { type }), item.file.split(/[\\/]/).pop());
          if (item.metadata !== undefined) form.set('metadata', JSON.stringify(item.metadata));
          if (item.caption !== undefined) form.set('caption', item.caption);
          body = form;
        } else {
          body = bytes;
          headers['content-type'] = type;
        }
        return {
          url: `${base}/v1/images/${encodeURIComponent(item.id)}?collection=${encodeURIComponent(item.collection)}`,
          init: { method: 'PUT', headers, body },
        };
      }, retry);
    } catch (error) {
      if (error instanceof Stopped) throw error;
      failSend(item, 'unreachable', (error as Error).message);
      return advance(1);
    }
    if (answer.status >= 200 && answer.status < 300) {
      state.markSent(fp, { key, op: 'upsert' });
      summary.sent++;
    } else if (answer.status === 401 || answer.status === 403) {
      throw fatalOf(answer, 'the admin token was');
    } else {
      const e = errorOf(answer.body) ?? { code: `http_${answer.status}`, message: answer.text.slice(0, 200) };
      failSend(item, e.code, e.message);
    }
    advance(1);
  }

  // Runs `work` over `list` with `concurrency` workers until done, stopped or fatal.
  let fatal: Error | undefined;
  const stopped = () => signal?.aborted || fatal !== undefined;
  async function pool<T>(list: T[], work: (x: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, list.length) }, async () => {
        while (next < list.length && !stopped()) {
          const x = list[next++] as T;
          try {
            await work(x);
          } catch (error) {
            if (error instanceof Stopped) return;
            fatal ??= error as Error;
            return;
          }
        }
      }),
    );
  }

  // Send: a job waits for any earlier job of the same image still in flight.
  const inflight = new Map<string, Promise<void>>();
  const sendStart = performance.now();
  progress.start('sending', items.length);
  summary.skipped += skippedWebhooks;
  advance(skippedWebhooks);
  const saver = setInterval(() => state.save(), 2000);
  try {
    await pool(jobs, async (job) => {
      const keys = job.type === 'upload' ? [itemKey(job.item)] : job.items.map(itemKey);
      const before = [...new Set(keys)].map((k) => inflight.get(k)).filter((p) => p !== undefined);
      const run = Promise.allSettled(before).then(() =>
        stopped() ? undefined : job.type === 'upload' ? sendUpload(job) : sendWebhook(job),
      );
      const settled = run.then(
        () => {},
        () => {},
      );
      for (const k of keys) inflight.set(k, settled);
      try {
        await run;
      } finally {
        for (const k of keys) if (inflight.get(k) === settled) inflight.delete(k);
      }
    });
  } finally {
    clearInterval(saver);
    state.save();
    progress.stop();
  }
  summary.sendSeconds = (performance.now() - sendStart) / 1000;
  summary.interrupted = Boolean(signal?.aborted);

  // Which images should end indexed: those whose last event is an upsert the service took.
  const watch = [...expected.entries()].filter(([key]) => !refused.has(key));
  if (fatal) {
    summary.fatal = fatal.message;
    summary.pending = watch.length;
    return summary;
  }
  if (!options.wait || summary.interrupted) {
    summary.indexed = watch.filter(([key]) => knownIndexed.has(key)).length;
    summary.pending = watch.length - summary.indexed;
    return summary;
  }

  // Wait: poll status until indexed or failed with what was sent (an earlier version's status does not count).
  const waitStart = performance.now();
  const deadline = Date.now() + (options.waitTimeoutS ?? 900) * 1000;
  const settled = new Set<string>();
  for (const [key] of watch) {
    if (knownIndexed.has(key)) {
      settled.add(key);
      summary.indexed++;
    }
  }
  let pending = watch.filter(([key]) => !settled.has(key));
  progress.start('indexing', watch.length);
  progress.update(settled.size, 0);
  try {
    while (pending.length && !stopped() && Date.now() < deadline) {
      await pool(pending, async ([key, exp]) => {
        const answer = await status(exp.collection, exp.id);
        if (answer.status === 401 || answer.status === 403) throw fatalOf(answer, 'the admin token was');
        const s = answer.body as {
          state?: string;
          metadata?: unknown;
          content_sha256?: string | null;
          error?: { code: string; message: string };
        };
        const current =
          answer.status === 200 &&
          (exp.metadata === undefined || sameMetadata(s.metadata, exp.metadata)) &&
          (exp.sha256 === undefined || !s.content_sha256 || s.content_sha256 === exp.sha256);
        if (current && s.state === 'indexed') {
          summary.indexed++;
          settled.add(key);
        } else if (current && s.state === 'failed') {
          summary.failed.push({
            id: exp.id,
            collection: exp.collection,
            code: s.error?.code ?? 'failed',
            message: s.error?.message ?? '',
            phase: 'index',
          });
          settled.add(key);
        }
        progress.update(settled.size, summary.failed.filter((f) => f.phase === 'index').length);
      });
      pending = pending.filter(([key]) => !settled.has(key));
      if (pending.length && !stopped()) await sleep(options.pollIntervalMs ?? 1000, signal).catch(() => {});
    }
  } finally {
    progress.stop();
  }
  summary.waitSeconds = (performance.now() - waitStart) / 1000;
  summary.pending = watch.length - settled.size;
  summary.pendingIds = watch
    .filter(([key]) => !settled.has(key))
    .map(([, exp]) => `${exp.collection}/${exp.id}`);
  summary.interrupted = Boolean(signal?.aborted);
  if (fatal) summary.fatal = (fatal as Error).message;
  return summary;
}

export { Fatal };

/** The closing report: counts, then the failures grouped by reason (up to `limit` listed). */
export function formatSummary(s: Summary, limit = 20): string {
  const lines: string[] = [];
  const failedSend = s.failed.filter((f) => f.phase === 'send').length;
  const failedIndex = s.failed.length - failedSend;
  lines.push(
    `summary: ${s.total} item(s): sent ${s.sent}${s.deletes ? ` (${s.deletes} delete(s))` : ''}, skipped ${s.skipped} (already sent or indexed), ` +
      `indexed ${s.indexed}, failed ${s.failed.length}${s.failed.length ? ` (${failedSend} refused on send, ${failedIndex} failed indexing)` : ''}, pending ${s.pending}` +
      ` | send ${s.sendSeconds.toFixed(1)} s${s.waitSeconds ? `, wait ${s.waitSeconds.toFixed(1)} s` : ''}${s.retries ? `, ${s.retries} retried request(s)` : ''}`,
  );
  if (s.failed.length) {
    const byCode = new Map<string, Failure[]>();
    for (const f of s.failed) byCode.set(f.code, [...(byCode.get(f.code) ?? []), f]);
    lines.push('failures:');
    let shown = 0;
    for (const [code, list] of byCode) {
      lines.push(`  ${code} (${list.length}):`);
      for (const f of list) {
        if (shown++ >= limit) break;
        lines.push(`    ${f.collection}/${f.id}: ${f.message}`);
      }
    }
    if (s.failed.length > limit) lines.push(`  ... ${s.failed.length - limit} more not listed`);
  }
  if (s.fatal) lines.push(`stopped: ${s.fatal}`);
  if (s.interrupted) lines.push('interrupted: progress saved; run the same command again to resume');
  else if (s.pending && !s.fatal) {
    lines.push(
      `${s.pending} image(s) not yet indexed or failed${s.waitSeconds ? ' when the wait ended' : ' (add --wait to follow them)'}`,
    );
    for (const id of s.pendingIds.slice(0, limit)) lines.push(`  pending: ${id}`);
    if (s.pendingIds.length > limit) lines.push(`  ... ${s.pendingIds.length - limit} more not listed`);
  }
  return lines.join('\n');
}
