/**
 * Snapshots of the in-memory projections, so start-up replays only the journal written after the
 * newest good one. Each is a durable JSON file named by its seq, with a checksum of its state; the
 * newest few are kept, and a damaged one is skipped in favour of the one before it.
 *
 * While the disk is low or full a snapshot must not take the journal's last space (a snapshot is
 * tens of MB, written to a temporary file until the disk refuses): the older snapshots are removed
 * first (the newest is kept), and the snapshot is skipped unless the free space exceeds its size
 * plus a reserve left to the journal. Start-up then replays a little more journal; nothing is lost.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { DurableJsonFile } from './durable-json.adapter.js';
import { ensureDirectory, fsyncDirectory } from './fsync.js';

/** Bumped when the projections change shape: an older snapshot is skipped and the journal replayed. */
export const SNAPSHOT_FORMAT = 'ayi.snapshot/3';
const SNAPSHOT_FILE = /^snapshot-(\d{12})\.json$/;
const KEEP = 3;
/** Free space a snapshot leaves to the journal while the disk is low or full. */
export const SNAPSHOT_RESERVE_BYTES = 16 * 1024 * 1024;

export interface SnapshotSpace {
  /** Whether the disk is short of space now (the storage monitor's `low` or `full`). */
  short: () => boolean;
  /** Free bytes on the snapshots' filesystem (fs.statfs by default). */
  freeBytes?: (dir: string) => Promise<number>;
  reserveBytes?: number;
}

async function statfsFree(dir: string): Promise<number> {
  const stats = await fs.statfs(dir);
  return stats.bavail * stats.bsize;
}

export interface SnapshotFile<S> {
  format: typeof SNAPSHOT_FORMAT;
  seq: number;
  /** Journal day holding the event with this seq: replay starts there. */
  journalDay: string;
  takenAt: string;
  checksum: string;
  state: S;
}

function checksumOf(stateJson: string): string {
  return createHash('sha256').update(stateJson).digest('hex');
}

export class SnapshotStore<S> {
  constructor(
    readonly dir: string,
    private readonly onSkip: (file: string, reason: string) => void = () => {},
    private readonly space: SnapshotSpace | null = null,
  ) {}

  async ensureDirectory(): Promise<void> {
    await ensureDirectory(this.dir);
  }

  /**
   * Saves a snapshot. The state is serialised before the first await, so later changes to the
   * live projection cannot leak into it (call ensureDirectory() once beforehand).
   */
  async save(seq: number, journalDay: string, takenAt: Date, state: S): Promise<string> {
    const filename = path.join(this.dir, `snapshot-${String(seq).padStart(12, '0')}.json`);
    // The state is serialised once (it is most of the file, and stringifying it blocks the event
    // loop): for its checksum and, spliced in after the header, for the file.
    const stateJson = JSON.stringify(state);
    const spliceState = ({ state: _state, ...header }: SnapshotFile<S>) =>
      `${JSON.stringify(header).slice(0, -1)},"state":${stateJson}}`;
    await this.makeRoom(Buffer.byteLength(stateJson) + 1024);
    const db = new Low<SnapshotFile<S>>(new DurableJsonFile(filename, spliceState), null as never);
    db.data = {
      format: SNAPSHOT_FORMAT,
      seq,
      journalDay,
      takenAt: takenAt.toISOString(),
      checksum: checksumOf(stateJson),
      state,
    };
    await db.write();
    await this.prune();
    return filename;
  }

  /** The newest snapshot that reads back whole, or null. */
  async loadNewest(): Promise<SnapshotFile<S> | null> {
    for (const name of (await this.files()).reverse()) {
      const filename = path.join(this.dir, name);
      try {
        const snapshot = await new DurableJsonFile<SnapshotFile<S>>(filename).read();
        if (!snapshot || snapshot.format !== SNAPSHOT_FORMAT) throw new Error('unknown format');
        if (checksumOf(JSON.stringify(snapshot.state)) !== snapshot.checksum) throw new Error('checksum mismatch');
        return snapshot;
      } catch (err) {
        this.onSkip(filename, (err as Error).message);
      }
    }
    return null;
  }

  private async files(): Promise<string[]> {
    try {
      return (await fs.readdir(this.dir)).filter((name) => SNAPSHOT_FILE.test(name)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Removes every snapshot older than the newest one (after an erasure: no older copy may remain). */
  async removeAllButNewest(): Promise<number> {
    const files = await this.files();
    for (const name of files.slice(0, -1)) await fs.rm(path.join(this.dir, name), { force: true });
    if (files.length > 1) await fsyncDirectory(this.dir);
    return Math.max(0, files.length - 1);
  }

  private async prune(keep = KEEP): Promise<void> {
    const files = await this.files();
    for (const name of files.slice(0, Math.max(0, files.length - keep))) {
      await fs.rm(path.join(this.dir, name), { force: true });
    }
  }

  /**
   * While the disk is short of space: removes every snapshot but the newest, then refuses (ENOSPC,
   * nothing written) unless the free space exceeds `bytes` plus the journal's reserve.
   */
  private async makeRoom(bytes: number): Promise<void> {
    if (!this.space?.short()) return;
    const { freeBytes = statfsFree, reserveBytes = SNAPSHOT_RESERVE_BYTES } = this.space;
    await this.prune(1);
    const free = await freeBytes(this.dir);
    if (free >= bytes + reserveBytes) return;
    throw Object.assign(
      new Error(
        `snapshot skipped: the disk is short of space (${free} bytes free, the snapshot needs ${bytes} plus ${reserveBytes} left to the journal)`,
      ),
      { code: 'ENOSPC', syscall: 'snapshot' },
    );
  }
}
