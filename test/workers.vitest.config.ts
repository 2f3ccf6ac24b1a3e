import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// The edge Worker and the runtime-free core run inside workerd with the real local R2/KV/Cache
// bindings of wrangler.toml (miniflare). The first test of a file compiles ORT's 14 MB wasm.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: fileURLToPath(new URL('../wrangler.toml', import.meta.url)) },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: 'test-admin-token',
          // Two secrets: the receiving side of a rotation (tests sign with either).
          WEBHOOK_SECRET: 'whsec-test-current,whsec-test-previous',
          ENCODER_TOKEN: 'test-encoder-token',
          ENCODER_URL: 'http://encoder.test',
          DEBUG_ROUTES: '1',
          // Read routes anonymous, as most route tests call them; test/edge/access runs `keys`.
          AUTH_MODE: 'open',
        },
        // A small burst limit of its own for the limit tests (passed in as RATE_LIMIT there).
        ratelimits: { RATE_LIMIT_TEST: { namespace_id: '9001', simple: { limit: 3, period: 60 } } },
      },
    }),
  ],
  test: {
    name: 'workers',
    include: ['test/edge/**/*.test.ts', 'test/core/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 120_000,
  },
});
