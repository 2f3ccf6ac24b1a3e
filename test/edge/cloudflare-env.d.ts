// Types `env` and `exports` from 'cloudflare:workers' in tests as the Worker's own (wrangler.toml).
import type { Env as WorkerEnv } from '../../src/edge/env';

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
    interface GlobalProps {
      mainModule: typeof import('../../src/edge/worker');
    }
  }
}
