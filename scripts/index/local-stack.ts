/**
 * The local stack for the indexing end-to-end tests and `npm run bench:index`: the real encoder
 * process (src/encoder/launch.ts), the Worker under `wrangler dev` (miniflare's local Queue, R2,
 * KV and Durable Objects, persisted in a directory of the caller's) pointed at it, and a loopback
 * HTTP server for the images that webhooks name by URL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LaunchedEncoder, launchEncoder } from '../../src/encoder/launch';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const STACK_SECRETS = {
  ADMIN_TOKEN: 'stack-admin-token-0123',
  WEBHOOK_SECRET: 'stack-webhook-secret-0123',
  ENCODER_TOKEN: 'stack-encoder-token-0123',
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The encoder on `port` (0: any), with the image URL allow-list for loopback image servers. */
export function startStackEncoder(port = 0, env: Record<string, string> = {}): Promise<LaunchedEncoder> {
  return launchEncoder({
    PATH: process.env.PATH ?? '',
    ENCODER_HOST: '127.0.0.1',
    ENCODER_PORT: String(port),
    ENCODER_TOKEN: STACK_SECRETS.ENCODER_TOKEN,
    ENCODER_MODELS_DIR: join(ROOT, 'models'),
    ENCODER_MODELS: 'koclip-tiny',
    ENCODER_URL_ALLOWLIST: '127.0.0.1',
    ...env,
  } as unknown as NodeJS.ProcessEnv);
}

export interface RunningWorker {
  url: string;
  child: ChildProcess;
  logs: () => string;
  stop: () => Promise<void>;
}

/** `wrangler dev` on a free port with local state in `persist`; `vars` are passed as --var. */
export async function startWorker(options: {
  persist: string;
  encoderUrl: string;
  vars?: Record<string, string>;
  timeoutS?: number;
}): Promise<RunningWorker> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ...STACK_SECRETS,
    ENCODER_URL: options.encoderUrl,
    ENCODER_TIMEOUT_MS: '30000',
    ...options.vars,
  };
  const child = spawn(
    join(ROOT, 'node_modules/.bin/wrangler'),
    [
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--persist-to',
      options.persist,
      '--show-interactive-dev-session=false',
      ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } },
  );
  let logs = '';
  const onData = (c: Buffer) => {
    logs += c.toString();
    if (logs.length > 4_000_000) logs = logs.slice(-2_000_000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  const deadline = Date.now() + (options.timeoutS ?? 180) * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${logs}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, child, logs: () => logs, stop };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await stop();
  throw new Error(`wrangler dev did not come up:\n${logs}`);
}

export interface ImageServer {
  url: string;
  /** Serves `bytes` at `/<name>` (`content-type` image/png unless given). */
  put: (name: string, bytes: Uint8Array, contentType?: string) => string;
  /** Requests served, by path. */
  hits: Map<string, number>;
  close: () => Promise<void>;
}

/** A loopback server for the images that webhook events name by URL; unknown paths are 404. */
export async function startImageServer(): Promise<ImageServer> {
  const files = new Map<string, { bytes: Uint8Array; type: string }>();
  const hits = new Map<string, number>();
  const server: Server = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const file = files.get(path);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': file.type, 'content-length': file.bytes.byteLength })
      .end(file.bytes);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    hits,
    put: (name, bytes, contentType = 'image/png') => {
      files.set(`/${name}`, { bytes, type: contentType });
      return `${url}/${name}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Embeddings of `pngs` straight from the encoder (batches of 32). */
export async function embedImages(encoderUrl: string, pngs: Uint8Array[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < pngs.length; i += 32) {
    const form = new FormData();
    for (const p of pngs.slice(i, i + 32))
      form.append('image', new Blob([p], { type: 'image/png' }), 'x.png');
    const response = await fetch(`${encoderUrl}/v1/embed/image`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${STACK_SECRETS.ENCODER_TOKEN}` },
    });
    if (!response.ok) throw new Error(`encoder answered ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as { data: { embedding?: number[]; error?: unknown }[] };
    for (const d of body.data) {
      if (!d.embedding) throw new Error(`encoder refused a generated image: ${JSON.stringify(d.error)}`);
      out.push(Float32Array.from(d.embedding));
    }
  }
  return out;
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}
