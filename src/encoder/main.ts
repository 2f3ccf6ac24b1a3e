/**
 * Starts the encoder function: configuration from the environment, the onnxruntime execution
 * provider, every model package, then the HTTP server. `npm run encoder`.
 */
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createApp } from './app';
import { loadConfig } from './config';
import { EncoderMetrics } from './http/metrics';
import { DecodePool } from './images/decode-pool';
import { UrlGuard } from './images/url-guard';
import { Embedder } from './inference/embedder';
import { QueryLane } from './inference/lanes';
import {
  type LoadedModel,
  listPackages,
  loadModelPackage,
  readImageTower,
  readManifest,
} from './inference/model-package';
import { OnnxRuntime } from './inference/runtime';

async function main(): Promise<void> {
  const config = loadConfig();
  const ids = config.models.length > 0 ? config.models : await listPackages(config.modelsDir);
  if (!ids.includes(config.defaultModel)) ids.unshift(config.defaultModel);
  const defaultDir = join(config.modelsDir, config.defaultModel);
  // Only CUDA needs a probe session (to see that its provider loads).
  const probe =
    config.provider === 'cuda' ? await readImageTower(defaultDir, await readManifest(defaultDir)) : undefined;
  const runtime = await OnnxRuntime.create(
    {
      provider: config.provider,
      cudaDevice: config.cudaDevice,
      threads: config.threads,
      runners: config.runners,
    },
    probe,
  );
  const models = new Map<string, LoadedModel>();
  for (const id of ids) {
    const model = await loadModelPackage(join(config.modelsDir, id), runtime, {
      textVariant: config.textVariant,
      imageVariant: config.imageVariant,
    });
    if (model.id !== id) throw new Error(`models/${id}: manifest id is ${model.id}`);
    models.set(id, model);
    console.log(
      `encoder: loaded ${model.id} ${model.version} (dim ${model.dim}, image ${model.imageVariant}, text ${model.textVariant})`,
    );
  }
  const metrics = new EncoderMetrics();
  for (const model of models.values()) metrics.modelLoaded(model);
  const pool = new DecodePool(config.decodeThreads);
  const queryLane = new QueryLane({ slots: config.lanes.querySlots, perClient: config.lanes.queryPerClient });
  const embedder = new Embedder(
    models,
    config.defaultModel,
    {
      maxBatch: config.batchSize,
      maxWaitMs: config.maxWaitMs,
      maxRuns: runtime.runners,
      maxPixels: config.limits.pixels,
      maxQueryPixels: config.limits.queryPixels,
      queryLane,
      fetch: { ...config.fetch, maxBytes: config.limits.imageBytes },
      pool,
    },
    metrics,
    new UrlGuard(config.fetch.allowList),
  );
  const app = createApp({
    config,
    embedder,
    metrics,
    runtime: runtime.info,
    startedAt: new Date(),
    queryLane,
  });
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
    // The line tests and the benchmark wait for (the port matters when ENCODER_PORT=0).
    console.log(
      `encoder: listening on http://${config.host}:${info.port} (provider ${runtime.info.active}, ` +
        `${config.runners} runners x ${config.threads || 'default'} intra-op threads, ${pool.size} decode threads, ` +
        `batch ${config.batchSize}, wait ${config.maxWaitMs} ms, ` +
        `query lane ${config.lanes.querySlots || 'off'} slots, ${config.lanes.queryPerClient || 'no cap'} per client)`,
    );
  });
  const stop = () => {
    server.close(() => void Promise.all([pool.close(), runtime.close()]).then(() => process.exit(0)));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`encoder: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
