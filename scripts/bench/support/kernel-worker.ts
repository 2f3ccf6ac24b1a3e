/**
 * Starts the search-kernel bench Worker (scripts/bench/workerd-kernel) under `wrangler dev` on
 * `port`, through the local-stack launcher: a fresh workerd isolate per start. Used by
 * bench:kernel, bench:search-route and bench:wasm-peak.
 */
import { startWorker } from '../../stack/index';

export async function startKernelWorker(port: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const worker = await startWorker({
    config: 'scripts/bench/workerd-kernel/wrangler.toml',
    port: Number(port),
    // It has no /healthz: any answer means it is up.
    healthPath: false,
    timeoutMs: 60_000,
  });
  return { url: worker.url, stop: worker.stop };
}
