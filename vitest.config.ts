import { defineConfig } from 'vitest/config';

// Two projects: code that runs inside workerd (edge Worker, core) goes through the Workers
// vitest plugin; the encoder function, the model package checks, the build checks and the
// end-to-end tests of the whole stack run on Node.
export default defineConfig({
  test: {
    // Two files at a time, also on 2 cores (vitest's default there is one): the end-to-end files
    // spend most of their time waiting on the processes they start (wrangler dev, the encoder,
    // Chromium) and on queue batches, so a second file runs meanwhile. CI time, not a speed test.
    maxWorkers: 2,
    projects: [
      // Workers project (its own file; vitest only auto-detects names starting with "vitest").
      { extends: './test/workers.vitest.config.ts' },
      {
        test: {
          name: 'node',
          include: [
            'test/encoder/**/*.test.ts',
            'test/model/**/*.test.ts',
            'test/build/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          environment: 'node',
          globalSetup: ['./test/e2e/support/leftover-groups.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
