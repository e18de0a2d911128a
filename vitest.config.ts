import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The full-length reliability suites run with `npm run test:stress` (vitest.stress.config.ts).
    exclude: [...configDefaults.exclude, 'test/stress/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: e2e suites start daemons and Bazel servers; keep them from fighting.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
