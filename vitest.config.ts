import { defineConfig } from 'vitest/config';

// Tests import workspace packages from their TypeScript sources (the "edgefleet:source"
// export condition), so `npm test` needs no build first.
export default defineConfig({
  resolve: { conditions: ['edgefleet:source'] },
  ssr: { resolve: { conditions: ['edgefleet:source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test-support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
