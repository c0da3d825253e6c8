/**
 * A file in the data directory while a demo store's year of history is being seeded. The seeding
 * runs once, at the first start of a new data directory; a crash or a failure in its midst leaves
 * the journal with part of the year, and the next start (no longer a new store) does not seed
 * again. The file left behind is how that start knows, and says so.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsyncDirectory } from '../storage/fsync.js';

const MARK = 'demo-history.seeding';

/** Puts the mark on disk (durably) before the first seeded event is recorded. */
export async function markSeeding(dataDir: string): Promise<void> {
  const handle = await fs.open(path.join(dataDir, MARK), 'w', 0o600);
  try {
    await handle.writeFile('The demo history seeding started and has not finished.\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsyncDirectory(dataDir);
}

/** Takes the mark away once the whole year and its snapshot are on disk. */
export async function clearSeedingMark(dataDir: string): Promise<void> {
  await fs.rm(path.join(dataDir, MARK), { force: true });
  await fsyncDirectory(dataDir);
}

/** Whether a seeding started in this data directory and never finished. */
export async function seedingWasCutShort(dataDir: string): Promise<boolean> {
  try {
    await fs.access(path.join(dataDir, MARK));
    return true;
  } catch {
    return false;
  }
}
