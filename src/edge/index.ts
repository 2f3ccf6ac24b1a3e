/**
 * Worker entry: every handler the Worker has. The Hono app (./app.ts) answers HTTP requests.
 */
import { app } from './app';
import type { Env } from './env';

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
