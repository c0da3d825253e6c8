/**
 * The data directory's format (`format.json`): which layout of the journal, snapshots and settings
 * it holds. Before it existed, a hub started on data a newer version wrote read what it did not
 * know as damage (journal lines of another schema skipped, snapshots of a newer format ignored,
 * new event types dropped) and went on selling on a store with sales missing. Now a hub refuses a
 * data directory newer than it knows, and upgrades an older one once with the forward migrations.
 *
 * DATA_FORMAT goes up by one with every change an older hub would misread; the change comes with a
 * migration `from` the format before it. A release says its format in RELEASE.json (`dataFormat`),
 * so `ayi update` and `ayi rollback` know which versions can run on the data.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DurableJsonFile } from './durable-json.adapter.js';

/** The data format this version reads and writes. */
export const DATA_FORMAT = 1;
export const DATA_FORMAT_FILE = 'format.json';
/** A file every data directory a hub ever ran on holds (the store's identity). */
const EXISTING_DATA_MARK = 'store.json';

export interface DataFormatFile {
  format: number;
  /** The hub version that wrote this format (for the message to whoever runs an older one). */
  writtenBy: string;
  changedAt: string;
}

/**
 * A step from format `from` to `from + 1`. It runs once: the format is written right after it. A
 * power cut between its end and that write runs it again at the next start, so it must give the
 * same result when run on its own output.
 */
export interface DataMigration {
  from: number;
  description: string;
  run: (dataDir: string) => Promise<void>;
}

/** The forward migrations, oldest first. None yet: format 1 is the first with a marker. */
export const DATA_MIGRATIONS: readonly DataMigration[] = [];

/** The data directory is in a format newer than this version reads. */
export class DataFormatTooNewError extends Error {
  constructor(
    readonly dataDir: string,
    readonly found: DataFormatFile,
    readonly known: number,
    readonly version: string,
  ) {
    super(
      `The data directory ${dataDir} is in data format ${found.format}, written by Ayi ${found.writtenBy}; this ` +
        `version (${version}) reads format ${known} at most and does not start on it (it would misread the ` +
        `store's sales). Run \`sudo ayi update\` with Ayi ${found.writtenBy} or newer, or \`sudo ayi rollback\` ` +
        'if that version was just rolled back from.',
    );
    this.name = 'DataFormatTooNewError';
  }
}

/** The data directory's format: from its marker, 1 for data written before markers, null for no data yet. */
export async function readDataFormat(dataDir: string): Promise<DataFormatFile | null> {
  const stored = await new DurableJsonFile<DataFormatFile>(path.join(dataDir, DATA_FORMAT_FILE)).read();
  if (stored !== null) {
    if (!Number.isInteger(stored.format) || stored.format < 1) {
      throw new Error(`${path.join(dataDir, DATA_FORMAT_FILE)} names no data format (${JSON.stringify(stored)})`);
    }
    return stored;
  }
  try {
    await fs.access(path.join(dataDir, EXISTING_DATA_MARK));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return { format: 1, writtenBy: 'a version before data formats', changedAt: '' };
}

export interface PreparedDataFormat {
  format: number;
  /** The formats migrated from, in order (empty: nothing to do). */
  migratedFrom: number[];
}

/**
 * Before the hub opens anything in the data directory: refuses a newer format, runs the migrations
 * from an older one (each once, its result durable before the next), and marks a new directory.
 */
export async function prepareDataFormat(
  dataDir: string,
  options: {
    version: string;
    clock?: () => Date;
    current?: number;
    migrations?: readonly DataMigration[];
    onMigrated?: (migration: DataMigration) => void;
  },
): Promise<PreparedDataFormat> {
  const current = options.current ?? DATA_FORMAT;
  const migrations = options.migrations ?? DATA_MIGRATIONS;
  const clock = options.clock ?? (() => new Date());
  const marker = new DurableJsonFile<DataFormatFile>(path.join(dataDir, DATA_FORMAT_FILE));
  const write = (format: number) =>
    marker.write({ format, writtenBy: options.version, changedAt: clock().toISOString() });

  const found = await readDataFormat(dataDir);
  if (found === null) {
    await write(current);
    return { format: current, migratedFrom: [] };
  }
  if (found.format > current) throw new DataFormatTooNewError(dataDir, found, current, options.version);
  const migratedFrom: number[] = [];
  for (let format = found.format; format < current; format++) {
    const migration = migrations.find((m) => m.from === format);
    if (!migration) throw new Error(`no data migration from format ${format} to ${format + 1}`);
    await migration.run(dataDir);
    await write(format + 1);
    migratedFrom.push(format);
    options.onMigrated?.(migration);
  }
  // Data from before markers gets one, so the next version knows where it starts from.
  if (migratedFrom.length === 0 && found.changedAt === '') await write(current);
  return { format: current, migratedFrom };
}
