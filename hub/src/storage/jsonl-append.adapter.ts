/**
 * A lowdb adapter for an append-only JSON Lines file.
 *
 * lowdb hands `write()` the whole array each time; this adapter appends only the entries it has not
 * written yet, so the cost of a write does not grow with the file. Writes that arrive while a flush
 * is running are written together and share one fdatasync (group commit); each `write()` resolves
 * only when every entry it was given is on disk.
 *
 * `startAfter()` holds back the first write until another file's writes are on disk: the journal uses
 * it at midnight, so the new day's first event never reaches the disk before the old day's last ones
 * (the on-disk order is always the seq order, even across files).
 *
 * `read()` drops a torn tail (a crash in the middle of an append: a last line without its newline,
 * or garbage after the last good line) and truncates the file there, never more.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { fsyncDirectory, writeFully } from './fsync.js';

export interface JsonLinesReadReport {
  file: string;
  entries: number;
  /** Bytes cut from the end of the file (a torn tail). */
  truncatedBytes: number;
  /** Line numbers in the middle of the file that could not be parsed and were skipped. */
  corruptLines: number[];
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class JsonLinesAppendFile<T> implements Adapter<T[]> {
  private handle: FileHandle | null = null;
  private written = 0;
  private latest: T[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private barrier: Promise<unknown> | null = null;

  constructor(
    readonly filename: string,
    private readonly isEntry: (value: unknown) => value is T,
    private readonly onRead: (report: JsonLinesReadReport) => void = () => {},
  ) {}

  async read(): Promise<T[] | null> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.filename);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.written = 0;
        return null;
      }
      throw err;
    }
    const entries: T[] = [];
    const badLines: { lineNo: number; offset: number }[] = [];
    let goodEnd = 0;
    let start = 0;
    let lineNo = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(0x0a, start);
      lineNo += 1;
      if (newline === -1) break; // an unterminated last line was never acknowledged: torn
      const entry = parseLine(bytes.subarray(start, newline), this.isEntry);
      if (entry === undefined) {
        badLines.push({ lineNo, offset: start });
      } else {
        entries.push(entry);
        goodEnd = newline + 1;
      }
      start = newline + 1;
    }
    // Bad lines after the last good one are the torn tail; earlier ones are corruption.
    const corruptLines = badLines.filter((bad) => bad.offset < goodEnd).map((bad) => bad.lineNo);
    const truncatedBytes = bytes.length - goodEnd;
    if (truncatedBytes > 0) {
      const handle = await fs.open(this.filename, 'r+');
      try {
        await handle.truncate(goodEnd);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    this.written = entries.length;
    this.onRead({ file: this.filename, entries: entries.length, truncatedBytes, corruptLines });
    return entries;
  }

  /**
   * Nothing is written to this file (not even the file created) before `previous` resolves; if it
   * rejects, this file fails too, since what would follow a lost write can no longer be written.
   */
  startAfter(previous: Promise<unknown>): void {
    const before = this.barrier;
    this.barrier = before ? Promise.all([before, previous]) : previous;
    // The rejection is handled by the flush that awaits it; this keeps an unused one from being unhandled.
    this.barrier.catch(() => undefined);
  }

  /**
   * Resolves once every entry handed to write() so far is on disk (waiting on the flush each
   * write() already started); rejects if the file failed.
   */
  flushed(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const target = this.latest.length;
    if (target <= this.written) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.startFlush();
    });
  }

  write(data: T[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.latest = data;
    const target = data.length;
    if (target <= this.written) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.startFlush();
    });
  }

  private startFlush(): void {
    // The flush starts after the current turn of the event loop: the requests that arrived
    // together (read in one poll of the sockets) have usually appended their entries by then and share
    // this flush's fdatasync, instead of the first taking one alone and the rest waiting for it.
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.flushLoop())
      .finally(() => {
        this.flushing = null;
        // A write can arrive after the loop's last check but before this runs (a caller that awaits
        // write() directly resumes first): it found a flush "running" and must not be left waiting.
        if (!this.failure && this.waiters.length > 0) this.startFlush();
      });
  }

  /** Number of entries known to be on disk. */
  get durableCount(): number {
    return this.written;
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.handle?.close();
    this.handle = null;
  }

  private async flushLoop(): Promise<void> {
    try {
      if (this.barrier) {
        const barrier = this.barrier;
        await barrier;
        if (this.barrier === barrier) this.barrier = null;
      }
      while (this.written < this.latest.length) {
        const batch = this.latest.slice(this.written);
        let text = '';
        for (const entry of batch) text += `${JSON.stringify(entry)}\n`;
        const handle = await this.openHandle();
        // One write call for the batch (appendFile goes through writeFile's chunking and checks).
        await writeFully(handle, Buffer.from(text, 'utf8'));
        await handle.datasync();
        this.written += batch.length;
        const done = this.waiters.filter((w) => w.target <= this.written);
        this.waiters = this.waiters.filter((w) => w.target > this.written);
        for (const waiter of done) waiter.resolve();
      }
    } catch (err) {
      // After a failed write or fsync nothing about the file can be trusted (the kernel may have
      // dropped the dirty pages): fail every waiter and refuse further writes.
      this.failure = err as Error;
      for (const waiter of this.waiters) waiter.reject(this.failure);
      this.waiters = [];
    }
  }

  private async openHandle(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    let created = false;
    try {
      await fs.access(this.filename);
    } catch {
      created = true;
    }
    this.handle = await fs.open(this.filename, 'a', 0o600);
    if (created) await fsyncDirectory(path.dirname(this.filename));
    return this.handle;
  }
}

function parseLine<T>(line: Buffer, isEntry: (value: unknown) => value is T): T | undefined {
  if (line.length === 0) return undefined;
  try {
    const value: unknown = JSON.parse(line.toString('utf8'));
    return isEntry(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
