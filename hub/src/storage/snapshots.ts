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
import { DurableJsonFile } from './durable-json.adapter.js';
import { ensureDirectory, fsyncDirectory } from './fsync.js';

/** Bumped when the projections change shape: an older snapshot is skipped and the journal replayed. */
export const SNAPSHOT_FORMAT = 'ayi.snapshot/4';
const SNAPSHOT_FILE = /^snapshot-(\d{12})\.json$/;
const INTERRUPTED_SNAPSHOT_FILE = /^snapshot-\d{12}\.json\.\d+\.tmp$/;
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

/** Between a snapshot's header and its state: the state's JSON runs from here to the last byte but one. */
const STATE_MARKER = Buffer.from(',"state":', 'utf8');
/** The state's JSON is encoded to UTF-8 this many characters at a time. */
const PIECE_CHARS = 1 << 18;
/** Levels of the state walked into before the rest of a value is stringified whole. */
const WALK_DEPTH = 3;
/** Where an encoding spread over several turns may pause: between the items of the top two levels. */
const PAUSE_POINT = Symbol('pause point');

/**
 * A snapshot encoded a slice at a time (SnapshotStore.save), so that serialising a big projection
 * never holds the event loop for long: between slices the hub answers requests and commits events.
 * The state handed over must not change meanwhile, except for the items named in `frozen`: an item
 * about to change is put there first (with its JSON as it was), and that JSON is written for it.
 */
export interface EncodeSlicing {
  /** Encoding time between two pauses, ms. */
  sliceMs: number;
  /**
   * Encoding time before the first pause, ms: a small snapshot is encoded in one go (finished
   * sooner, so a crash or a stop catches it in the middle less often), a big one in slices.
   */
  firstSliceMs: number;
  /**
   * Length of a pause, ms (0: one turn of the event loop). A sale takes several turns (its request,
   * the journal's write and fdatasync, the answer): a pause long enough for all of them lets it meet
   * one slice at most, instead of one at every turn.
   */
  pauseMs: number;
  /** Items (below the top two levels of the state) that changed since the save began: their JSON then. */
  frozen: ReadonlyMap<object, string>;
}

/**
 * JSON text of `value`, the same as JSON.stringify(value) gives, in pieces: the top `depth` levels
 * of objects and arrays are walked, and what is below them is stringified one value at a time.
 * PAUSE_POINT comes between the items of the top two levels (never inside one of them). (Plain data
 * only: no toJSON, which the state does not use.)
 */
function* jsonPieces(
  value: unknown,
  depth: number,
  frozen: ReadonlyMap<object, string> | null,
): Generator<string | typeof PAUSE_POINT> {
  const text = frozen !== null && typeof value === 'object' && value !== null ? frozen.get(value) : undefined;
  if (text !== undefined) {
    yield text;
    return;
  }
  if (depth === 0 || value === null || typeof value !== 'object') {
    yield JSON.stringify(value) ?? 'null';
    return;
  }
  const pauses = depth >= WALK_DEPTH - 1;
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      yield* jsonPieces(value[i], depth - 1, frozen);
      if (pauses) yield PAUSE_POINT;
    }
    yield ']';
    return;
  }
  let separator = '{';
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    yield `${separator}${JSON.stringify(key)}:`;
    separator = ',';
    yield* jsonPieces(item, depth - 1, frozen);
    if (pauses) yield PAUSE_POINT;
  }
  yield separator === '{' ? '{}' : '}';
}

/** Lets the event loop run for `ms` (0: one turn, I/O callbacks and then this). */
const pause = (ms: number) =>
  new Promise<void>((resolve) => (ms > 0 ? setTimeout(resolve, ms) : setImmediate(resolve)));

/**
 * The state as UTF-8 pieces of about a quarter of a megabyte, and the SHA-256 of all of them: a
 * snapshot never holds its whole JSON as one string (tens of MB in a big store, twice that as
 * UTF-16, and a second copy to write it), which would grow the hub's memory for good. Without
 * `slicing` the whole state is encoded before this returns (a promise already settled).
 */
async function encodeState(
  state: unknown,
  slicing: EncodeSlicing | null,
): Promise<{ pieces: Buffer[]; checksum: string }> {
  const hash = createHash('sha256');
  const pieces: Buffer[] = [];
  let pending: string[] = [];
  let pendingChars = 0;
  const flush = () => {
    const piece = Buffer.from(pending.join(''), 'utf8');
    hash.update(piece);
    pieces.push(piece);
    pending = [];
    pendingChars = 0;
  };
  let sliceStart = performance.now();
  let sliceMs = slicing?.firstSliceMs ?? 0;
  for (const text of jsonPieces(state, WALK_DEPTH, slicing?.frozen ?? null)) {
    if (text === PAUSE_POINT) {
      if (slicing && performance.now() - sliceStart >= sliceMs) {
        await pause(slicing.pauseMs);
        sliceStart = performance.now();
        sliceMs = slicing.sliceMs;
      }
      continue;
    }
    pending.push(text);
    pendingChars += text.length;
    if (pendingChars >= PIECE_CHARS) flush();
  }
  if (pendingChars > 0) flush();
  return { pieces, checksum: hash.digest('hex') };
}

export class SnapshotStore<S> {
  constructor(
    readonly dir: string,
    private readonly onSkip: (file: string, reason: string) => void = () => {},
    private readonly space: SnapshotSpace | null = null,
  ) {}

  /**
   * Creates the directory, and removes the temporary files of snapshots a crash or power cut
   * interrupted (`snapshot-….json.<pid>.tmp`): each is as big as a snapshot, and nothing else would
   * ever remove them. Call once at start, before the first save.
   */
  async ensureDirectory(): Promise<void> {
    await ensureDirectory(this.dir);
    const interrupted = (await fs.readdir(this.dir)).filter((name) => INTERRUPTED_SNAPSHOT_FILE.test(name));
    for (const name of interrupted) await fs.rm(path.join(this.dir, name), { force: true });
  }

  /**
   * Saves a snapshot. Without `slicing` the state is serialised before the first await, so later
   * changes to the live projection cannot leak into it; with it, a slice at a time (see
   * EncodeSlicing for what the caller keeps from changing). Call ensureDirectory() once beforehand.
   */
  async save(seq: number, journalDay: string, takenAt: Date, state: S, slicing?: EncodeSlicing): Promise<string> {
    const filename = path.join(this.dir, `snapshot-${String(seq).padStart(12, '0')}.json`);
    const { pieces, checksum } = await encodeState(state, slicing ?? null);
    await this.makeRoom(pieces.reduce((sum, piece) => sum + piece.length, 0) + 1024);
    const header: Omit<SnapshotFile<S>, 'state'> = {
      format: SNAPSHOT_FORMAT,
      seq,
      journalDay,
      takenAt: takenAt.toISOString(),
      checksum,
    };
    // The header, then the state spliced in after it: the file is JSON of a SnapshotFile.
    const head = Buffer.from(JSON.stringify(header).slice(0, -1), 'utf8');
    await new DurableJsonFile(filename).writeBytes([head, STATE_MARKER, ...pieces, Buffer.from('}')]);
    await this.prune();
    return filename;
  }

  /** The newest snapshot that reads back whole, or null. */
  async loadNewest(): Promise<SnapshotFile<S> | null> {
    for (const name of (await this.files()).reverse()) {
      const filename = path.join(this.dir, name);
      try {
        return await this.load(filename);
      } catch (err) {
        this.onSkip(filename, (err as Error).message);
      }
    }
    return null;
  }

  /**
   * Reads one snapshot, checking the state's bytes against the checksum before parsing them (a
   * second stringify of the parsed state, to check it, would cost as much memory as the file).
   */
  private async load(filename: string): Promise<SnapshotFile<S>> {
    const bytes = await fs.readFile(filename);
    const marker = bytes.indexOf(STATE_MARKER);
    if (marker < 0 || bytes.at(-1) !== 0x7d) throw new Error('unknown format or truncated');
    const header = JSON.parse(`${bytes.toString('utf8', 0, marker)}}`) as Omit<SnapshotFile<S>, 'state'>;
    if (header.format !== SNAPSHOT_FORMAT) throw new Error('unknown format');
    const stateBytes = bytes.subarray(marker + STATE_MARKER.length, bytes.length - 1);
    if (createHash('sha256').update(stateBytes).digest('hex') !== header.checksum) {
      throw new Error('checksum mismatch');
    }
    return { ...header, state: JSON.parse(stateBytes.toString('utf8')) as S };
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

  /** Removes every snapshot taken at `seq` or later (durably: the directory is fsync'd). */
  async removeFrom(seq: number): Promise<number> {
    const stale = (await this.files()).filter((name) => Number(SNAPSHOT_FILE.exec(name)![1]) >= seq);
    for (const name of stale) await fs.rm(path.join(this.dir, name), { force: true });
    if (stale.length > 0) await fsyncDirectory(this.dir);
    return stale.length;
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
