/**
 * The size of the hub's release artifact for the Raspberry Pi (`npm run release`, linux-arm64):
 * what a technician copies to a box and what an update downloads.
 *
 *   release_mb   the .tar.gz in megabytes. Baseline: the 60 MB the artifact must stay under.
 *
 * Packaged from the builds `npm run bench` has just made (the tablet UI's test build, the same code
 * as the production one). The arm64 binaries of the native modules come from the npm registry.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRelease } from '../support/release-artifact.ts';
import { emit, progress, runBench } from './report.ts';

const LIMIT_MB = 60;

runBench(async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ayi-bench-release-'));
  try {
    progress('packaging the release for linux-arm64');
    const artifact = packageRelease('arm64', out);
    const megabytes = statSync(artifact).size / 1_000_000;
    emit('release_mb', megabytes, 'MB', LIMIT_MB, megabytes / LIMIT_MB);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
