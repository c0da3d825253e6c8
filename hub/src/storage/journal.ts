/**
 * The store's journal: every event, one JSON line each, one file per store-local day
 * (`journal/YYYY-MM-DD.jsonl`), each file a lowdb database over an append-only adapter.
 * Only the current day is held in memory; older days are read when replayed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import type { HubEvent } from '../protocol/events.js';
import { EVENT_SCHEMA } from '../protocol/events.js';
import {
  JsonLinesAppendFile,
  readJsonLinesBytes,
  type CorruptLine,
  type JsonLinesReadReport,
} from './jsonl-append.adapter.js';
import { ensureDirectory } from './fsync.js';
import { businessDate } from '../domain/time.js';

const DAY_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
/**
 * Events restored from HQ's copy in place of damaged (or lost) lines, one checksummed line each,
 * appended and fdatasync'd. The day files are never rewritten: the damaged lines stay as evidence,
 * and a restore is one append, durable the moment it is acknowledged. Reads merge these events into
 * the day files' by seq.
 */
export const RESTORED_FILE = 'restored.jsonl';

/** A damaged line of the journal, with the seq it held where that can be told. */
export interface DamagedLine {
  file: string;
  line: number;
  /** From the line's place between good lines (or, failing that, its legible `"seq":N`); null: unknown. */
  seq: number | null;
  bytes: Buffer;
}

export function isHubEvent(value: unknown): value is HubEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.schema === EVENT_SCHEMA && Number.isInteger(v.seq) && typeof v.type === 'string' && typeof v.at === 'string';
}

/** What reading the journal found wrong with it so far (start-up, HQ resends). */
export interface JournalDamage {
  /** Seqs absent from the journal: a damaged line, or a line gone, between two good ones. */
  missingSeqs: number[];
  /** Lines that failed their checksum (or, written before checksums, did not parse), per day file. */
  damagedLines: { file: string; lines: number[] }[];
}

/** Day files read ahead of the one being replayed. */
const READ_AHEAD_DAYS = 3;

/** A day file's events and, where the journal has it, each one's JSON as stored (`stored[i]`). */
export interface StoredDay {
  events: HubEvent[];
  stored: (Buffer | undefined)[] | null;
}

/** Seqs named at most (a file damaged wholesale must not fill the memory with numbers). */
const MISSING_SEQS_KEPT = 1000;

function boundsOf(events: readonly HubEvent[]): { first: number; last: number } | null {
  const first = events[0];
  const last = events.at(-1);
  return first && last ? { first: first.seq, last: last.seq } : null;
}

interface DayFile {
  day: string;
  adapter: JsonLinesAppendFile<HubEvent>;
  db: Low<HubEvent[]>;
  /** What reading it found (null until read). */
  report: JsonLinesReadReport | null;
}

/** What opening the journal found at its end. */
export interface JournalEnd {
  /** The last event that reads back whole. */
  lastEvent: HubEvent | null;
  /**
   * The highest seq the journal may have given out: the last good event's, plus one for each
   * damaged line after it (each line is one event), or the seq still legible in such a line. A seq
   * up to this one is never given out again.
   */
  lastSeqSeen: number;
}

export class Journal {
  private current: DayFile | null = null;
  /** The day file before the current one while its last writes are still flushing (after midnight). */
  private closingAdapter: JsonLinesAppendFile<HubEvent> | null = null;
  private closing: Promise<void>[] = [];
  private readonly missing = new Set<number>();
  private readonly damagedLines = new Map<string, number[]>();
  /** First and last good seq of each day file read so far (null: none), but the current one. */
  private readonly dayBounds = new Map<string, { first: number; last: number } | null>();
  private readonly onRead: (report: JsonLinesReadReport) => void;
  /** Events restored from HQ, by seq, each with its JSON as stored. */
  private readonly restored = new Map<number, { event: HubEvent; stored: Buffer | undefined }>();
  private restoredFile: { adapter: JsonLinesAppendFile<HubEvent>; db: Low<HubEvent[]> } | null = null;
  /** Damaged lines read so far, per file (their seqs worked out once the file's events are known). */
  private readonly damagedDetails = new Map<string, DamagedLine[]>();
  private readonly pendingDetails = new Map<string, CorruptLine[]>();

  private constructor(
    readonly dir: string,
    private readonly timeZone: string,
    onRead: (report: JsonLinesReadReport) => void,
  ) {
    this.onRead = (report) => {
      const name = path.basename(report.file);
      if (report.corruptLines.length > 0) this.damagedLines.set(name, report.corruptLines);
      if (report.corruptDetails.length > 0) this.pendingDetails.set(name, report.corruptDetails);
      onRead(report);
    };
  }

  /**
   * Opens the journal, repairs a torn tail of the newest file (only that file: older ones are read
   * read-only) and finds the last seq on disk. Damaged lines at the end are kept and named, and
   * their seqs counted in `lastSeqSeen`, never given out again.
   */
  static async open(
    dir: string,
    timeZone: string,
    onRead: (report: JsonLinesReadReport) => void = () => {},
  ): Promise<{ journal: Journal } & JournalEnd> {
    await ensureDirectory(dir);
    const journal = new Journal(dir, timeZone, onRead);
    await journal.openRestored();
    const days = await journal.days();
    let lastEvent: HubEvent | null = null;
    let damagedAfter = 0;
    let seqHint = 0;
    for (let i = days.length - 1; i >= 0 && lastEvent === null; i--) {
      const newest = i === days.length - 1;
      const file = await journal.openDay(days[i]!, newest);
      journal.placeDamage(days[i]!, file.db.data);
      journal.noteGaps(file.db.data, null);
      if (!newest) journal.dayBounds.set(days[i]!, boundsOf(file.db.data));
      if (newest) journal.current = file;
      lastEvent = file.db.data.at(-1) ?? null;
      damagedAfter += file.report?.trailingCorruptLines ?? 0;
      for (const hint of file.report?.corruptSeqHints ?? []) seqHint = Math.max(seqHint, hint);
    }
    const lastGood = lastEvent?.seq ?? 0;
    const counted = lastGood + damagedAfter;
    // A seq still legible in a damaged line counts too, unless it is implausibly far (damaged digits).
    let lastSeqSeen = Math.max(counted, seqHint <= counted + MISSING_SEQS_KEPT ? seqHint : 0);
    journal.noteMissingThrough(lastGood, lastSeqSeen);
    // An event restored in place of a damaged line at the end is the journal's last event then.
    const lastRestored = Math.max(0, ...journal.restored.keys());
    if (lastRestored > lastGood) lastEvent = journal.restored.get(lastRestored)!.event;
    lastSeqSeen = Math.max(lastSeqSeen, lastRestored);
    return { journal, lastEvent, lastSeqSeen };
  }

  /**
   * Seqs after the last good event up to `lastSeq` are not in the journal (damaged lines at its end,
   * or events HQ acknowledged that the card lost): they are named missing, and never given out again.
   */
  noteMissingThrough(lastGoodSeq: number, lastSeq: number): void {
    for (let seq = lastGoodSeq + 1; seq <= lastSeq && this.missing.size < MISSING_SEQS_KEPT; seq++) {
      if (!this.restored.has(seq)) this.missing.add(seq);
    }
  }

  /** Reads the events restored from HQ (and opens their file for more). */
  private async openRestored(): Promise<void> {
    const adapter = new JsonLinesAppendFile<HubEvent>(path.join(this.dir, RESTORED_FILE), isHubEvent, this.onRead);
    const db = new Low<HubEvent[]>(adapter, []);
    const read = await adapter.readStored();
    db.data = read?.entries ?? [];
    this.restoredFile = { adapter, db };
    read?.entries.forEach((event, i) => this.restored.set(event.seq, { event, stored: read.stored[i] }));
    this.pendingDetails.delete(RESTORED_FILE);
  }

  /**
   * Works out which seq each damaged line of a day file held, from the good events around it: a
   * line is one event, in seq order. Where the lines around do not add up, the seq still legible in
   * the line is taken if it fits between them.
   */
  private placeDamage(day: string, events: readonly HubEvent[]): void {
    const name = `${day}.jsonl`;
    const details = this.pendingDetails.get(name);
    if (!details) return;
    this.pendingDetails.delete(name);
    const placed: DamagedLine[] = [];
    for (let i = 0; i < details.length;) {
      let end = i;
      while (end < details.length && details[end]!.afterEntries === details[i]!.afterEntries) end += 1;
      const after = details[i]!.afterEntries;
      const previous = events[after - 1]?.seq;
      const next = events[after]?.seq;
      const fits = (seq: number) =>
        seq >= 1 && (previous === undefined || seq > previous) && (next === undefined || seq < next);
      for (let r = i; r < end; r++) {
        const detail = details[r]!;
        const bySlot =
          previous !== undefined ? previous + 1 + (r - i) : next !== undefined ? next - (end - i) + (r - i) : null;
        const hint = /"seq":(\d{1,15})[,}]/.exec(detail.bytes.toString('latin1'));
        const hinted = hint ? Number(hint[1]) : null;
        let seq: number | null = null;
        if (
          bySlot !== null &&
          fits(bySlot) &&
          (previous === undefined || next === undefined || next - previous - 1 === end - i)
        )
          seq = bySlot;
        else if (hinted !== null && fits(hinted)) seq = hinted;
        else if (bySlot !== null && fits(bySlot)) seq = bySlot;
        placed.push({ file: name, line: detail.line, seq, bytes: detail.bytes });
      }
      i = end;
    }
    this.damagedDetails.set(name, placed);
  }

  /** The damaged line that held `seq`, if one is known. */
  damagedLineOf(seq: number): DamagedLine | null {
    for (const lines of this.damagedDetails.values()) {
      const found = lines.find((line) => line.seq === seq);
      if (found) return found;
    }
    return null;
  }

  /** The event restored from HQ for `seq`, if one was. */
  restoredEvent(seq: number): HubEvent | null {
    return this.restored.get(seq)?.event ?? null;
  }

  /**
   * Puts events back in place of missing seqs, durably: appended to the restored file and
   * fdatasync'd (its directory entry too) before this resolves. The caller has checked each one.
   */
  async restore(events: readonly HubEvent[]): Promise<void> {
    const file = this.restoredFile;
    if (!file) throw new Error('the journal is not open');
    const fresh = events.filter((event) => !this.restored.has(event.seq));
    if (fresh.length === 0) return;
    file.db.data.push(...fresh);
    try {
      await file.db.write();
    } catch (err) {
      // Nothing of it is acknowledged (the adapter forgot what did not reach the disk); a later
      // restore tries afresh.
      await file.adapter.reset();
      throw err;
    }
    for (const event of fresh) {
      this.restored.set(event.seq, { event, stored: Buffer.from(JSON.stringify(event), 'utf8') });
      this.missing.delete(event.seq);
    }
  }

  /** Days that have a journal file, oldest first. */
  async days(): Promise<string[]> {
    const names = await fs.readdir(this.dir);
    return names
      .map((name) => DAY_FILE.exec(name)?.[1])
      .filter((day): day is string => day !== undefined)
      .sort();
  }

  /** The day file an event goes to. Never goes back to an earlier file, even if the clock does. */
  dayFor(event: HubEvent): string {
    const day = businessDate(new Date(event.at), this.timeZone);
    return this.current && this.current.day > day ? this.current.day : day;
  }

  /**
   * Appends an event; resolves once it is on disk (fdatasync'd). Synchronous up to the write, so
   * events reach the files in the order they are appended. Across midnight the new day's file is
   * not written at all until every event of the old day's file is on disk: otherwise event N+1
   * (new file) could be fsync'd before event N (old file, its flush still running), and a crash in
   * between would keep N+1 and lose N, a gap in the seq for ever.
   */
  append(event: HubEvent): Promise<void> {
    const day = this.dayFor(event);
    if (!this.current || this.current.day !== day) {
      const previous = this.current;
      this.current = this.newDay(day);
      if (previous) {
        const adapter = previous.adapter;
        this.current.adapter.startAfter(adapter.flushed());
        this.closingAdapter = adapter;
        const closed = adapter.close();
        this.closing.push(closed);
        void closed.then(
          () => {
            if (this.closingAdapter === adapter) this.closingAdapter = null;
          },
          () => undefined,
        );
      }
    }
    this.current.db.data.push(event);
    return this.current.db.write();
  }

  /**
   * Accepts appends again after a failed one (a full disk), once the failed write has been cut back
   * (appends until then are refused with the same error). The adapters forget every event that
   * did not reach the disk; the caller has rolled back its seqs.
   */
  recover(): Promise<void> {
    return this.current?.adapter.reset() ?? Promise.resolve();
  }

  /** What reading the journal found wrong with it so far. */
  damage(): JournalDamage {
    // A damaged line whose event was restored from HQ is mended: it stays in its file, unread.
    const mended = (file: string, line: number) =>
      this.damagedDetails.get(file)?.some((d) => d.line === line && d.seq !== null && this.restored.has(d.seq)) ??
      false;
    return {
      missingSeqs: [...this.missing].filter((seq) => !this.restored.has(seq)).sort((a, b) => a - b),
      damagedLines: [...this.damagedLines]
        .map(([file, lines]) => ({ file, lines: lines.filter((line) => !mended(file, line)) }))
        .filter(({ lines }) => lines.length > 0),
    };
  }

  /** Seqs that should lie between consecutive events but are absent (checked on every read). */
  private noteGaps(events: readonly HubEvent[], previousSeq: number | null): number | null {
    let previous = previousSeq;
    for (const event of events) {
      if (previous !== null && event.seq > previous + 1) {
        for (let seq = previous + 1; seq < event.seq && this.missing.size < MISSING_SEQS_KEPT; seq++) {
          if (!this.restored.has(seq)) this.missing.add(seq);
        }
      }
      previous = event.seq;
    }
    return previous;
  }

  /** Events with seq greater than `afterSeq`, in order, starting at `fromDay` (inclusive). */
  async *replay(afterSeq: number, fromDay = ''): AsyncGenerator<HubEvent> {
    for await (const events of this.replayDays(afterSeq, fromDay)) yield* events;
  }

  /**
   * The same events a day file at a time (never an empty array), for a reader that takes them one
   * by one without an await each (the link to HQ). The current day's array is copied as it is
   * now: events appended later come with the next call.
   */
  async *replayDays(afterSeq: number, fromDay = ''): AsyncGenerator<HubEvent[]> {
    for await (const day of this.replayStoredDays(afterSeq, fromDay, false)) yield day.events;
  }

  /**
   * As replayDays, with each event's JSON as the journal stores it (`withStored`), for a reader that
   * sends events on unchanged (the link to HQ): `stored[i]` is events[i]'s JSON, undefined where
   * the journal has none to give (the current day, held in memory; a line from before checksums).
   */
  async *replayStoredDays(afterSeq: number, fromDay = '', withStored = true): AsyncGenerator<StoredDay> {
    const days = (await this.days()).filter((day) => day >= fromDay);
    // The next day files are read while this day's events are used: the disk and the CPU work at
    // the same time instead of in turn, and a slow read (a busy thread pool) does not stall the CPU.
    // Only the bytes are read ahead: a day is parsed when its turn comes, so the parsed events of
    // days not yet replayed do not sit in the young heap (each garbage collection copies them).
    const ahead: { day: string; bytes: Promise<Buffer | null> | null }[] = [];
    let nextToRead = 0;
    let previous: number | null = null;
    try {
      for (let i = 0; i < days.length; i++) {
        while (nextToRead < days.length && nextToRead < i + READ_AHEAD_DAYS) {
          const day = days[nextToRead++]!;
          const bytes = this.current?.day === day ? null : readJsonLinesBytes(this.pathOf(day));
          // A replay stopped early must not leave a read ahead's failure unhandled.
          bytes?.catch(() => undefined);
          ahead.push({ day, bytes });
        }
        const next = ahead.shift()!;
        const read = await this.readDay(next.day, withStored, next.bytes ?? undefined);
        const { events, stored } = this.withRestored(read, previous, i === days.length - 1, withStored);
        // Gaps are noted before the events are handed out: a reader that stops early still leaves them known.
        previous = this.noteGaps(events, previous);
        const first = events.findIndex((event) => event.seq > afterSeq);
        if (first < 0) continue;
        if (first === 0 && events !== this.current?.db.data) yield { events, stored };
        else yield { events: events.slice(first), stored: stored && stored.slice(first) };
      }
      if (days.length === 0) {
        const { events, stored } = this.withRestored({ events: [], stored: null }, null, true, withStored);
        const after = events.filter((event) => event.seq > afterSeq);
        if (after.length > 0) yield { events: after, stored: stored && stored.slice(events.length - after.length) };
      }
    } finally {
      ahead.length = 0;
    }
  }

  /**
   * A day file's events with the restored ones that belong among them merged in by seq: those
   * after `previous` (the last seq of the days before) and before this day's last, or every one
   * left for the last day. The day's own array is returned unchanged when none belongs there.
   */
  private withRestored(day: StoredDay, previous: number | null, lastDay: boolean, withStored: boolean): StoredDay {
    if (this.restored.size === 0) return day;
    const last = day.events.at(-1)?.seq;
    const from = previous ?? 0;
    const belongs = [...this.restored.keys()]
      .filter((seq) => seq > from && (lastDay || (last !== undefined && seq < last)))
      .sort((a, b) => a - b);
    if (belongs.length === 0) return day;
    const events: HubEvent[] = [];
    const stored: (Buffer | undefined)[] = [];
    let r = 0;
    day.events.forEach((event, i) => {
      while (r < belongs.length && belongs[r]! < event.seq) {
        const restored = this.restored.get(belongs[r++]!)!;
        events.push(restored.event);
        stored.push(restored.stored);
      }
      // A seq restored and also good in a day file (never: only missing seqs are restored) is read once.
      if (this.restored.has(event.seq) && belongs.includes(event.seq)) return;
      events.push(event);
      stored.push(day.stored?.[i]);
    });
    while (r < belongs.length) {
      const restored = this.restored.get(belongs[r++]!)!;
      events.push(restored.event);
      stored.push(restored.stored);
    }
    return { events, stored: withStored ? stored : null };
  }

  private async eventsOf(day: string): Promise<HubEvent[]> {
    return (await this.readDay(day, false)).events;
  }

  private async readDay(day: string, withStored: boolean, prefetched?: Promise<Buffer | null>): Promise<StoredDay> {
    if (this.current?.day === day) return { events: this.current.db.data, stored: null };
    // Only the newest file is ever repaired (at open); replay never changes a file.
    const read = await new JsonLinesAppendFile<HubEvent>(this.pathOf(day), isHubEvent, this.onRead, {
      repairTail: false,
    }).readStored(prefetched);
    const events = read?.entries ?? [];
    this.placeDamage(day, events);
    this.dayBounds.set(day, boundsOf(events));
    // Without `withStored`, the file's bytes are not kept alive by views into them.
    return { events, stored: withStored ? (read?.stored ?? null) : null };
  }

  /**
   * Seqs from `fromSeq` to `toSeq` that are not in the journal (at most `limit`), from `fromDay` on:
   * the damage already noted, and the gaps between day files. Only a day file never read before
   * (by the start-up, a replay, HQ's link) is read, so a resend does not read the journal twice.
   */
  async missingSeqs(fromSeq: number, toSeq: number, fromDay = '', limit = MISSING_SEQS_KEPT): Promise<number[]> {
    const missing = new Set<number>();
    const add = (from: number, to: number) => {
      for (let seq = Math.max(from, fromSeq); seq <= Math.min(to, toSeq) && missing.size < limit; seq++) {
        if (!this.restored.has(seq)) missing.add(seq);
      }
    };
    let previous: number | null = null;
    for (const day of await this.days()) {
      if (day < fromDay) continue;
      let bounds: { first: number; last: number } | null;
      if (this.current?.day === day) bounds = boundsOf(this.current.db.data);
      else if (this.dayBounds.has(day)) bounds = this.dayBounds.get(day)!;
      else {
        const events = await this.eventsOf(day);
        this.noteGaps(events, null);
        bounds = boundsOf(events);
      }
      if (!bounds) continue;
      add(previous === null ? fromSeq : previous + 1, bounds.first - 1);
      previous = bounds.last;
      if (previous >= toSeq) break;
    }
    add(previous === null ? fromSeq : previous + 1, toSeq);
    for (const seq of this.missing) {
      if (seq >= fromSeq && seq <= toSeq && missing.size < limit && !this.restored.has(seq)) missing.add(seq);
    }
    return [...missing].sort((a, b) => a - b);
  }

  /**
   * How long the journal's oldest running write has been running (ms), or null when none is: the
   * hub's watchdog stops telling systemd all is well when a write (fdatasync) never finishes.
   * The day file being written, the one before it (still flushing after midnight) and restores.
   */
  flushRunningMs(now = performance.now()): number | null {
    let longest: number | null = null;
    for (const adapter of [this.current?.adapter, this.closingAdapter, this.restoredFile?.adapter]) {
      const running = adapter?.flushRunningMs(now) ?? null;
      if (running !== null && (longest === null || running > longest)) longest = running;
    }
    return longest;
  }

  async close(): Promise<void> {
    await this.restoredFile?.adapter.close();
    await this.current?.adapter.close();
    await Promise.all(this.closing);
  }

  private pathOf(day: string): string {
    return path.join(this.dir, `${day}.jsonl`);
  }

  private newDay(day: string, repairTail = true): DayFile {
    const file: DayFile = { day, adapter: null as never, db: null as never, report: null };
    file.adapter = new JsonLinesAppendFile<HubEvent>(
      this.pathOf(day),
      isHubEvent,
      (report) => {
        file.report = report;
        this.onRead(report);
      },
      { repairTail },
    );
    file.db = new Low<HubEvent[]>(file.adapter, []);
    return file;
  }

  private async openDay(day: string, repairTail: boolean): Promise<DayFile> {
    const file = this.newDay(day, repairTail);
    await file.db.read();
    return file;
  }
}
