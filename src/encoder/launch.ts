/**
 * Starts the encoder (`src/encoder/main.ts`) as a child process and waits for the line that
 * names its address, for the tests and the throughput benchmark. `npm run encoder` runs the same
 * command in the foreground.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LaunchedEncoder {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  logs: () => string;
  /** SIGTERM, resolved when the process has exited. */
  stop: () => Promise<void>;
}

/** Spawns the encoder with exactly `env`; rejects with its output if it exits or stays silent. */
export async function launchEncoder(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<LaunchedEncoder> {
  const child = spawn(
    process.execPath,
    [
      '--experimental-transform-types',
      '--disable-warning=ExperimentalWarning',
      '--import',
      './src/encoder/ts-hooks.mjs',
      'src/encoder/main.ts',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`encoder did not start:\n${output}`)), timeoutMs);
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
    child,
    logs: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
