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
 * Every line carries a CRC32C of its own bytes (see `formatLine`), so a damaged line is detected, not
 * guessed from whether it still parses; lines written before checksums existed are still read.
 *
 * `read()` drops a torn tail and truncates the file there, never more. Only an unterminated last
 * line counts as torn (a crash in the middle of an append: the line's newline never reached the
 * disk; a zero-filled extension has no newline either). A complete, newline-terminated line that
 * fails its checksum is damage, wherever it is, even last: it is kept in the file as it is and
 * reported (`corruptLines`), since it may be an event that was acknowledged. A reader opened
 * read-only (`repairTail: false`: every day file but the newest) never truncates; an unterminated
 * last line there is reported as damage too.
 *
 * Once a checksummed line has been seen in a file, a line without a valid checksum prefix is damage
 * (the prefix itself was hit), as is any line starting `{"crc`; only a file's leading lines written
 * before checksums existed are read as unchecked legacy lines.
 *
 * A failed write or fdatasync (a full disk) acknowledges nothing: every waiting write is rejected,
 * the entries not on disk are forgotten, and the file is cut back to its last durable byte (so no
 * partial line is left for the next append to glue onto). Later writes are refused until `reset()`
 * (the owner decides when: the journal's event store first rolls back its seqs).
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { crc32c } from '@node-rs/crc32';
import { fsyncDirectory, writeFully } from './fsync.js';

/**
 * A line is the entry's JSON with its checksum as the first member: `{"crc32c":"1a2b3c4d",…}\n`, the
 * CRC32C of the bytes after that prefix. The line stays one JSON object (jq and auditors read it);
 * the reader checks the raw bytes and parses the entry without the checksum member.
 */
const CHECKSUM_PREFIX = '{"crc32c":"';
const PREFIX_BYTES = CHECKSUM_PREFIX.length + 8 + 2; // prefix, 8 hex digits, `",`
const PREFIX_CODES = Buffer.from(CHECKSUM_PREFIX, 'latin1');

export function formatLine(entry: unknown): string {
  const json = JSON.stringify(entry);
  // Only a non-empty object can carry the checksum member.
  if (json.length < 3 || json.charCodeAt(0) !== 0x7b) return `${json}\n`;
  const rest = json.slice(1);
  return `${CHECKSUM_PREFIX}${crc32c(rest).toString(16).padStart(8, '0')}",${rest}\n`;
}

export interface JsonLinesReadReport {
  file: string;
  entries: number;
  /** Bytes cut from the end of the file (a torn tail). */
  truncatedBytes: number;
  /** Line numbers that failed their checksum (or could not be parsed) and were skipped; kept in the file. */
  corruptLines: number[];
  /** How many of those come after the file's last good line (all of them when none is good). */
  trailingCorruptLines: number;
  /** Best effort: `"seq":N` as it still reads in the damaged lines (the digits may be damaged too). */
  corruptSeqHints: number[];
  /**
   * Each damaged line's bytes (a copy) and how many good entries precede it in the file: where it
   * sits tells which seq it held, and what is still legible in it tells whether an event offered
   * in its place is the one it held (a journal restored from HQ).
   */
  corruptDetails: CorruptLine[];
}

export interface CorruptLine {
  line: number;
  /** Good entries before it in the file. */
  afterEntries: number;
  bytes: Buffer;
}

/** A file's entries, and each one's JSON as stored (undefined: a line from before checksums). */
export interface StoredEntries<T> {
  entries: T[];
  stored: (Buffer | undefined)[];
}

export interface JsonLinesAppendOptions {
  /** Cut a torn tail off the file when reading it (false: read-only, report it as damage). Default true. */
  repairTail?: boolean;
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
  /** Bytes of the file known to be on disk (the end of the last fdatasync'd write); null until opened. */
  private durableBytes: number | null = null;
  /** A failed write may have left bytes after `durableBytes`: they are cut before the next write. */
  private cutPending = false;

  private readonly repairTail: boolean;
  /** The open handle's directory entry is fsync'd (a failed directory fsync is retried on the next write). */
  private entryDurable = false;
  /**
   * When the batch being written now started (performance.now(), which a clock set by time sync
   * does not move), null while nothing is being written: a write or fdatasync that never returns
   * (a dying SD card) shows here as a flush running for ever.
   */
  private batchStartedAt: number | null = null;

  constructor(
    readonly filename: string,
    private readonly isEntry: (value: unknown) => value is T,
    private readonly onRead: (report: JsonLinesReadReport) => void = () => {},
    options: JsonLinesAppendOptions = {},
  ) {
    this.repairTail = options.repairTail ?? true;
  }

  async read(): Promise<T[] | null> {
    return (await this.readStored())?.entries ?? null;
  }

  /**
   * Reads the file like `read()`, and gives each entry's JSON as stored (the line's bytes without
   * its checksum member, undefined for a line from before checksums): what the entry serialises to,
   * without serialising it again. The buffers are views of one copy of the file. `prefetched`: the
   * file's bytes as readJsonLinesBytes() read them ahead (a reader's own copy: it is rewritten).
   */
  async readStored(prefetched?: Promise<Buffer | null>): Promise<StoredEntries<T> | null> {
    const bytes = await (prefetched ?? readJsonLinesBytes(this.filename));
    if (bytes === null) {
      this.written = 0;
      return null;
    }
    const { entries, stored, badLines, corruptSeqHints, corruptDetails, lastGoodLine, tornAt } = parseLines(
      bytes,
      this.isEntry,
      this.repairTail,
    );
    const truncatedBytes = tornAt < 0 ? 0 : bytes.length - tornAt;
    if (truncatedBytes > 0) {
      const handle = await fs.open(this.filename, 'r+');
      try {
        await handle.truncate(tornAt);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    this.written = entries.length;
    this.durableBytes = null;
    this.onRead({
      file: this.filename,
      entries: entries.length,
      truncatedBytes,
      corruptLines: badLines,
      trailingCorruptLines: badLines.filter((line) => line > lastGoodLine).length,
      corruptSeqHints,
      corruptDetails,
    });
    return { entries, stored };
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
    this.latest = data;
    if (this.failure) {
      // Refused: the entry just added is forgotten like those of the write that failed.
      this.latest.length = this.written;
      return Promise.reject(this.failure);
    }
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

  /**
   * How long the write being flushed now has been running (ms), or null when nothing is being
   * written. The wait for another file's writes (`startAfter`) counts: this file is stuck too.
   */
  flushRunningMs(now = performance.now()): number | null {
    return this.batchStartedAt === null ? null : Math.max(0, now - this.batchStartedAt);
  }

  /** Number of entries known to be on disk. */
  get durableCount(): number {
    return this.written;
  }

  /**
   * Accepts writes again after a failure, once the failed flush has finished cutting the file back
   * (writes stay refused until then). The entries that were not written are forgotten; whatever a
   * failed write left after the last durable byte is cut before the next write.
   */
  async reset(): Promise<void> {
    // A failed flush may still be cutting the file back: until it has, writes stay refused.
    while (this.flushing) await this.flushing.catch(() => undefined);
    const failure = this.failure;
    if (!failure) return;
    // Nothing that was not written may be written later: the owner has been told it was refused.
    this.latest.length = this.written;
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) waiter.reject(failure);
    this.failure = null;
    this.barrier = null;
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.handle?.close();
    this.handle = null;
  }

  private async flushLoop(): Promise<void> {
    this.batchStartedAt = performance.now();
    try {
      if (this.barrier) {
        const barrier = this.barrier;
        await barrier;
        if (this.barrier === barrier) this.barrier = null;
      }
      while (this.written < this.latest.length) {
        // Each batch is timed on its own: a busy store keeps the loop running, each write is short.
        this.batchStartedAt = performance.now();
        const batch = this.latest.slice(this.written);
        let text = '';
        for (const entry of batch) text += formatLine(entry);
        const handle = await this.openHandle();
        if (this.cutPending) await this.cutToDurable(handle);
        const bytes = Buffer.from(text, 'utf8');
        // One write call for the batch (appendFile goes through writeFile's chunking and checks).
        await writeFully(handle, bytes);
        await handle.datasync();
        this.written += batch.length;
        this.durableBytes! += bytes.length;
        const done = this.waiters.filter((w) => w.target <= this.written);
        this.waiters = this.waiters.filter((w) => w.target > this.written);
        for (const waiter of done) waiter.resolve();
      }
    } catch (err) {
      // A full disk (ENOSPC) or a failed fsync: none of this batch is acknowledged. What is not on
      // disk is forgotten (the entries array is the owner's lowdb data: it keeps only what is
      // durable), and a partial line is cut off now if the disk lets us, else before the next write.
      // Writes arriving during the cut-back are refused with this same error (reset() waits for it).
      const failure = (err ?? new Error('write failed')) as Error;
      this.failure = failure;
      this.latest.length = this.written;
      if (this.handle && this.durableBytes !== null) {
        this.cutPending = true;
        await this.cutToDurable(this.handle).catch(() => undefined);
      }
      this.latest.length = this.written;
      for (const waiter of this.waiters) waiter.reject(failure);
      this.waiters = [];
    } finally {
      this.batchStartedAt = null;
    }
  }

  /** Cuts the file back to its last durable byte (truncating needs no free space). */
  private async cutToDurable(handle: FileHandle): Promise<void> {
    if ((await handle.stat()).size !== this.durableBytes) {
      await handle.truncate(this.durableBytes!);
      await handle.datasync();
    }
    this.cutPending = false;
  }

  private async openHandle(): Promise<FileHandle> {
    if (!this.handle) {
      const handle = await fs.open(this.filename, 'a', 0o600);
      try {
        this.durableBytes = (await handle.stat()).size;
      } catch (err) {
        await handle.close();
        throw err;
      }
      this.handle = handle;
    }
    // The file's directory entry is made durable before anything in it is acknowledged; a failed
    // directory fsync (a full disk) is tried again on the next write, not taken as done because the
    // file now exists.
    if (!this.entryDurable) {
      await fsyncDirectory(path.dirname(this.filename));
      this.entryDurable = true;
    }
    return this.handle;
  }
}

/**
 * A whole file's bytes in one read (readFile's chunked reads cost a thread-pool round trip each),
 * or null when there is no such file.
 */
export async function readJsonLinesBytes(filename: string): Promise<Buffer | null> {
  let handle: FileHandle;
  try {
    handle = await fs.open(filename, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const size = (await handle.stat()).size;
    const bytes = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(bytes, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    // The file may have grown meanwhile (a line being appended): what follows is read next time.
    return filled === size ? bytes : bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

interface ParsedLines<T> extends StoredEntries<T> {
  /** Line numbers of damaged lines. */
  badLines: number[];
  corruptSeqHints: number[];
  corruptDetails: CorruptLine[];
  lastGoodLine: number;
  /** Where a torn tail starts (-1: none). */
  tornAt: number;
}

/**
 * Every line of a file's bytes, checked and parsed: each checksum is verified on the raw bytes and
 * the entry parsed from them in place (`{` is written over the `,` that ends the checksum member;
 * the buffer is the reader's own copy of the file), so its JSON as stored is a view of the same
 * bytes. (One JSON.parse of the whole file rewritten as an array was measured too: it costs more
 * CPU than a parse per line, the whole file becoming one two-byte string.)
 */
function parseLines<T>(bytes: Buffer, isEntry: (value: unknown) => value is T, repairTail: boolean): ParsedLines<T> {
  const entries: T[] = [];
  const stored: (Buffer | undefined)[] = [];
  const badLines: number[] = [];
  const corruptSeqHints: number[] = [];
  const corruptDetails: CorruptLine[] = [];
  let start = 0;
  let lineNo = 0;
  let lastGoodLine = 0;
  let sawChecksum = false;
  let tornAt = -1;
  while (start < bytes.length) {
    const newline = bytes.indexOf(0x0a, start);
    lineNo += 1;
    const end = newline === -1 ? bytes.length : newline;
    // An unterminated last line: the crash came before its newline was written, so it was never
    // acknowledged. Read-only, it is reported as damage instead of cut.
    if (newline === -1 && repairTail) {
      tornAt = start;
      break;
    }
    const from = newline === -1 ? -1 : entryStart(bytes, start, newline, sawChecksum);
    const entry = from < 0 ? undefined : parseEntry(bytes, from, newline, isEntry);
    if (entry === undefined) {
      badLines.push(lineNo);
      const hint = seqHintOf(bytes, start, end);
      if (hint !== null) corruptSeqHints.push(hint);
      corruptDetails.push({
        line: lineNo,
        afterEntries: entries.length,
        bytes: Buffer.from(bytes.subarray(start, end)),
      });
    } else {
      entries.push(entry);
      const checksummed = from > start;
      stored.push(checksummed ? bytes.subarray(from, newline) : undefined);
      lastGoodLine = lineNo;
      if (checksummed) sawChecksum = true;
    }
    if (newline === -1) break;
    start = newline + 1;
  }
  return { entries, stored, badLines, corruptSeqHints, corruptDetails, lastGoodLine, tornAt };
}

/**
 * Where the entry's JSON starts in line `bytes[start, end)`, or -1 when the line is damaged: a
 * checksum that does not match its bytes, or no checksum where one is required. A checksummed
 * line's entry starts at the `,` ending its checksum member, made a `{` here.
 */
function entryStart(bytes: Buffer, start: number, end: number, checksumRequired: boolean): number {
  if (end <= start) return -1;
  if (hasChecksumPrefix(bytes, start, end)) {
    const stored = hexAt(bytes, start + CHECKSUM_PREFIX.length);
    if (stored < 0 || crc32c(bytes.subarray(start + PREFIX_BYTES, end)) !== stored) return -1;
    const from = start + PREFIX_BYTES - 1;
    bytes[from] = 0x7b;
    return from;
  }
  // A damaged prefix must not turn a line into an unchecked legacy one.
  return checksumRequired || startsWith(bytes, start, end, DAMAGED_PREFIX_CODES) ? -1 : start;
}

/** The entry in `bytes[from, end)`, or undefined when it does not parse or is not an entry. */
function parseEntry<T>(
  bytes: Buffer,
  from: number,
  end: number,
  isEntry: (value: unknown) => value is T,
): T | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8', from, end));
    return isEntry(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A line starting like this meant to carry a checksum, whatever became of the rest of the prefix. */
const DAMAGED_PREFIX_CODES = Buffer.from('{"crc', 'latin1');

function startsWith(bytes: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[start + i] !== prefix[i]) return false;
  return true;
}

/** `"seq":N` as it still reads in a damaged line, or null (best effort: the digits may be damaged too). */
function seqHintOf(bytes: Buffer, start: number, end: number): number | null {
  const match = /"seq":(\d{1,15})[,}]/.exec(bytes.toString('latin1', start, end));
  return match ? Number(match[1]) : null;
}

/** The 8 lowercase hex digits at `at` as an unsigned 32-bit number, or -1 if they are not that. */
function hexAt(bytes: Buffer, at: number): number {
  let value = 0;
  for (let i = at; i < at + 8; i++) {
    const c = bytes[i]!;
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

function hasChecksumPrefix(bytes: Buffer, start: number, end: number): boolean {
  if (end - start < PREFIX_BYTES + 1) return false;
  for (let i = 0; i < PREFIX_CODES.length; i++) if (bytes[start + i] !== PREFIX_CODES[i]) return false;
  return bytes[start + PREFIX_BYTES - 2] === 0x22 && bytes[start + PREFIX_BYTES - 1] === 0x2c;
}
