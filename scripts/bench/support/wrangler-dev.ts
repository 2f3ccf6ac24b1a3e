/**
 * `wrangler dev` for the benchmarks: local workerd with DEBUG_ROUTES=1 and local R2/KV in a
 * throwaway folder, objects put into the local R2 before it starts, stopped (and the folder
 * removed) on stop() or when the process exits. One fresh isolate per start.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../../..', import.meta.url).pathname;
// Run by this Node (22): the .bin shim would pick the first `node` on PATH.
const WRANGLER_JS = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

export interface LocalWorker {
  base: string;
  pid: number;
  persist: string;
  /** Milliseconds from spawn to the first healthy /healthz. */
  startupMs: number;
  stop(): void;
}

/** Puts a file into a bucket of the local R2 under `persist` (the bucket's name, not binding). */
export function putLocalObject(persist: string, bucket: string, key: string, file: string): void {
  const r = spawnSync(
    process.execPath,
    [
      WRANGLER_JS,
      'r2',
      'object',
      'put',
      `${bucket}/${key}`,
      '--file',
      file,
      '--local',
      '--persist-to',
      persist,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`wrangler r2 object put ${key} failed: ${r.stderr}`);
}

export function newPersistDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startWorker(options: {
  port: number;
  persist: string;
  vars?: Record<string, string>;
  keepPersist?: boolean;
}): Promise<LocalWorker> {
  const vars = { DEBUG_ROUTES: '1', ...options.vars };
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(options.port), '--persist-to', options.persist];
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  args.push('--show-interactive-dev-session=false', '--log-level', 'warn');
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [WRANGLER_JS, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    if (!options.keepPersist) rmSync(options.persist, { recursive: true, force: true });
  };
  process.on('exit', stop);
  const base = `http://127.0.0.1:${options.port}`;
  for (let i = 0; i < 360; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) {
        return {
          base,
          pid: child.pid as number,
          persist: options.persist,
          startupMs: performance.now() - started,
          stop,
        };
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  stop();
  throw new Error('wrangler dev did not come up within 90 s');
}

/** Waits until the process tree of `pid` has exited. */
export async function waitExit(worker: LocalWorker): Promise<void> {
  worker.stop();
  for (let i = 0; i < 40; i++) {
    try {
      process.kill(worker.pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function postJson<T>(base: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} -> ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** p-th percentile (0-100) of a list, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Machine line for every figure: CPU model, cores, load average at the time. */
export async function machine(): Promise<{ cpu: string; cores: number; load: number[]; at: string }> {
  const os = await import('node:os');
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    load: os.loadavg().map((l) => Math.round(l * 10) / 10),
    at: new Date().toISOString(),
  };
}
