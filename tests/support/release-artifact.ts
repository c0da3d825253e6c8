/**
 * The hub's release artifact (`npm run release`, scripts/release.ts) packaged from the builds
 * `npm run build:test` made (the tablet UI's test build, the same code as the production one).
 */
import { execFileSync } from 'node:child_process';
import { REPO_ROOT, TEST_UI_DIR } from './hub-process.ts';

export type ReleaseArch = 'x64' | 'arm64';

/** The architecture of this machine, as release targets name it. */
export const THIS_ARCH: ReleaseArch = process.arch === 'arm64' ? 'arm64' : 'x64';

/** Packages the release for `arch` into `outDir`; returns the artifact's path (its .sha256 lies beside it). */
export function packageRelease(arch: ReleaseArch, outDir: string): string {
  const printed = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'scripts/release.ts', '--arch', arch, '--no-build', '--ui-build', TEST_UI_DIR, '--out', outDir],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  // The last line it prints is its summary.
  return (JSON.parse(printed.trim().split('\n').at(-1)!) as { artifact: string }).artifact;
}
