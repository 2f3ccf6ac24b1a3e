#!/usr/bin/env node
// `npm start`: the whole stack locally. Starts the encoder function (koclip-tiny on CPU), seeds
// wrangler dev's local R2/KV with the demo index, then runs the Worker with `wrangler dev`.
// Ctrl-C stops everything. Ports: WORKER_PORT (8787), ENCODER_PORT (8788).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

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
npm(['encoder'], { ENCODER_PORT: encoderPort, ENCODER_TOKEN: vars.ENCODER_TOKEN ?? '' });
await waitFor(`http://127.0.0.1:${encoderPort}/healthz`, 60);

log('seeding the demo index into wrangler dev local storage');
const seed = spawnSync('npm', ['run', '--silent', 'seed:demo'], { cwd: root, stdio: 'inherit' });
if (seed.status !== 0) {
  log('seeding failed');
  stop(1);
} else {
  log(`starting the Worker on http://127.0.0.1:${workerPort}`);
  npm([
    'dev:worker',
    '--',
    '--port',
    workerPort,
    '--ip',
    '127.0.0.1',
    '--var',
    `ENCODER_URL:http://127.0.0.1:${encoderPort}`,
  ]);
  await waitFor(`http://127.0.0.1:${workerPort}/healthz`, 120);
  const q = encodeURIComponent('빨간 원');
  log('ready.');
  log(`  search:   curl 'http://127.0.0.1:${workerPort}/v1/search?q=${q}&k=5'`);
  log(`  API docs: http://127.0.0.1:${workerPort}/docs`);
  log('Ctrl-C stops the stack.');
}
