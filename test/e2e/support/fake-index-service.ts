/**
 * A small stand-in of the Worker's ingest API for the bulk CLI's own tests: signed webhooks
 * (verified with the real verifier, replays 409, body checked with the real schema), uploads
 * (raw or multipart), status and stats, with faults to inject. Images turn `indexed` (or
 * `failed` when their id starts with `bad`) `indexDelayMs` after they arrive. Not the real
 * service: the end-to-end tests next to it run the Worker itself.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { DEFAULT_COLLECTION } from '../../../src/core/contract/ids';
import { WebhookBodySchema } from '../../../src/core/contract/ingest-schemas';
import { SIGNATURE_HEADER, verifyWebhook } from '../../../src/core/contract/webhook-signature';

export interface FakeRecord {
  id: string;
  collection: string;
  metadata: Record<string, unknown>;
  caption?: string;
  content_sha256: string | null;
  source: 'upload' | 'webhook';
  readyAt: number;
  versions: number;
}

export interface FakeService {
  url: string;
  records: Map<string, FakeRecord>;
  /** Every request as `METHOD path` in arrival order. */
  calls: string[];
  /** Every webhook event accepted, in order of acceptance. */
  events: { op: string; id: string; collection: string }[];
  /** The next `n` requests matching `match` answer `status` (with Retry-After when given). */
  failNext: (n: number, status: number, match?: RegExp, retryAfterS?: number) => void;
  /** Delay of each answer (to let a test interrupt a run mid-way). */
  setLatency: (ms: number) => void;
  close: () => Promise<void>;
}

const key = (collection: string, id: string) => `${collection}/${id}`;
const err = (code: string, message: string) => ({ error: { code, message } });

export async function startFakeService(
  options: { token?: string; secret?: string; indexDelayMs?: number } = {},
): Promise<FakeService> {
  const token = options.token ?? 'fake-admin';
  const secret = options.secret ?? 'fake-secret';
  const indexDelayMs = options.indexDelayMs ?? 50;
  const records = new Map<string, FakeRecord>();
  const calls: string[] = [];
  const events: FakeService['events'] = [];
  const seen = new Set<string>();
  const faults: { n: number; status: number; match?: RegExp; retryAfterS?: number }[] = [];
  let latency = 0;
  let seq = 0;

  const app = new Hono();
  app.use('*', async (c, next) => {
    const path = new URL(c.req.url).pathname;
    calls.push(`${c.req.method} ${path}`);
    if (latency) await new Promise((r) => setTimeout(r, latency));
    const fault = faults.find((f) => f.n > 0 && (!f.match || f.match.test(`${c.req.method} ${path}`)));
    if (fault) {
      fault.n--;
      if (fault.retryAfterS !== undefined) c.header('retry-after', String(fault.retryAfterS));
      return c.json(err('injected', `injected ${fault.status}`), fault.status as 503);
    }
    await next();
  });
  const admin = (authorization: string | undefined) => authorization === `Bearer ${token}`;

  app.post('/v1/webhooks/index', async (c) => {
    const raw = await c.req.text();
    const check = await verifyWebhook(c.req.header(SIGNATURE_HEADER), raw, [secret]);
    if (!check.ok) return c.json(err('bad_signature', check.reason), 401);
    if (seen.has(check.signature)) return c.json(err('replayed', 'signature already used'), 409);
    seen.add(check.signature);
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return c.json(err('bad_request', 'not JSON'), 400);
    }
    const body = WebhookBodySchema.safeParse(json);
    if (!body.success) return c.json(err('bad_request', body.error.issues[0]?.message ?? 'bad'), 400);
    const out = [];
    for (const e of body.data.events) {
      const collection = e.collection ?? DEFAULT_COLLECTION;
      events.push({ op: e.op, id: e.id, collection });
      if (e.op === 'delete') records.delete(key(collection, e.id));
      else {
        const prev = records.get(key(collection, e.id));
        records.set(key(collection, e.id), {
          id: e.id,
          collection,
          metadata: e.metadata ?? {},
          caption: e.caption,
          content_sha256: null,
          source: 'webhook',
          readyAt: Date.now() + indexDelayMs,
          versions: (prev?.versions ?? 0) + 1,
        });
      }
      out.push({ id: e.id, op: e.op, seq: ++seq, collection });
    }
    return c.json({ accepted: out.length, events: out }, 202);
  });

  app.put('/v1/images/:id', async (c) => {
    if (!admin(c.req.header('authorization'))) return c.json(err('unauthorized', 'bad token'), 401);
    const id = c.req.param('id');
    const collection = c.req.query('collection') ?? DEFAULT_COLLECTION;
    let bytes: Uint8Array;
    let metadata: Record<string, unknown> = {};
    let caption: string | undefined;
    if ((c.req.header('content-type') ?? '').startsWith('multipart/form-data')) {
      const form = await c.req.formData();
      const image = form.get('image');
      if (!(image instanceof File)) return c.json(err('bad_request', 'no image part'), 400);
      bytes = new Uint8Array(await image.arrayBuffer());
      const m = form.get('metadata');
      if (typeof m === 'string') metadata = JSON.parse(m);
      const cap = form.get('caption');
      if (typeof cap === 'string') caption = cap;
    } else {
      bytes = new Uint8Array(await c.req.arrayBuffer());
      if (!(c.req.header('content-type') ?? '').startsWith('image/'))
        return c.json(err('unsupported_media_type', 'send an image'), 415);
    }
    if (id.startsWith('reject')) return c.json(err('image_too_large', 'refused by the fake'), 413);
    const prev = records.get(key(collection, id));
    const record: FakeRecord = {
      id,
      collection,
      metadata,
      caption,
      content_sha256: createHash('sha256').update(bytes).digest('hex'),
      source: 'upload',
      // `stuck...` ids never settle: the wait times out on them.
      readyAt: id.startsWith('stuck') ? Number.POSITIVE_INFINITY : Date.now() + indexDelayMs,
      versions: (prev?.versions ?? 0) + 1,
    };
    records.set(key(collection, id), record);
    return c.json(statusOf(record), 202);
  });

  const statusOf = (r: FakeRecord) => {
    const ready = Date.now() >= r.readyAt;
    const failed = ready && r.id.startsWith('bad');
    return {
      id: r.id,
      collection: r.collection,
      state: !ready ? 'pending' : failed ? 'failed' : 'indexed',
      ...(failed ? { error: { code: 'not_an_image', message: 'the fake cannot decode it' } } : {}),
      metadata: r.metadata,
      ...(r.caption !== undefined ? { caption: r.caption } : {}),
      content_sha256: r.content_sha256,
      attempts: 1,
      updated_at: new Date(Math.min(r.readyAt, Date.now())).toISOString(),
    };
  };

  app.get('/v1/images/:id', (c) => {
    if (!admin(c.req.header('authorization'))) return c.json(err('unauthorized', 'bad token'), 401);
    const r = records.get(key(c.req.query('collection') ?? DEFAULT_COLLECTION, c.req.param('id')));
    return r ? c.json(statusOf(r)) : c.json(err('not_found', 'no such image'), 404);
  });

  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    calls,
    events,
    failNext: (n, status, match, retryAfterS) => faults.push({ n, status, match, retryAfterS }),
    setLatency: (ms) => {
      latency = ms;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
