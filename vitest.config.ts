import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
