/**
 * A lowdb adapter for small JSON documents (settings, snapshots) that survives power loss:
 * write a temporary file, fsync it, rename it over the old one, fsync the directory.
 * lowdb's stock JSONFile adapter renames without fsync, so a crash can leave an empty file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { fsyncDirectory } from './fsync.js';

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
    const handle = await fs.open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, this.filename);
    await fsyncDirectory(path.dirname(this.filename));
  }
}
