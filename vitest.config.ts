import { defineConfig } from 'vitest/config';

// Two layers: `unit` is pure logic (no root, fast, parallel); `integration` builds real namespaces and
// nftables rulesets, needs root, and runs one file at a time because every file shares the 2-core machine.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'reference-impl/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'reference-impl/**/*.integration.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'reference-impl/**/*.integration.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
