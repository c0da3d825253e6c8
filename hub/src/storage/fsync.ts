/** Small helpers for durable file operations (fsync of files and of directories). */
import { promises as fs, constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** Makes a directory entry change (create, rename) durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates a directory (mode 0700) and makes its entry durable in the parent. */
export async function ensureDirectory(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      await ensureDirectory(path.dirname(dir));
      return ensureDirectory(dir);
    }
    throw err;
  }
  await fsyncDirectory(path.dirname(dir));
}

/**
 * Writes all of `bytes` (at `position`, or at the end of a file opened for appending), repeating
 * the write only after a short one; a write that takes nothing fails.
 */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number | null = null): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const at = position === null ? null : position + offset;
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, at);
    if (bytesWritten === 0) throw new Error(`${bytes.length - offset} bytes could not be written`);
    offset += bytesWritten;
  }
}
