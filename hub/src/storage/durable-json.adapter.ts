/**
 * A lowdb adapter for small JSON documents (settings, snapshots) that survives power loss:
 * write a temporary file, fsync it, rename it over the old one, fsync the directory.
 * lowdb's stock JSONFile adapter renames without fsync, so a crash can leave an empty file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { fsyncDirectory, writeFully } from './fsync.js';

/** A big document is made durable this many bytes at a time (see writeNow). */
const FLUSH_EVERY_BYTES = 1 << 20;

export class DurableJsonFile<T> implements Adapter<T> {
  private writing: Promise<void> = Promise.resolve();

  /** `serialize` lets a caller that already holds the big part as JSON avoid a second stringify. */
  constructor(
    readonly filename: string,
    private readonly serialize: (data: T) => string = (data) => JSON.stringify(data),
  ) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await fs.readFile(this.filename, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return JSON.parse(text) as T;
  }

  /** Writes are serialised so two renames never race. */
  write(data: T): Promise<void> {
    const text = this.serialize(data);
    const next = this.writing.then(() => this.writeNow(text));
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writeNow(text: string): Promise<void> {
    const tmp = `${this.filename}.${process.pid}.tmp`;
    try {
      const handle = await fs.open(tmp, 'w', 0o600);
      try {
        const bytes = Buffer.from(text, 'utf8');
        // A big document (a snapshot: tens of MB) goes to disk a piece at a time: one flush of all
        // of it would hold up the journal's fdatasyncs, which tablets are waiting for, until it ends.
        for (let offset = 0; offset < bytes.length; offset += FLUSH_EVERY_BYTES) {
          const piece = bytes.subarray(offset, Math.min(bytes.length, offset + FLUSH_EVERY_BYTES));
          await writeFully(handle, piece, offset);
          if (offset + piece.length < bytes.length) await handle.datasync();
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmp, this.filename);
    } catch (err) {
      // A full disk: the old file is still whole; the partial copy would only hold the space the
      // next write needs. Nothing is kept between writes, so the next one starts afresh.
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    await fsyncDirectory(path.dirname(this.filename));
  }
}
