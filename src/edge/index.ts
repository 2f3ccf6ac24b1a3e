/**
 * Worker entry: every handler the Worker has. The Hono app (./app.ts) answers HTTP requests;
 * the Durable Object classes are exported by name for wrangler.toml's bindings.
 */
import { app } from './app';
import type { Env } from './env';

export { IndexWriter } from './index-writer/writer';

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
