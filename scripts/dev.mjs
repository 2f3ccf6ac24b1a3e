#!/usr/bin/env node
// `npm start`: the whole stack locally. Starts the encoder function (koclip-tiny on CPU), then the
// Worker with `wrangler dev` (local Queue, R2, KV and Durable Objects under .wrangler/), then seeds
// the demo set through the one write path: `npm run seed:demo` uploads each demo image with its
// metadata and caption (the Worker's queue consumer embeds them through the encoder) and waits
// until they are indexed; images already indexed with the same bytes and metadata are skipped, so
// a restart re-seeds nothing. Ctrl-C stops everything. Ports: WORKER_PORT (8787), ENCODER_PORT (8788);
// PERSIST_TO: wrangler dev's state directory (default .wrangler/state).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const startedAt = Date.now();
const root = join(import.meta.dirname, '..');
const workerPort = process.env.WORKER_PORT ?? '8787';
const encoderPort = process.env.ENCODER_PORT ?? '8788';
const children = [];

function log(msg) {
  console.log(`[dev] ${msg}`);
}

function stop(code = 0) {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 500).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

function npm(args, env = {}) {
  const child = spawn('npm', ['run', '--silent', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (signal === null && code !== 0) {
      log(`npm run ${args[0]} exited with ${code}; stopping`);
      stop(code ?? 1);
    }
  });
  return child;
}

async function waitFor(url, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${url} did not answer within ${seconds} s`);
}

const devVars = join(root, '.dev.vars');
if (!existsSync(devVars)) {
  copyFileSync(join(root, '.dev.vars.example'), devVars);
  log('wrote .dev.vars from .dev.vars.example (local tokens)');
}
const vars = Object.fromEntries(
  readFileSync(devVars, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

log(`starting the encoder function on 127.0.0.1:${encoderPort}`);
// Locally the encoder may fetch image URLs on this machine (the demo page's /demo/images, a local
// image server): loopback is allowed here only; production keeps the SSRF guard's default.
npm(['encoder'], {
  ENCODER_PORT: encoderPort,
  ENCODER_TOKEN: vars.ENCODER_TOKEN ?? '',
  ENCODER_URL_ALLOWLIST: process.env.ENCODER_URL_ALLOWLIST ?? '127.0.0.1',
});
await waitFor(`http://127.0.0.1:${encoderPort}/healthz`, 60);

log(`starting the Worker on http://127.0.0.1:${workerPort}`);
// While the demo set is seeded, wrangler's access log of every upload and status poll (and of the
// queue batches) would scroll over the progress bar: those lines are counted, not printed.
let seeding = true;
let quieted = 0;
const QUIET = /\[wrangler:info\] (?:(?:GET|PUT|POST|DELETE) \/v1\/(?:images|index|webhooks)|QUEUE)/;
const worker = spawn(
  'npm',
  [
    'run',
    '--silent',
    'dev:worker',
    '--',
    '--port',
    workerPort,
    '--ip',
    '127.0.0.1',
    '--show-interactive-dev-session=false',
    ...(process.env.PERSIST_TO ? ['--persist-to', process.env.PERSIST_TO] : []),
    '--var',
    `ENCODER_URL:http://127.0.0.1:${encoderPort}`,
  ],
  { cwd: root, env: process.env, stdio: ['inherit', 'pipe', 'pipe'] },
);
children.push(worker);
worker.on('exit', (code, signal) => {
  if (signal === null && code !== 0) {
    log(`npm run dev:worker exited with ${code}; stopping`);
    stop(code ?? 1);
  }
});
for (const [from, to] of [
  [worker.stdout, process.stdout],
  [worker.stderr, process.stderr],
]) {
  let rest = '';
  from.on('data', (chunk) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (seeding && QUIET.test(line)) quieted++;
      else to.write(`${line}\n`);
    }
  });
}
await waitFor(`http://127.0.0.1:${workerPort}/healthz`, 180);

log('seeding the demo set through the index path (uploads -> queue -> encoder -> index writer)');
// Asynchronous, so that the Worker's output keeps flowing (and being filtered) meanwhile.
const seed = spawn(
  'npm',
  [
    'run',
    '--silent',
    'seed:demo',
    '--',
    '--url',
    `http://127.0.0.1:${workerPort}`,
    '--token',
    vars.ADMIN_TOKEN ?? '',
  ],
  { cwd: root, stdio: 'inherit' },
);
children.push(seed);
const seedStatus = await new Promise((resolve) => seed.once('exit', (code) => resolve(code)));
seeding = false;
if (quieted) log(`(${quieted} access-log lines of the seeding were not shown)`);
if (seedStatus !== 0) {
  log('seeding did not finish (see above); the stack keeps running; `npm run seed:demo` tries again');
}
const q = encodeURIComponent('빨간 원');
// One query compiles the text tower's wasm and creates its session, so the first search a person
// types answers at once.
try {
  await fetch(`http://127.0.0.1:${workerPort}/v1/search?q=${q}&k=1`);
} catch {
  // the stack still serves; the first real query warms it instead
}
log(`ready after ${((Date.now() - startedAt) / 1000).toFixed(1)} s.`);
log(`  demo page: http://127.0.0.1:${workerPort}/`);
log(`  search:   curl 'http://127.0.0.1:${workerPort}/v1/search?q=${q}&k=5'`);
log(`  API docs: http://127.0.0.1:${workerPort}/docs`);
log(`  index:    npm run index -- <folder | urls.txt | items.jsonl> --url http://127.0.0.1:${workerPort}`);
log('Ctrl-C stops the stack.');
