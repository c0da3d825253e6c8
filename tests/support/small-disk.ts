/**
 * A small real disk for full-disk tests: a tmpfs mounted on a fresh temporary directory, and a filler
 * file that takes its last byte the way a runaway log or a copied video does. Mounting needs root;
 * where it is not permitted `problem` says why and the test file skips (with a warning).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SmallDisk {
  readonly mountPoint: string;
  /** The file fill() grows; remove it to give the space back. */
  readonly filler: string;
  /** Why the disk is not there (the tests skip), or null when it is mounted. */
  readonly problem: string | null;
  /** Fills the filesystem to the last byte. */
  fill(): void;
  /** Removes the filler, unmounts and deletes the mount point. */
  remove(): void;
}

export interface SmallDiskOptions {
  /** Temporary directory name prefix. */
  prefix: string;
  /** Named in the skip warning, e.g. "full-disk tests". */
  label: string;
  /** tmpfs size, as mount's size= option. */
  size?: string;
  /** A reason to skip without mounting (e.g. the built hub is missing). */
  skipBecause?: string | null;
}

export function mountSmallDisk({ prefix, label, size = '32m', skipBecause = null }: SmallDiskOptions): SmallDisk {
  const mountPoint = mkdtempSync(path.join(os.tmpdir(), prefix));
  const filler = path.join(mountPoint, 'filler.bin');
  let problem = skipBecause;
  if (problem === null) {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (err) {
      const reason = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
      problem = `cannot mount a tmpfs here (${reason})`;
    }
  }
  if (problem) console.warn(`${label} skipped: ${problem}`);

  return {
    mountPoint,
    filler,
    problem,
    fill() {
      const fd = openSync(filler, 'a');
      try {
        for (const chunkSize of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
          const chunk = Buffer.alloc(chunkSize, 0x61);
          for (;;) {
            try {
              writeSync(fd, chunk);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    remove() {
      rmSync(filler, { force: true });
      try {
        execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
      } catch {
        // not mounted
      }
      rmSync(mountPoint, { recursive: true, force: true });
    },
  };
}
