/**
 * The local stack under cache hits and under load. Starts `scripts/stack/main.ts` (what `npm start`
 * runs: the encoder function, `wrangler dev` with DEBUG_ROUTES from .dev.vars, the demo set seeded
 * through the index path) on its own ports and state folder, then:
 * 1. caching: Worker time per request of a cached POST /v1/score (X-Cache: HIT) and of a repeated
 *    query embedding (POST /v1/embeddings), each sent `--repeat` times through the app inside one
 *    request (POST /debug/repeat; workerd's clock ticks in 1 ms steps);
 * 2. access: keys and limits against none, side by side (`npm run bench:access` runs only this);
 * 3. load: autocannon (pinned devDependency), `--connections` clients for `--duration` s on
 *    loopback, search by text and caption scoring mixed, with workerd's RSS (ps) and ORT's wasm
 *    memory (GET /debug/text-tower) sampled every 2 s.
 *
 *   npm run bench:stack -- [--connections 64] [--duration 60] [--repeat 300] [--no-load] [--no-caching]
 *     [--no-access] [--access-rounds 40] [--access-n 25]
 *     [--mix both|search|score]
 *     [--out build/bench/stack.json]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { readDevVars } from '../index/dev-vars';
import { TS_RUNNER } from '../stack/index';
import { machine, percentile, postJson, ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '60' },
    repeat: { type: 'string', default: '300' },
    port: { type: 'string', default: '8790' },
    'no-load': { type: 'boolean', default: false },
    /** Which requests the load run sends: both (default), search or score. */
    mix: { type: 'string', default: 'both' },
    'no-caching': { type: 'boolean', default: false },
    /** Skip the access comparison (keys and limits against none, side by side). */
    'no-access': { type: 'boolean', default: false },
    /** Access comparison: rounds of `--access-n` requests per variant and route. */
    'access-rounds': { type: 'string', default: '40' },
    'access-n': { type: 'string', default: '25' },
    out: { type: 'string', default: 'build/bench/stack.json' },
  },
});
const port = Number(values.port);
const base = `http://127.0.0.1:${port}`;
const persist = mkdtempSync(join(tmpdir(), 'bench-stack-'));

const SEARCH_TEXTS = ['빨간 원', '파란 사각형 두 개', '작은 노란 별', '초록색 삼각형', '큰 보라색 원 세 개'];
const CAPTIONS = ['빨간 원', '파란 사각형', '노란 별', '초록 삼각형'];
const IMAGE_IDS = ['demo-0001', 'demo-0002', 'demo-0003', 'demo-0004'];

/** npm start's entry on this bench's ports and state folder; resolves with the Worker's process group. */
function startStack(): Promise<{ child: ChildProcess; workerGroup: number }> {
  const child = spawn(TS_RUNNER, ['scripts/stack/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, WORKER_PORT: String(port), ENCODER_PORT: String(port + 1), PERSIST_TO: persist },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  stackPid = child.pid;
  return new Promise((resolve, reject) => {
    let seen = '';
    let workerGroup: number | undefined;
    const timer = setTimeout(() => reject(new Error('the stack was not ready within 600 s')), 600_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4000);
      workerGroup ??= Number(/Worker up \(wrangler dev, pid (\d+)\)/.exec(seen)?.[1]) || undefined;
      if (workerGroup && /\[dev\] ready after [\d.]+ s\./.test(seen)) {
        clearTimeout(timer);
        resolve({ child, workerGroup });
      }
    });
    child.on('exit', (code) =>
      reject(new Error(`scripts/stack/main.ts exited with ${code}: ${seen.slice(-800)}`)),
    );
  });
}

/** RSS (bytes) of every workerd process in the Worker's process group, in total and by pid. */
function workerdRss(workerGroup: number): { total: number; byPid: Record<string, number> } {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,rss=,comm='], { encoding: 'utf8' });
  let total = 0;
  const byPid: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [pid, pgid, rss, comm] = line.trim().split(/\s+/);
    if (Number(pgid) === workerGroup && comm?.startsWith('workerd')) {
      total += Number(rss) * 1024;
      byPid[pid as string] = Number(rss) * 1024;
    }
  }
  return { total, byPid };
}

async function wasmBytes(): Promise<number> {
  const res = await fetch(`${base}/debug/text-tower`);
  return ((await res.json()) as { wasm_memory_bytes: number }).wasm_memory_bytes;
}

const scoreBody = (id: string) => ({ image_id: id, captions: CAPTIONS });

// SIGTERM to npm start's process group: it stops the encoder's and the Worker's groups itself.
let stackPid: number | undefined;
const stop = () => {
  try {
    if (stackPid) process.kill(-stackPid, 'SIGTERM');
  } catch {}
  rmSync(persist, { recursive: true, force: true });
};
process.on('exit', stop);
// The stack runs in process groups of its own, out of reach of a terminal's Ctrl-C: exit (and so
// stop it) on a signal instead of dying of it.
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const started = await machine();
console.error('  starting the stack (encoder, wrangler dev, demo seed)…');
const t0 = performance.now();
const stack = await startStack();
console.error(`  stack ready in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

// Warm: one search (tower session), one score per image (fills the score cache).
await fetch(`${base}/v1/search?q=${encodeURIComponent(SEARCH_TEXTS[0] as string)}&k=10`).then((r) =>
  r.text(),
);
for (const id of IMAGE_IDS) await postJson(base, '/v1/score', scoreBody(id));

const repeat = Number(values.repeat);
interface RepeatAnswer {
  n: number;
  total_ms: number;
  per_request_ms: number;
  statuses: Record<string, number>;
}
const caching: Record<string, RepeatAnswer> = {};
for (const [name, body] of values['no-caching']
  ? []
  : ([
      ['cached /v1/score (4 captions)', { path: '/v1/score', body: scoreBody('demo-0001') }],
      [
        'repeated query embedding (/v1/embeddings, 1 text)',
        { path: '/v1/embeddings', body: { input: '빨간 원' } },
      ],
      [
        'search by text (300 demo images)',
        { method: 'GET', path: `/v1/search?q=${encodeURIComponent('빨간 원')}&k=10` },
      ],
      ['GET /v1/models (routing floor)', { method: 'GET', path: '/v1/models' }],
    ] as const)) {
  // Twice: the first pass warms the code paths.
  await postJson<RepeatAnswer>(base, '/debug/repeat', { ...body, n: 20 });
  caching[name] = await postJson<RepeatAnswer>(base, '/debug/repeat', { ...body, n: repeat });
  console.error(
    `  ${name}: ${caching[name]?.per_request_ms.toFixed(3)} ms/request ${JSON.stringify(caching[name]?.statuses)}`,
  );
}

/**
 * Keys and limits against none, side by side: each round sends `--access-n` requests of one route
 * through the app (POST /debug/repeat) once per variant, in rotating order; a variant's figure is
 * the median (and p95) over rounds of its mean Worker time per request.
 * - none: AUTH_MODE=open, RATE_LIMITS=off, anonymous (no gate work beyond the route table);
 * - key: AUTH_MODE=keys, RATE_LIMITS=on, an API key without quotas (key check from the isolate's
 *   cache, the RATE_LIMIT binding, the usage count after the answer);
 * - key + quotas: the same with daily quotas (the UsageCounter object is asked before the answer).
 * Keys rotate (ACCESS_KEYS per variant) so that none passes the binding's 600 per 60 s.
 */
const ACCESS_KEYS = 8;
interface AccessRow {
  route: string;
  variant: string;
  p50: number;
  p95: number;
  rounds: number;
  statuses: Record<string, number>;
}
const access: AccessRow[] = [];
if (!values['no-access']) {
  const admin = `Bearer ${readDevVars().ADMIN_TOKEN ?? ''}`;
  const createKey = async (limits: Record<string, number> | undefined) => {
    const res = await fetch(`${base}/v1/keys`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', scopes: ['search'], ...(limits ? { limits } : {}) }),
    });
    if (res.status !== 201) throw new Error(`POST /v1/keys: ${res.status} ${await res.text()}`);
    return `Bearer ${((await res.json()) as { key: string }).key}`;
  };
  const keysOn = { AUTH_MODE: 'keys', RATE_LIMITS: 'on' };
  const keysNoBurst = { AUTH_MODE: 'keys', RATE_LIMITS: 'off' };
  const plain = await Promise.all(Array.from({ length: ACCESS_KEYS }, () => createKey(undefined)));
  const quoted = await Promise.all(
    Array.from({ length: ACCESS_KEYS }, () => createKey({ requests_per_day: 1e9, encoder_per_day: 1e9 })),
  );
  const variants: { name: string; vars: Record<string, string>; auth: string[] }[] = [
    { name: 'none (open, anonymous)', vars: { AUTH_MODE: 'open', RATE_LIMITS: 'off' }, auth: [''] },
    { name: 'key', vars: keysNoBurst, auth: plain },
    { name: 'key + daily quotas', vars: keysNoBurst, auth: quoted },
    { name: 'key + burst limit', vars: keysOn, auth: plain },
    { name: 'key + burst limit + daily quotas', vars: keysOn, auth: quoted },
  ];
  const routes = [
    ['cached /v1/score (4 captions)', { path: '/v1/score', body: scoreBody('demo-0001') }],
    [
      'GET /v1/search (text, 300 demo images)',
      { method: 'GET', path: `/v1/search?q=${encodeURIComponent('빨간 원')}&k=10` },
    ],
  ] as const;
  const n = Number(values['access-n']);
  const rounds = Number(values['access-rounds']);
  for (const [route, request] of routes) {
    const times = variants.map(() => [] as number[]);
    const statuses = variants.map(() => ({}) as Record<string, number>);
    for (let round = -2; round < rounds; round++) {
      for (let j = 0; j < variants.length; j++) {
        const v = (round + j + variants.length) % variants.length;
        const variant = variants[v] as (typeof variants)[number];
        const auth = variant.auth[(round + 2) % variant.auth.length] as string;
        const answer = await postJson<RepeatAnswer>(base, '/debug/repeat', {
          ...request,
          n,
          vars: variant.vars,
          ...(auth ? { authorization: auth } : {}),
        });
        // Two warm-up rounds are not counted.
        if (round < 0) continue;
        times[v]?.push(answer.per_request_ms);
        const tally = statuses[v] as Record<string, number>;
        for (const [k, c] of Object.entries(answer.statuses)) tally[k] = (tally[k] ?? 0) + c;
      }
    }
    variants.forEach((variant, v) => {
      const row = {
        route,
        variant: variant.name,
        p50: percentile(times[v] as number[], 50),
        p95: percentile(times[v] as number[], 95),
        rounds,
        statuses: statuses[v] as Record<string, number>,
      };
      access.push(row);
      console.error(
        `  ${route}, ${variant.name}: p50 ${row.p50.toFixed(3)} ms ${JSON.stringify(row.statuses)}`,
      );
    });
  }
}

let load: unknown = null;
const samples: {
  t_s: number;
  workerd_rss_bytes: number;
  workerd_rss_by_pid: Record<string, number>;
  wasm_bytes: number;
  completed: number;
}[] = [];
let completed = 0;
if (!values['no-load']) {
  const mix = values.mix;
  const requests = [
    ...(mix === 'score' ? [] : SEARCH_TEXTS).map((t) => ({
      method: 'GET' as const,
      path: `/v1/search?q=${encodeURIComponent(t)}&k=10`,
    })),
    ...(mix === 'search' ? [] : IMAGE_IDS).map((id) => ({
      method: 'POST' as const,
      path: '/v1/score',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(scoreBody(id)),
    })),
  ];
  const loadStart = performance.now();
  const sample = async () => {
    const rss = workerdRss(stack.workerGroup);
    samples.push({
      t_s: (performance.now() - loadStart) / 1000,
      workerd_rss_bytes: rss.total,
      workerd_rss_by_pid: rss.byPid,
      wasm_bytes: await wasmBytes().catch(() => Number.NaN),
      completed,
    });
  };
  await sample();
  const sampler = setInterval(() => void sample(), 2000);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url: base, connections: Number(values.connections), duration: Number(values.duration), requests },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', () => {
      completed++;
    });
  });
  clearInterval(sampler);
  await sample();
  load = {
    connections: result.connections,
    duration_s: result.duration,
    requests_total: result.requests.total,
    throughput_rps: result.requests.average,
    rps_p50: result.requests.p50,
    rps_min: result.requests.min,
    rps_max: result.requests.max,
    latency_ms: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p97_5: result.latency.p97_5,
      p99: result.latency.p99,
      mean: result.latency.average,
      max: result.latency.max,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    status_codes: result.statusCodeStats,
    mix:
      mix === 'both'
        ? `${SEARCH_TEXTS.length} search-by-text : ${IMAGE_IDS.length} score requests, cycled per connection`
        : `${mix} only`,
  };
  console.error(`  load: ${JSON.stringify(load)}`);
}
const ended = await machine();
const autocannonVersion = (
  JSON.parse(readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }
).version;
mkdirSync(dirname(join(ROOT, values.out)), { recursive: true });
writeFileSync(
  join(ROOT, values.out),
  JSON.stringify(
    { bench: 'stack', started, ended, repeat, autocannon: autocannonVersion, caching, access, load, samples },
    null,
    1,
  ),
);
console.log(`\nStack: ${started.cpu}, ${started.cores} cores, load ${started.load.join(' / ')}`);
console.log('| request | Worker ms/request | requests | statuses |');
console.log('|---|---:|---:|---|');
for (const [name, r] of Object.entries(caching)) {
  console.log(`| ${name} | ${r.per_request_ms.toFixed(3)} | ${r.n} | ${JSON.stringify(r.statuses)} |`);
}
if (access.length) {
  console.log(
    `\nKeys and limits, side by side (${values['access-rounds']} rounds of ${values['access-n']} requests per variant; Worker ms/request)`,
  );
  console.log('| route | variant | p50 ms | p95 ms | added p50 ms | statuses |');
  console.log('|---|---|---:|---:|---:|---|');
  for (const r of access) {
    const none = access.find((x) => x.route === r.route) as AccessRow;
    console.log(
      `| ${r.route} | ${r.variant} | ${r.p50.toFixed(3)} | ${r.p95.toFixed(3)} | ${(r.p50 - none.p50).toFixed(3)} | ${JSON.stringify(r.statuses)} |`,
    );
  }
}
if (load) console.log(`\nload: ${JSON.stringify(load)}`);
stop();
process.exit(0);
