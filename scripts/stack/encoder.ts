/**
 * The encoder function of a local stack: `src/encoder/main.ts` through scripts/ts, in its own
 * process group, ready once it prints the line that names its address ("listening on"), which
 * also gives the port when it was asked for any (port 0). The settings are the encoder's
 * environment (src/encoder/config.ts): the common ones as options, any other in `env`.
 */

import type { LogMode } from './output';
import { ROOT, TS_RUNNER } from './paths';
import { type GroupExit, type ProcessGroup, spawnGroup } from './process-group';

export interface EncoderOptions {
  /** Bearer token the encoder asks for (ENCODER_TOKEN). */
  token: string;
  /** 0 (the default): any free port, read from the line the encoder prints when it listens. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** onnxruntime intra-op threads per runner (ENCODER_THREADS); unset: the encoder's default. */
  threads?: number;
  /** Hosts the encoder may fetch image URLs from despite its SSRF guard (ENCODER_URL_ALLOWLIST). */
  urlAllowlist?: string;
  /** Any other ENCODER_* setting (ENCODER_MODELS_DIR, ENCODER_MODELS, ENCODER_BATCH_SIZE...). */
  env?: Record<string, string>;
  /** Start from this process's environment (`npm start`); default: PATH only, so that a developer's
   * ENCODER_* variables do not leak into tests and benches. */
  inheritEnv?: boolean;
  /** Default `capture`. */
  logs?: LogMode;
  /** How long to wait for the "listening on" line (default 60 s). */
  timeoutMs?: number;
}

/** A started encoder process. */
export interface EncoderProcess {
  /** http://host:port it listens on. */
  url: string;
  token: string;
  /** Its pid (also its process group's id). */
  pid: number;
  /** Resolves when the process exits (whoever ended it). */
  exited: Promise<GroupExit>;
  /** Everything it wrote to stdout and stderr so far. */
  logs: () => string;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and resolves once it is gone. */
  stop: () => Promise<void>;
  /** The process group (for supervision). */
  group: ProcessGroup;
}

/** Starts the encoder and waits until it listens; rejects with its output if it exits or stays silent. */
export async function startEncoder(options: EncoderOptions): Promise<EncoderProcess> {
  const env: Record<string, string | undefined> = {
    ...(options.inheritEnv ? process.env : { PATH: process.env.PATH ?? '' }),
    ENCODER_HOST: options.host ?? '127.0.0.1',
    ENCODER_PORT: String(options.port ?? 0),
    ENCODER_TOKEN: options.token,
    ...(options.threads === undefined ? {} : { ENCODER_THREADS: String(options.threads) }),
    ...(options.urlAllowlist === undefined ? {} : { ENCODER_URL_ALLOWLIST: options.urlAllowlist }),
    ...options.env,
  };
  const group = spawnGroup(TS_RUNNER, ['src/encoder/main.ts'], {
    cwd: ROOT,
    env,
    logs: options.logs ?? 'capture',
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const url = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    const onData = () => {
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(group.logs());
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    group.child.stdout?.on('data', onData);
    group.child.stderr?.on('data', onData);
    void group.exited.then(() => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  if (!url) {
    const exit = group.exit();
    await group.stop();
    throw new Error(
      exit
        ? `encoder exited with ${exit.code ?? exit.signal}:\n${group.logs()}`
        : `encoder did not listen within ${timeoutMs / 1000} s:\n${group.logs()}`,
    );
  }
  return {
    url,
    token: options.token,
    pid: group.pid,
    exited: group.exited,
    logs: group.logs,
    stop: () => group.stop(),
    group,
  };
}
