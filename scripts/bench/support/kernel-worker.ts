/**
 * Starts the search-kernel bench Worker (scripts/bench/workerd-kernel) under `wrangler dev` on
 * `port`: a fresh workerd isolate per start. Used by bench:kernel and bench:search-route.
 */
import { spawn } from 'node:child_process';

export async function startKernelWorker(port: string): Promise<{ url: string; stop: () => void }> {
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'npx',
    [
      'wrangler',
      'dev',
      '-c',
      'scripts/bench/workerd-kernel/wrangler.toml',
      '--port',
      port,
      '--ip',
      '127.0.0.1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let log = '';
  child.stdout.on('data', (b) => (log += b));
  child.stderr.on('data', (b) => (log += b));
  for (let i = 0; i < 120; i++) {
    await new Promise((r) => setTimeout(r, 500));
    if (log.includes('Ready on')) return { url, stop: () => process.kill(-(child.pid as number), 'SIGTERM') };
    if (child.exitCode !== null) break;
  }
  process.kill(-(child.pid as number), 'SIGTERM');
  throw new Error(`wrangler dev did not start:\n${log}`);
}
