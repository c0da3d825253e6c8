import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two files at a time: most of a file's time is spent waiting (backoffs, hub and broker starts,
    // browser round trips), so a second worker halves the wall time on a two-core machine. The
    // e2e and reliability projects still run their own files one at a time.
    maxWorkers: 2,
    projects: [
      {
        // The UI's pure helpers are tested here too; they import through SvelteKit's aliases.
        resolve: {
          alias: {
            $lib: path.resolve(import.meta.dirname, 'ui/src/lib'),
            $protocol: path.resolve(import.meta.dirname, 'hub/src/protocol'),
          },
        },
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'] },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'reliability',
          include: ['tests/reliability/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
