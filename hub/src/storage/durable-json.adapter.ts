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
    return this.writeBytes([Buffer.from(this.serialize(data), 'utf8')]);
  }

  /**
   * Writes a document already serialised as UTF-8 pieces (a snapshot: tens of MB, which as one
   * string would take twice that again in memory), in order, as one file.
   */
  writeBytes(pieces: Uint8Array[]): Promise<void> {
    const next = this.writing.then(() => this.writeNow(pieces));
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writeNow(pieces: Uint8Array[]): Promise<void> {
    const tmp = `${this.filename}.${process.pid}.tmp`;
    try {
      const handle = await fs.open(tmp, 'w', 0o600);
      try {
        const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
        let position = 0;
        // A big document (a snapshot: tens of MB) goes to disk a megabyte at a time: one flush of all
        // of it would hold up the journal's fdatasyncs, which tablets are waiting for, until it ends.
        for (const piece of pieces) {
          for (let offset = 0; offset < piece.length;) {
            const room = FLUSH_EVERY_BYTES - (position % FLUSH_EVERY_BYTES);
            const part = piece.subarray(offset, offset + room);
            await writeFully(handle, part, position);
            position += part.length;
            offset += part.length;
            if (position % FLUSH_EVERY_BYTES === 0 && position < total) await handle.datasync();
          }
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
