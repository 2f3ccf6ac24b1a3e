/**
 * Starts the real encoder process (`src/encoder/main.ts`) on a free loopback port for a test
 * file, with the settings the test needs, and stops it afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cosine } from '../../src/core/vector';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MODEL_DIR = `${ROOT}models/koclip-tiny/`;
export const TOKEN = 'test-token-0123456789';

export interface RunningEncoder {
  url: string;
  logs: () => string;
  stop: () => Promise<void>;
  /** fetch against the service with the bearer token (unless `auth: false`). */
  call: (path: string, init?: RequestInit & { auth?: boolean }) => Promise<Response>;
}

export async function startEncoder(env: Record<string, string> = {}): Promise<RunningEncoder> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--experimental-transform-types',
      '--disable-warning=ExperimentalWarning',
      '--import',
      './src/encoder/ts-hooks.mjs',
      'src/encoder/main.ts',
    ],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ENCODER_HOST: '127.0.0.1',
        ENCODER_PORT: '0',
        ENCODER_TOKEN: TOKEN,
        ENCODER_MODELS_DIR: `${ROOT}models`,
        ENCODER_MODELS: 'koclip-tiny',
        ENCODER_THREADS: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`encoder did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`encoder exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    logs: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
    call: (path, init = {}) => {
      const { auth = true, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (auth) headers.set('authorization', `Bearer ${TOKEN}`);
      return fetch(`${url}${path}`, { ...rest, headers });
    },
  };
}

export function readModelJson<T>(file: string): T {
  return JSON.parse(readFileSync(`${MODEL_DIR}${file}`, 'utf8')) as T;
}

export { cosine };

export interface EmbedAnswer {
  model: string;
  version: string;
  dim: number;
  data: Array<{
    index: number;
    embedding?: number[];
    sha256?: string;
    width?: number;
    height?: number;
    truncated?: boolean;
    error?: { code: string; message: string };
  }>;
}
