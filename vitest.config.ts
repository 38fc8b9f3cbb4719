import { defineConfig } from 'vitest/config';
import { scaled } from './src/testing/wait.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    // ZKTS_TEST_TIME_FACTOR stretches these with every other test deadline.
    testTimeout: scaled(60_000),
    hookTimeout: scaled(60_000),
    // Integration suites start real server processes and JVMs; two cores do not
    // take many of those at once.
    maxConcurrency: 4,
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: 'forks',
  },
});
