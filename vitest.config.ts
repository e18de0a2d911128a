import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: e2e suites start daemons and Bazel servers; keep them from fighting.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
