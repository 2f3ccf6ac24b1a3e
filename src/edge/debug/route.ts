/**
 * Benchmark probes inside workerd, mounted only when DEBUG_ROUTES is set (404 otherwise), read by
 * scripts/bench/text-towers.ts and scripts/bench/stack.ts. workerd's clock ticks in 1 ms
 * steps, so every probe times many operations inside one request and divides.
 * - POST /debug/tower/session: loads an ONNX text tower from MODELS_BUCKET with the given session
 *   options (replacing the previous probe session), with fetch / create times and wasm memory.
 * - POST /debug/tower/run: runs the probe session on synthetic token ids, timed in groups.
 * - POST /debug/repeat: sends one request through the app `n` times, Worker time per request
 *   (optionally with an Authorization header and vars of its own: the access bench).
 * - POST /debug/shards/*: synthetic indexes written and searched through the search shards
 *   (./shards.ts, read by scripts/bench/shards.ts).
 * The probe session lives beside the app's text tower in the same ORT instance; it is for local
 * benchmarks only (deployed Workers freeze clocks during compute, so the timings read 0 there).
 */
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { type AppEnv, readConfig } from '../env';
import { ApiError } from '../http/errors';
import { loadOrt, wasmMemoryBytes } from '../inference/ort';
import { shardRoutes } from './shards';

type Ort = ReturnType<typeof loadOrt>;
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

const SessionBody = z.object({
  key: z.string().min(1),
  /** MODELS_BUCKET key of the graph's external data file (its initializers), if it has one. */
  external_data_key: z.string().min(1).optional(),
  graph_optimization_level: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  enable_cpu_mem_arena: z.boolean().default(true),
  enable_mem_pattern: z.boolean().default(true),
  /** ORT session config entries, e.g. `{ "session.disable_prepacking": "1" }`. */
  config: z.record(z.string(), z.string()).default({}),
});

const RunBody = z.object({
  tokens: z.number().int().min(2).max(512),
  batch: z.number().int().min(1).max(64).default(1),
  runs: z.number().int().min(1).max(2000),
  /** Runs per timed group; the answer has one mean per group. */
  group: z.number().int().min(1).max(100).default(5),
  warmup: z.number().int().min(0).max(50).default(2),
});

const RepeatBody = z.object({
  method: z.enum(['GET', 'POST']).default('POST'),
  path: z.string().startsWith('/v1/'),
  body: z.unknown().optional(),
  n: z.number().int().min(1).max(5000),
  /** The Authorization header of each request (an API key or the admin token). */
  authorization: z.string().max(200).optional(),
  /** Vars that replace the Worker's for these requests (e.g. AUTH_MODE, RATE_LIMITS). */
  vars: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string()).optional(),
});

let probe: { key: string; session: Session } | undefined;

function requireDebug(env: AppEnv['Bindings'], path: string): void {
  if (!readConfig(env).debugRoutes) throw new ApiError(404, 'not_found', `no route for POST ${path}`);
}

async function parse<T extends z.ZodType>(schema: T, request: Request): Promise<z.infer<T>> {
  const parsed = schema.safeParse(await request.json().catch(() => undefined));
  if (!parsed.success) throw new ApiError(400, 'invalid_request', parsed.error.message);
  return parsed.data;
}

/** Token ids of a plausible query: [CLS], words from the middle of the vocabulary, [SEP]. */
function feeds(ort: Ort, tokens: number, batch: number) {
  const ids = new BigInt64Array(tokens * batch);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      ids[b * tokens + t] =
        t === 0 ? 0n : t === tokens - 1 ? 2n : BigInt(100 + ((t * 7919 + b * 104729) % 20000));
    }
  }
  const mask = new BigInt64Array(tokens * batch).fill(1n);
  return {
    input_ids: new ort.Tensor('int64', ids, [batch, tokens]),
    attention_mask: new ort.Tensor('int64', mask, [batch, tokens]),
  };
}

const app = new Hono<AppEnv>();

app.post('/debug/tower/session', async (c) => {
  requireDebug(c.env, '/debug/tower/session');
  const body = await parse(SessionBody, c.req.raw);
  const ort = loadOrt();
  if (probe) {
    await probe.session.release();
    probe = undefined;
  }
  const wasmBefore = wasmMemoryBytes();
  const t0 = Date.now();
  const object = await c.env.MODELS_BUCKET.get(body.key);
  if (!object) throw new ApiError(404, 'not_found', `no object ${body.key} in MODELS_BUCKET`);
  const bytes = new Uint8Array(await object.arrayBuffer());
  let externalData: { path: string; data: Uint8Array }[] | undefined;
  if (body.external_data_key) {
    const data = await c.env.MODELS_BUCKET.get(body.external_data_key);
    if (!data) throw new ApiError(404, 'not_found', `no object ${body.external_data_key} in MODELS_BUCKET`);
    const path = body.external_data_key.split('/').pop() as string;
    externalData = [{ path, data: new Uint8Array(await data.arrayBuffer()) }];
  }
  const t1 = Date.now();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: body.graph_optimization_level,
    enableCpuMemArena: body.enable_cpu_mem_arena,
    enableMemPattern: body.enable_mem_pattern,
    extra: body.config,
    ...(externalData ? { externalData } : {}),
  });
  const t2 = Date.now();
  const wasmAfterLoad = wasmMemoryBytes();
  const first = await session.run(feeds(ort, 16, 1));
  for (const tensor of Object.values(first)) tensor.dispose();
  const t3 = Date.now();
  probe = { key: body.key, session };
  return c.json({
    key: body.key,
    file_bytes: bytes.byteLength + (externalData?.[0]?.data.byteLength ?? 0),
    fetch_ms: t1 - t0,
    create_ms: t2 - t1,
    first_run_ms: t3 - t2,
    wasm_before_bytes: wasmBefore,
    wasm_after_load_bytes: wasmAfterLoad,
    wasm_after_first_run_bytes: wasmMemoryBytes(),
  });
});

app.post('/debug/tower/run', async (c) => {
  requireDebug(c.env, '/debug/tower/run');
  const body = await parse(RunBody, c.req.raw);
  if (!probe) throw new ApiError(409, 'conflict', 'create a probe session first (POST /debug/tower/session)');
  const ort = loadOrt();
  const input = feeds(ort, body.tokens, body.batch);
  const once = async () => {
    const out = await probe?.session.run(input);
    for (const tensor of Object.values(out ?? {})) tensor.dispose();
  };
  for (let i = 0; i < body.warmup; i++) await once();
  const groups: number[] = [];
  for (let done = 0; done < body.runs; done += body.group) {
    const n = Math.min(body.group, body.runs - done);
    const start = Date.now();
    for (let i = 0; i < n; i++) await once();
    groups.push((Date.now() - start) / n);
  }
  return c.json({ key: probe.key, ...body, group_mean_ms: groups, wasm_bytes: wasmMemoryBytes() });
});

/** What `/debug/repeat` sends its requests through: the app that mounts the probes. */
export type RepeatTarget = Pick<Hono<AppEnv>, 'fetch'>;

/** The probes, with `/debug/repeat` going through `worker` (passed in: the app mounts this). */
export function debugRoutes(worker: RepeatTarget): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .route('/', app)
    .route('/', shardRoutes)
    .post('/debug/repeat', (c) => repeat(c, worker));
}

async function repeat(c: Context<AppEnv>, worker: RepeatTarget): Promise<Response> {
  requireDebug(c.env, '/debug/repeat');
  const body = await parse(RepeatBody, c.req.raw);
  const url = new URL(body.path, c.req.url).toString();
  const headers: Record<string, string> = {
    ...(body.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body.authorization ? { authorization: body.authorization } : {}),
  };
  const make = () =>
    new Request(url, {
      method: body.method,
      headers,
      ...(body.body === undefined ? {} : { body: JSON.stringify(body.body) }),
    });
  const env = body.vars ? { ...c.env, ...body.vars } : c.env;
  const statuses = new Map<string, number>();
  const start = Date.now();
  for (let i = 0; i < body.n; i++) {
    const res = await worker.fetch(make(), env, c.executionCtx);
    await res.arrayBuffer();
    const tag = `${res.status} ${res.headers.get('x-cache') ?? ''}`.trim();
    statuses.set(tag, (statuses.get(tag) ?? 0) + 1);
  }
  const total = Date.now() - start;
  return c.json({
    n: body.n,
    total_ms: total,
    per_request_ms: total / body.n,
    statuses: Object.fromEntries(statuses),
  });
}
