import { defineConfig } from 'vitest/config';

// The long reliability suites (issue 11): minutes of load, dozens of SIGKILLs,
// thousands of fuzz cases. `npm test` runs their short forms; `npm run
// test:stress` runs these in full, one file at a time so the figures they
// print are not taken while another suite loads the two cores.
export default defineConfig({
  test: {
    include: ['test/stress/**/*.stress.test.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 5 * 60_000,
    fileParallelism: false,
    maxWorkers: 1,
    reporters: ['default'],
  },
});
