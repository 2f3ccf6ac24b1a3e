// Types `env` from 'cloudflare:workers' in tests as the Worker's own Env (wrangler.toml bindings).
import type { Env as WorkerEnv } from '../../src/edge/env';

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
  }
}
