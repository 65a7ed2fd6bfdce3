import { defineConfig } from 'vitest/config';

// Three tiers, as vitest projects (`npm run test:unit`, `test:integration`, `test:e2e`;
// `npm test` runs all three):
// - unit: pure tests next to their package, mirroring the source path
//   (packages/P/test/a/b.test.ts for packages/P/src/a/b.ts). No process, no socket, no
//   external service, no wall-clock sleep; test-support/unit-guard.ts enforces the first two.
// - integration: real servers and agents on loopback, PostgreSQL, Prometheus, child
//   processes: packages/P/test/**/*.integration.test.ts and test/integration/**.
// - e2e: Chromium, kill -9, the simulator scenario: test/e2e/**.
// Tests import workspace packages from their TypeScript sources (the "edgefleet:source"
// export condition, inherited by every project), so no build is needed first.
// bench/gates: the pure pieces of `npm run bench:gates` that decide its figures.
const unitFiles = ['packages/*/test/**/*.test.ts', 'packages/*/test/**/*.test.tsx', 'bench/gates/**/*.test.ts'];
const notUnit = ['**/*.integration.test.ts', '**/*.integration.test.tsx', '**/*.e2e.test.ts', '**/*.e2e.test.tsx'];

export default defineConfig({
  resolve: { conditions: ['edgefleet:source'] },
  ssr: { resolve: { conditions: ['edgefleet:source'] } },
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: unitFiles,
          exclude: ['**/node_modules/**', ...notUnit],
          setupFiles: ['./test-support/unit-guard.ts'],
          // Pure tests share one module graph per worker: the tier takes a third of the CPU
          // time it takes with a fresh graph per file. A test that mocks a module loads what
          // uses the mock after vi.resetModules() (see artifacts/store.disk-full.test.ts).
          pool: 'threads',
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.integration.test.ts', 'packages/*/test/**/*.integration.test.tsx', 'test/integration/**/*.test.ts'],
          // Provides the folder through which test files start one PostgreSQL on first use
          // (test-support/shared-postgres.ts), and stops it at the end of the run.
          globalSetup: ['./test-support/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['packages/*/test/**/*.e2e.test.ts', 'packages/*/test/**/*.e2e.test.tsx', 'test/e2e/**/*.test.ts'],
        },
      },
    ],
  },
});
