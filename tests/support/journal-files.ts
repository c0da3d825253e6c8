/**
 * Reads a hub's data directory the way an auditor would, without the hub's own code: every
 * journal file line by line (strictly: each line must be a whole JSON event ending in a newline,
 * its CRC32C right),
 * and the snapshot files. For crash tests and the bench.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import type { HubEvent, SaleCompletedData } from '../../hub/src/protocol/events.ts';

/** `{"crc32c":"<8 hex>",` then the rest of the event's JSON, whose bytes the checksum covers. */
const CHECKSUMMED_LINE = /^\{"crc32c":"([0-9a-f]{8})",(.*)$/s;

/** A line's event, the checksum checked (lines from before checksums have none); throws if damaged. */
export function parseJournalLine(line: string): HubEvent {
  const match = CHECKSUMMED_LINE.exec(line);
  if (!match) return JSON.parse(line) as HubEvent;
  const rest = match[2]!;
  if (crc32c(Buffer.from(rest, 'utf8')) !== Number.parseInt(match[1]!, 16)) {
    throw new Error('checksum mismatch');
  }
  return JSON.parse(`{${rest}`) as HubEvent;
}

const DAY_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
const SNAPSHOT_FILE = /^snapshot-(\d{12})\.json$/;

export interface JournalFileScan {
  day: string;
  file: string;
  bytes: number;
  events: number;
}

export interface JournalScan {
  files: JournalFileScan[];
  /** Every event of every file, in file order (oldest day first). */
  events: HubEvent[];
  /** Everything wrong with the files; empty when they are sound. */
  problems: string[];
}

export function journalDir(dataDir: string): string {
  return path.join(dataDir, 'journal');
}

/** Day files, oldest first. */
export function journalDays(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(journalDir(dataDir));
  } catch {
    return [];
  }
  return names
    .map((name) => DAY_FILE.exec(name)?.[1])
    .filter((day): day is string => day !== undefined)
    .sort();
}

/**
 * Reads every journal file. Reports (never throws on) a line that does not parse, a file that does
 * not end with a newline, an event without the envelope, and seqs that are not exactly 1..N in order.
 */
export function scanJournal(
  dataDir: string,
  expected?: { chainId: string; storeId: string; epoch: string },
): JournalScan {
  const files: JournalFileScan[] = [];
  const events: HubEvent[] = [];
  const problems: string[] = [];
  for (const day of journalDays(dataDir)) {
    const file = path.join(journalDir(dataDir), `${day}.jsonl`);
    const text = readFileSync(file, 'utf8');
    const bytes = Buffer.byteLength(text);
    if (bytes > 0 && !text.endsWith('\n')) problems.push(`${day}.jsonl: does not end with a newline (torn tail left)`);
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    let count = 0;
    lines.forEach((line, index) => {
      let event: HubEvent;
      try {
        event = parseJournalLine(line);
      } catch (err) {
        problems.push(`${day}.jsonl line ${index + 1}: damaged (${(err as Error).message}): ${line.slice(0, 80)}`);
        return;
      }
      if (event.schema !== 'ayi.event/1' || !Number.isInteger(event.seq) || typeof event.type !== 'string') {
        problems.push(`${day}.jsonl line ${index + 1}: not an ayi.event/1 envelope`);
        return;
      }
      if (
        expected &&
        (event.chainId !== expected.chainId || event.storeId !== expected.storeId || event.epoch !== expected.epoch)
      ) {
        problems.push(`${day}.jsonl line ${index + 1}: seq ${event.seq} has another chain/store/epoch`);
      }
      events.push(event);
      count += 1;
    });
    files.push({ day, file, bytes, events: count });
  }
  problems.push(...checkSequence(events));
  return { files, events, problems };
}

/** Seqs must be 1, 2, ..., N in file order: no gap, no repeat, nothing out of order. */
export function checkSequence(events: HubEvent[]): string[] {
  const problems: string[] = [];
  events.forEach((event, index) => {
    if (event.seq !== index + 1 && problems.length < 20) {
      problems.push(`event #${index + 1} in the journal has seq ${event.seq} (expected ${index + 1})`);
    }
  });
  const ids = new Set<string>();
  for (const event of events) {
    if (ids.has(event.eventId)) problems.push(`eventId ${event.eventId} appears twice`);
    ids.add(event.eventId);
  }
  return problems;
}

export interface JournalSales {
  /** saleId -> the sale.completed event(s) carrying it. */
  bySaleId: Map<string, (SaleCompletedData & { seq: number })[]>;
  /** idempotency key -> sale ids recorded under it. */
  byKey: Map<string, string[]>;
}

export function salesInJournal(events: HubEvent[]): JournalSales {
  const bySaleId = new Map<string, (SaleCompletedData & { seq: number })[]>();
  const byKey = new Map<string, string[]>();
  for (const event of events) {
    if (event.type !== 'sale.completed') continue;
    const sale = { ...event.data, seq: event.seq };
    bySaleId.set(sale.saleId, [...(bySaleId.get(sale.saleId) ?? []), sale]);
    byKey.set(sale.idempotencyKey, [...(byKey.get(sale.idempotencyKey) ?? []), sale.saleId]);
  }
  return { bySaleId, byKey };
}

export interface SnapshotScan {
  snapshots: { file: string; seq: number; bytes: number }[];
  /** Leftover temporary files (a crash in the middle of writing a snapshot). */
  leftovers: string[];
  problems: string[];
}

/** Every snapshot file must be whole JSON in the ayi.snapshot/4 format, named by its seq. */
export function scanSnapshots(dataDir: string): SnapshotScan {
  const dir = path.join(dataDir, 'snapshots');
  const snapshots: SnapshotScan['snapshots'] = [];
  const leftovers: string[] = [];
  const problems: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return { snapshots, leftovers, problems };
  }
  for (const name of names) {
    const match = SNAPSHOT_FILE.exec(name);
    if (!match) {
      leftovers.push(name);
      continue;
    }
    const text = readFileSync(path.join(dir, name), 'utf8');
    try {
      const parsed = JSON.parse(text) as { format?: string; seq?: number; state?: { lastSeq?: number } };
      if (parsed.format !== 'ayi.snapshot/4') problems.push(`${name}: format ${String(parsed.format)}`);
      if (parsed.seq !== Number(match[1]) || parsed.state?.lastSeq !== parsed.seq) {
        problems.push(
          `${name}: seq ${String(parsed.seq)} / state.lastSeq ${String(parsed.state?.lastSeq)} do not match its name`,
        );
      }
      snapshots.push({ file: name, seq: Number(match[1]), bytes: Buffer.byteLength(text) });
    } catch (err) {
      problems.push(`${name}: not JSON (${(err as Error).message})`);
    }
  }
  return { snapshots, leftovers, problems };
}

export function readStoreIdentity(dataDir: string): { chainId: string; storeId: string; epoch: string } {
  return JSON.parse(readFileSync(path.join(dataDir, 'store.json'), 'utf8')) as {
    chainId: string;
    storeId: string;
    epoch: string;
  };
}
