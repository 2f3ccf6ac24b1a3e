/**
 * The Worker of a local stack: `wrangler dev` (local workerd with miniflare's Queue, R2, KV, Durable
 * Objects, Cache and the static assets of wrangler.toml) run as a subprocess in its own process
 * group, ready once its health path answers. State lives in `persist` (a fresh temporary folder,
 * removed on stop, when none is given); vars and secrets go in as `--var` (they win over
 * wrangler.toml's [vars] and .dev.vars).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogMode } from './output';
import { NODE, ROOT } from './paths';
import { freePort } from './ports';
import { type GroupExit, type ProcessGroup, spawnGroup } from './process-group';

const WRANGLER_JS = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const BUILD_FAILED = /Build failed with \d+ error/;

export interface WorkerOptions {
  /** 0 or unset: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  ip?: string;
  /** wrangler's state folder (--persist-to); unset: a fresh temporary folder, removed on stop. */
  persist?: string;
  /** A wrangler config other than the repository's wrangler.toml (a bench Worker). */
  config?: string;
  /** Vars and secrets (`--var NAME:value`). */
  vars?: Record<string, string>;
  /** DEBUG_ROUTES=1: the Worker's /debug routes (the benches read them). */
  debugRoutes?: boolean;
  /** wrangler's --log-level (its default: log, with an access-log line per request). */
  logLevel?: 'debug' | 'info' | 'log' | 'warn' | 'error' | 'none';
  /** Default `capture`. */
  logs?: LogMode;
  /** Path that answers 2xx once the Worker is up (default /healthz); false: any HTTP answer on /. */
  healthPath?: string | false;
  /** How long to wait for it (default 180 s). */
  timeoutMs?: number;
}

/** A started `wrangler dev`. */
export interface WorkerProcess {
  /** http://ip:port */
  url: string;
  /** wrangler's pid (also the id of the process group that holds workerd and esbuild). */
  pid: number;
  persist: string;
  /** Milliseconds from the spawn to the first healthy answer. */
  startupMs: number;
  /** Resolves when wrangler exits (whoever ended it). */
  exited: Promise<GroupExit>;
  logs: () => string;
  /** Stops wrangler, workerd and esbuild (SIGTERM, SIGKILL after 5 s), then removes a temporary
   * persist folder; resolves once none of them is left. */
  stop: () => Promise<void>;
  group: ProcessGroup;
}

const ADDRESS_IN_USE = /Address already in use/;

/**
 * Starts `wrangler dev` and waits until it answers; rejects with its output if it exits or times
 * out. A port this function chose itself can be taken by another process between the choice and
 * wrangler's bind (two test files start stacks at once): then it tries again on another port, up
 * to three times.
 */
export async function startWorker(options: WorkerOptions = {}): Promise<WorkerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWorkerOnce(options, options.port || (await freePort()));
    } catch (error) {
      const raced = !options.port && attempt < 3 && ADDRESS_IN_USE.test((error as Error).message);
      if (!raced) throw error;
    }
  }
}

async function startWorkerOnce(options: WorkerOptions, port: number): Promise<WorkerProcess> {
  const ip = options.ip ?? '127.0.0.1';
  const ownPersist = options.persist === undefined;
  const persist = options.persist ?? mkdtempSync(join(tmpdir(), 'koclip-stack-'));
  // A local stack is the demo: read routes anonymous and no burst limits (AUTH_MODE and
  // RATE_LIMITS from this process's environment win, then the caller's vars).
  const access = {
    AUTH_MODE: process.env.AUTH_MODE === 'keys' ? 'keys' : 'open',
    RATE_LIMITS: process.env.RATE_LIMITS === 'on' ? 'on' : 'off',
  };
  // wrangler dev runs every search shard in one workerd isolate, without the 128 MB limit of a
  // deployed one: the shards of a large local index keep their kernels side by side there, and
  // after a restart reload one after another (seconds for a million rows, not the fraction of a
  // second of shards reloading in parallel), so a shard call may take longer than deployed.
  const shards = {
    SHARD_ISOLATE_KERNEL_MIB: process.env.SHARD_ISOLATE_KERNEL_MIB || '4096',
    SHARD_TIMEOUT_MS: process.env.SHARD_TIMEOUT_MS || '30000',
    SEARCH_BUDGET_MS: process.env.SEARCH_BUDGET_MS || '60000',
  };
  const vars = {
    ...access,
    ...shards,
    ...(options.debugRoutes ? { DEBUG_ROUTES: '1' } : {}),
    ...options.vars,
  };
  const args = [
    WRANGLER_JS,
    'dev',
    ...(options.config ? ['--config', options.config] : []),
    '--ip',
    ip,
    '--port',
    String(port),
    '--persist-to',
    persist,
    '--show-interactive-dev-session=false',
    ...(options.logLevel ? ['--log-level', options.logLevel] : []),
    ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
  ];
  const started = performance.now();
  const group = spawnGroup(NODE, args, { cwd: ROOT, env: process.env, logs: options.logs ?? 'capture' });
  const stop = async () => {
    await group.stop();
    if (ownPersist) rmSync(persist, { recursive: true, force: true });
  };
  const url = `http://${ip}:${port}`;
  const health = options.healthPath === false ? '/' : (options.healthPath ?? '/healthz');
  const timeoutMs = options.timeoutMs ?? 180_000;
  const deadline = Date.now() + timeoutMs;
  // wrangler dev watches the sources: after a failed build it waits for the next edit instead of
  // exiting, and requests wait with it. At start that is an error to report, not to wait out.
  while (!group.exit() && Date.now() < deadline && !BUILD_FAILED.test(group.logs())) {
    try {
      const response = await fetch(`${url}${health}`);
      await response.arrayBuffer();
      if (response.ok || options.healthPath === false) {
        return {
          url,
          pid: group.pid,
          persist,
          startupMs: performance.now() - started,
          exited: group.exited,
          logs: group.logs,
          stop,
          group,
        };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const exit = group.exit();
  await stop();
  const why = exit
    ? `exited with ${exit.code ?? exit.signal}`
    : BUILD_FAILED.test(group.logs())
      ? 'could not build the Worker'
      : `did not answer ${health} within ${timeoutMs / 1000} s`;
  throw new Error(`wrangler dev ${why}:\n${group.logs()}`);
}
