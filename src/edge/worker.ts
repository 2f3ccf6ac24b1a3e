/**
 * Worker entry: every handler the Worker has. The Hono app (./app.ts) answers HTTP requests;
 * the queue consumer (./queue/consumer.ts) takes `koclip-index` and its dead-letter queue; the
 * Durable Object classes are exported by name for wrangler.toml's bindings.
 */
import { app } from './app';
import type { Env } from './env';
import { handleDeadLetters, handleIndexBatch } from './queue/consumer';

export { KeyRegistry, UsageCounter } from './access';
export { CollectionManager } from './collections';
export { IndexWriter } from './index';
export { ReplayGuard } from './ingest/replay-guard';
export { SearchShard } from './search/shards';

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    if (batch.queue === 'koclip-index-dlq') return handleDeadLetters(batch, env);
    return handleIndexBatch(batch, env);
  },
} satisfies ExportedHandler<Env>;
