/**
 * `npm start`: the whole stack locally. Starts the encoder function (koclip-tiny on CPU), then the
 * Worker under `wrangler dev` (local Queue, R2, KV and Durable Objects), then seeds the demo set
 * through the one write path: scripts/seed-demo-index.ts uploads each demo image with its metadata
 * and caption (the Worker's queue consumer embeds them through the encoder) and waits until they
 * are indexed; images already indexed with the same bytes and metadata are skipped, so a restart
 * re-seeds nothing. Then one search warms the text tower and the ready lines are printed.
 *
 * Environment: WORKER_PORT (8787), ENCODER_PORT (8788; 0 for either: any free port), PERSIST_TO (wrangler dev's state folder,
 * default .wrangler/state), ENCODER_URL_ALLOWLIST (default 127.0.0.1: locally the encoder may fetch
 * image URLs on this machine), any other ENCODER_* setting. Secrets come from .dev.vars (copied
 * from .dev.vars.example when missing). `--no-seed` skips the demo set.
 *
 * If the encoder or the Worker ends (a crash, a `kill -9`), the other is stopped and this exits
 * non-zero; Ctrl-C (SIGINT) or SIGTERM stops both and exits 130 or 143. Nothing of either process
 * group is left behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { readDevVars } from '../index/dev-vars';
import { ROOT, TS_RUNNER } from './paths';
import { stopAllGroups } from './process-group';
import { startStack } from './stack';

const startedAt = Date.now();
const log = (message: string) => console.log(`[dev] ${message}`);

// 0: any free port (the tests' launches; startWorker then tries again if the port is taken).
const port = z.coerce.number().int().min(0).max(65535);
const parsedEnv = z
  .object({
    WORKER_PORT: port.default(8787),
    ENCODER_PORT: port.default(8788),
    PERSIST_TO: z.string().min(1).default(join(ROOT, '.wrangler/state')),
    ENCODER_URL_ALLOWLIST: z.string().default('127.0.0.1'),
  })
  .safeParse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== '')));
if (!parsedEnv.success) {
  for (const issue of parsedEnv.error.issues) log(`${issue.path.join('.')}: ${issue.message}`);
  process.exit(2);
}
const env = parsedEnv.data;
const { values: args } = parseArgs({ options: { 'no-seed': { type: 'boolean', default: false } } });

let seed: ChildProcess | undefined;
let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  seed?.kill('SIGTERM');
  await stopAllGroups();
  process.exit(code);
}
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    if (!stopping) log(`${signal}: stopping the stack`);
    void shutdown(code);
  });
}

const devVarsFile = join(ROOT, '.dev.vars');
if (!existsSync(devVarsFile)) {
  copyFileSync(join(ROOT, '.dev.vars.example'), devVarsFile);
  log('wrote .dev.vars from .dev.vars.example (local tokens)');
}
const vars = readDevVars();

// While the demo set is seeded, wrangler's access log of every upload and status poll (and of the
// queue batches) would scroll over the progress bar: those lines are counted, not printed.
let seeding = false;
let quieted = 0;
const QUIET = /\[wrangler:info\] (?:(?:GET|PUT|POST|DELETE) \/v1\/(?:images|index|webhooks)|QUEUE)/;

const where = (p: number) => (p ? `127.0.0.1:${p}` : '127.0.0.1 (a free port)');
log(
  `starting the encoder function on ${where(env.ENCODER_PORT)}, then the Worker on ${where(env.WORKER_PORT)}`,
);
const stack = await startStack({
  encoder: {
    port: env.ENCODER_PORT,
    token: vars.ENCODER_TOKEN ?? '',
    urlAllowlist: env.ENCODER_URL_ALLOWLIST,
    inheritEnv: true,
    logs: 'inherit',
  },
  worker: {
    port: env.WORKER_PORT,
    persist: env.PERSIST_TO,
    logs: (line) => {
      if (seeding && QUIET.test(line)) {
        quieted++;
        return false;
      }
      return true;
    },
  },
}).catch((error: unknown): Promise<never> => {
  if (stopping) return new Promise(() => {}); // a signal's shutdown is under way
  console.error(error instanceof Error ? error.message : error);
  log('the stack did not start');
  return shutdown(1);
});
log(
  `encoder function up (pid ${stack.encoder.pid}, ${stack.encoder.url}); Worker up (wrangler dev, pid ${stack.worker.pid}, ${stack.worker.url})`,
);
void stack.exited.then((exit) => {
  if (stopping) return;
  const name = exit.process === 'encoder' ? 'the encoder function' : 'the Worker (wrangler dev)';
  log(`${name} exited (${exit.signal ?? `code ${exit.code}`}); the rest of the stack is stopped`);
  void shutdown(exit.code || 1);
});
const base = stack.worker.url;

if (!args['no-seed']) {
  log('seeding the demo set through the index path (uploads -> queue -> encoder -> index writer)');
  seeding = true;
  // Asynchronous, so that the Worker's output keeps flowing (and being filtered) meanwhile.
  seed = spawn(TS_RUNNER, ['scripts/seed-demo-index.ts', '--url', base, '--token', vars.ADMIN_TOKEN ?? ''], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const seedStatus = await new Promise((resolve) => seed?.once('exit', (code) => resolve(code)));
  seeding = false;
  if (quieted) log(`(${quieted} access-log lines of the seeding were not shown)`);
  if (seedStatus !== 0 && !stopping) {
    log('seeding did not finish (see above); the stack keeps running; `npm run seed:demo` tries again');
  }
}
const q = encodeURIComponent('빨간 원');
// One query compiles the text tower's wasm and creates its session, so the first search a person
// types answers at once.
try {
  await (await fetch(`${base}/v1/search?q=${q}&k=1`)).arrayBuffer();
} catch {
  // the stack still serves; the first real query warms it instead
}
if (!stopping) {
  log(`ready after ${((Date.now() - startedAt) / 1000).toFixed(1)} s.`);
  log(`  demo page: ${base}/`);
  log(`  search:   curl '${base}/v1/search?q=${q}&k=5'`);
  log(`  API docs: ${base}/docs`);
  log(`  index:    npm run index -- <folder | urls.txt | items.jsonl> --url ${base}`);
  log('Ctrl-C stops the stack.');
}
