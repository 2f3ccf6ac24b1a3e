/**
 * A small stand-in of the Worker's ingest API for the bulk CLI's own tests: signed webhooks
 * (verified with the real verifier, replays 409, body checked with the real schema), uploads
 * (raw or multipart), status and stats, with faults to inject. Images turn `indexed` (or
 * `failed` when their id starts with `bad`) `indexDelayMs` after they arrive. Also the
 * collections API (admin) for the migration CLI: a migration moves forward one step on each GET
 * of it, to a model named `broken...` it fails, to `stuck...` it never ends copying. Not the real
 * service: the end-to-end tests next to it run the Worker itself.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import {
  CollectionSchema,
  type Migration,
  MigrationSchema,
  StartMigrationBodySchema,
} from '../../../src/core/contract/collection-schemas';
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
  /** Collections by name: the current model, and the migration running or in its rollback period. */
  collections: Map<string, FakeCollection>;
  /** Every migration by id, as last answered. */
  migrations: Map<string, Migration>;
  /** The next `n` requests matching `match` answer `status` (with Retry-After when given). */
  failNext: (n: number, status: number, match?: RegExp, retryAfterS?: number) => void;
  /** The next `n` requests matching `match` answer `status` with `body` as it is (out of contract, say). */
  replyNext: (n: number, status: number, body: unknown, match?: RegExp) => void;
  /** Delay of each answer (to let a test interrupt a run mid-way). */
  setLatency: (ms: number) => void;
  close: () => Promise<void>;
}

export interface FakeCollection {
  model: string;
  pinned: boolean;
  /** Id of the migration running or in its rollback period. */
  current?: string;
}

export interface FakeMigrationOptions {
  /** Models a migration may go to (default koclip-tiny, koclip-base, broken-model, stuck-model). */
  models?: string[];
  /** Images of the old index a migration moves (10). */
  migrationImages?: number;
  /** GETs of a migration until it switches (3): the first still has no total. */
  migrationSteps?: number;
  /** Seconds a switched migration can be rolled back before it is retired (600). */
  rollbackGraceS?: number;
}

/** A migration's images per second in the fake, so that ETAs are predictable. */
export const FAKE_MIGRATION_RATE = 4;

const key = (collection: string, id: string) => `${collection}/${id}`;
const err = (code: string, message: string) => ({ error: { code, message } });

export async function startFakeService(
  options: { token?: string; secret?: string; indexDelayMs?: number } & FakeMigrationOptions = {},
): Promise<FakeService> {
  const token = options.token ?? 'fake-admin';
  const secret = options.secret ?? 'fake-secret';
  const indexDelayMs = options.indexDelayMs ?? 50;
  const records = new Map<string, FakeRecord>();
  const calls: string[] = [];
  const events: FakeService['events'] = [];
  const seen = new Set<string>();
  const faults: { n: number; status: number; match?: RegExp; retryAfterS?: number; body?: unknown }[] = [];
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
      if ('body' in fault) return c.json(fault.body, fault.status as 200);
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

  const collections = new Map<string, FakeCollection>();
  const migrations = new Map<string, Migration>();
  mountCollections(app, admin, collections, migrations, options);

  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    calls,
    events,
    collections,
    migrations,
    failNext: (n, status, match, retryAfterS) => faults.push({ n, status, match, retryAfterS }),
    replyNext: (n, status, body, match) => faults.push({ n, status, match, body }),
    setLatency: (ms) => {
      latency = ms;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The collections API: each answer is parsed with the core contract before it leaves, so the fake cannot drift from it. */
function mountCollections(
  app: Hono,
  admin: (authorization: string | undefined) => boolean,
  collections: Map<string, FakeCollection>,
  migrations: Map<string, Migration>,
  options: FakeMigrationOptions,
) {
  const models = options.models ?? ['koclip-tiny', 'koclip-base', 'broken-model', 'stuck-model'];
  const images = options.migrationImages ?? 10;
  const steps = options.migrationSteps ?? 3;
  const graceMs = (options.rollbackGraceS ?? 600) * 1000;
  const gets = new Map<string, number>();
  let next = 0;
  const collectionOf = (name: string) => {
    const c = collections.get(name) ?? { model: 'koclip-tiny', pinned: false };
    collections.set(name, c);
    return c;
  };
  const ref = (model: string) => ({ model, version: '1' });
  const now = () => new Date().toISOString();

  /** A switched migration whose grace period is over is retired (on whichever GET comes first). */
  const retireIfDue = (m: Migration) => {
    if (m.state !== 'switched' || !m.rollback_until || Date.now() < Date.parse(m.rollback_until)) return;
    m.state = 'retired';
    m.finished_at = m.rollback_until;
    const c = collectionOf(m.collection);
    if (c.current === m.id) c.current = undefined;
  };

  /** One step further on each GET: copied without a total, then indexed of the total, then switched (one image failed). */
  const advance = (m: Migration) => {
    const step = (gets.get(m.id) ?? 0) + 1;
    gets.set(m.id, step);
    const progress = (indexed: number, total: number | null, copied: number) => {
      Object.assign(m, {
        total,
        copied,
        indexed,
        pending: copied - indexed,
        images_per_s: FAKE_MIGRATION_RATE,
      });
      m.eta_s = total === null ? null : (total - indexed) / FAKE_MIGRATION_RATE;
    };
    if (step === 1) return progress(Math.floor(images / 4), null, Math.floor(images / 2));
    if (m.to.model.startsWith('broken')) {
      Object.assign(m, {
        state: 'failed',
        error: 'the encoder has no package broken-model@1',
        finished_at: now(),
      });
      m.eta_s = null;
      collectionOf(m.collection).current = undefined;
      return;
    }
    if (m.to.model.startsWith('stuck') || step < steps)
      return progress(Math.floor((images * Math.min(step, steps - 1)) / steps), images, images);
    progress(images - 1, images, images);
    const switchedAt = new Date();
    Object.assign(m, {
      state: 'switched',
      pending: 0,
      failed: 1,
      failures: [{ id: 'bad-0001', code: 'not_an_image', message: 'the fake cannot decode it' }],
      eta_s: null,
      switched_at: switchedAt.toISOString(),
      rollback_until: new Date(switchedAt.getTime() + graceMs).toISOString(),
    });
    Object.assign(collectionOf(m.collection), { model: m.to.model, pinned: true });
  };

  const found = (collection: string, id: string) => {
    const m = migrations.get(id);
    return m?.collection === collection ? m : undefined;
  };
  const notFound = (id: string) => err('migration_not_found', `no migration ${id}`);

  app.use('/v1/collections/*', async (c, next) => {
    if (!admin(c.req.header('authorization'))) return c.json(err('unauthorized', 'bad token'), 401);
    await next();
  });

  app.get('/v1/collections/:collection', (c) => {
    const name = c.req.param('collection');
    const col = collectionOf(name);
    const current = col.current ? migrations.get(col.current) : undefined;
    if (current) retireIfDue(current);
    const migration = col.current ? (migrations.get(col.current) ?? null) : null;
    return c.json(
      CollectionSchema.parse({ collection: name, model: col.model, pinned: col.pinned, migration }),
    );
  });

  app.post('/v1/collections/:collection/migrations', async (c) => {
    const name = c.req.param('collection');
    const body = StartMigrationBodySchema.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) return c.json(err('bad_request', body.error.issues[0]?.message ?? 'bad body'), 400);
    const col = collectionOf(name);
    const current = col.current ? migrations.get(col.current) : undefined;
    if (current) retireIfDue(current);
    if (col.current) return c.json(err('migration_running', `migration ${col.current} is not over`), 409);
    if (!models.includes(body.data.to)) return c.json(err('unknown_model', `no model ${body.data.to}`), 404);
    if (body.data.to === col.model)
      return c.json(err('same_model', `${name} already reads ${col.model}`), 409);
    const m: Migration = {
      id: `mig-${++next}`,
      collection: name,
      from: ref(col.model),
      to: ref(body.data.to),
      state: 'copying',
      total: null,
      copied: 0,
      indexed: 0,
      pending: 0,
      failed: 0,
      failures: [],
      images_per_s: 0,
      eta_s: null,
      started_at: now(),
      switched_at: null,
      rollback_until: null,
      finished_at: null,
      error: null,
    };
    migrations.set(m.id, m);
    col.current = m.id;
    return c.json(MigrationSchema.parse(m), 202);
  });

  app.get('/v1/collections/:collection/migrations/:id', (c) => {
    const m = found(c.req.param('collection'), c.req.param('id'));
    if (!m) return c.json(notFound(c.req.param('id')), 404);
    if (m.state === 'copying') advance(m);
    else retireIfDue(m);
    return c.json(MigrationSchema.parse(m));
  });

  app.post('/v1/collections/:collection/migrations/:id/rollback', (c) => {
    const m = found(c.req.param('collection'), c.req.param('id'));
    if (!m) return c.json(notFound(c.req.param('id')), 404);
    retireIfDue(m);
    if (m.state !== 'switched') return c.json(err('rollback_closed', `migration ${m.id} is ${m.state}`), 409);
    Object.assign(m, { state: 'rolled_back', finished_at: now() });
    const col = collectionOf(m.collection);
    Object.assign(col, { model: m.from.model, current: undefined });
    return c.json(MigrationSchema.parse(m));
  });
}
