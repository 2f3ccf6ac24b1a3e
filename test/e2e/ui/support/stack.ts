/**
 * The running stack for the browser tests: the real encoder process (started by scripts/stack)
 * behind a loopback TCP proxy that a test can switch off (the "encoder down" state without
 * restarting anything), the demo index seeded by scripts/seed-demo-index.ts, `wrangler dev` serving the built page (build/ui,
 * `npm run build:ui`) and the API, and headless Chromium (Debian's package, driven by
 * playwright-core).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import {
  type EncoderProcess,
  ROOT,
  STACK_ENCODER,
  STACK_SECRETS,
  STACK_VARS,
  startEncoder,
  startWorker,
  TS_RUNNER,
  type WorkerProcess,
} from '../../../../scripts/stack/index';

export { ROOT, STACK_SECRETS };

/** Where the tests leave their screenshots (gitignored; a few are copied into docs/screenshots). */
export const ARTIFACTS = join(ROOT, 'test-artifacts/ui');

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];

/** A TCP proxy to `target` that refuses every connection while `down` is set. */
export interface SwitchableProxy {
  url: string;
  setDown: (down: boolean) => void;
  close: () => Promise<void>;
}

export async function startProxy(targetPort: number): Promise<SwitchableProxy> {
  let down = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (down) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    setDown: (value) => {
      down = value;
      // Open keep-alive connections would still reach the encoder: cut them.
      if (value) for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs the seed script without blocking: the encoder proxy lives in this process. */
function seed(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(TS_RUNNER, ['scripts/seed-demo-index.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`seed failed (${code}): ${out}`))));
  });
}

export interface UiStack {
  base: string;
  browser: Browser;
  encoderProxy: SwitchableProxy;
  worker: WorkerProcess;
  stop: () => Promise<void>;
}

export async function startUiStack(): Promise<UiStack> {
  if (!existsSync(join(ROOT, 'build/ui/index.html'))) {
    throw new Error('build/ui is missing: run `npm run build:ui` first (npm test does)');
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const persist = mkdtempSync(join(tmpdir(), 'e2e-ui-'));
  let encoder: EncoderProcess | undefined;
  let proxy: SwitchableProxy | undefined;
  let worker: WorkerProcess | undefined;
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close();
    await worker?.stop();
    await proxy?.close();
    await encoder?.stop();
    rmSync(persist, { recursive: true, force: true });
  };
  try {
    // Two halves, not a supervised stack: the Worker reaches the encoder through the proxy.
    encoder = await startEncoder({ ...STACK_ENCODER, threads: 1 });
    proxy = await startProxy(Number(new URL(encoder.url).port));
    // The seed either writes wrangler's local state before the Worker starts (--persist-to) or
    // uploads through the running Worker (--url): whichever the script in this checkout takes.
    const seedScript = readFileSync(join(ROOT, 'scripts/seed-demo-index.ts'), 'utf8');
    const throughWorker = !seedScript.includes("'persist-to'");
    if (!throughWorker) await seed(['--persist-to', persist]);
    worker = await startWorker({ persist, vars: { ...STACK_VARS, ENCODER_URL: proxy.url } });
    if (throughWorker) {
      await seed(['--url', worker.url, '--token', STACK_SECRETS.ADMIN_TOKEN, '--progress', 'none']);
    }
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
    return { base: worker.url, browser, encoderProxy: proxy, worker, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
