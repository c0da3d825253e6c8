/**
 * Backups of a running hub: the files a restore needs (the journal, members' keys, the identity,
 * secrets and settings files), taken at one seq while the store keeps selling, encrypted (see
 * storage/backup-archive.ts) into the backup directory the technician sets, the newest N kept.
 *
 * Consistent at one seq: the backup's seq is the last committed one when it starts (every sale a
 * tablet was told about is at or below it, and on disk). The journal's files are copied and cut
 * after that seq's line, so an event written meanwhile, or one whose write had not yet been
 * made durable, is not in the backup. Older day files never change; the newest is only appended to.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  BACKUP_SUFFIX,
  checkPassphrase,
  writeBackup,
  type ArchiveEntry,
  type BackupHeader,
} from '../storage/backup-archive.js';
import { ensureDirectory } from '../storage/fsync.js';

/** What health shows of backups (no passphrase, no personal data). */
export interface BackupView {
  /** A backup directory is set (AYI_BACKUP_DIR): nightly backups run. */
  enabled: boolean;
  keep: number;
  /** The newest backup file in the directory, and when it was made. */
  lastBackupAt: string | null;
  lastBackupFile: string | null;
  lastBackupSeq: number | null;
  /** The last attempt (nightly or `ayi backup`) since the hub started: ok, failed, or none yet. */
  lastAttemptAt: string | null;
  lastResult: 'ok' | 'failed' | null;
  lastError: string | null;
}

export interface BackupResult {
  file: string;
  seq: number;
  bytes: number;
  files: number;
  createdAt: string;
  /** Older backups removed to keep the newest `keep`. */
  removed: string[];
}

export interface BackupDeps {
  dataDir: string;
  dir: string | null;
  keep: number;
  /** The passphrase, read when a backup is made (a file may be fixed without a restart). */
  passphrase: () => Promise<string | null>;
  identity: () => { chainId: string; storeId: string; epoch: string };
  /** The last committed seq. */
  lastSeq: () => number;
  hubVersion: string;
  clock: () => Date;
}

/** A backup is `backup_old` once the newest is older than this (a night missed, and the next). */
export const BACKUP_OLD_AFTER_MS = 48 * 3600 * 1000;

/** Top-level files of the data directory a restore needs (the rest is rebuilt or is the device's). */
const DATA_FILES = /^[a-z][a-z0-9-]*\.json$/;
/** Directories whose files are kept whole-lines only (append-only JSON Lines). */
const LINE_DIRS = ['journal', 'members'];

export class BackupService {
  private running: Promise<BackupResult> | null = null;
  private last: { at: string; ok: boolean; error: string | null } | null = null;
  private newest: { file: string; at: string; seq: number } | null = null;
  private readonly startedAt: number;

  constructor(private readonly deps: BackupDeps) {
    this.startedAt = deps.clock().getTime();
  }

  /** Finds the newest backup already in the directory (for health after a restart). */
  async load(): Promise<void> {
    if (!this.deps.dir) return;
    const names = await this.ownBackups().catch(() => []);
    const newest = names.at(-1);
    if (newest) this.newest = { file: newest, ...parseName(newest) };
  }

  /** Makes a backup now; a second request while one is written gets that one's result. */
  create(): Promise<BackupResult> {
    this.running ??= this.createNow().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async createNow(): Promise<BackupResult> {
    const createdAt = this.deps.clock();
    try {
      const dir = this.deps.dir;
      if (!dir) {
        throw new Error('no backup directory: set AYI_BACKUP_DIR (a USB stick or a mounted share) in /etc/ayi/hub.env');
      }
      const passphrase = checkPassphrase(await this.deps.passphrase());
      await ensureDirectory(dir);
      const seq = this.deps.lastSeq();
      const identity = this.deps.identity();
      const name = backupName(identity.chainId, identity.storeId, createdAt, seq);
      const header: Omit<BackupHeader, 'format' | 'kdf' | 'iv' | 'keyCheck'> = {
        ...identity,
        seq,
        createdAt: createdAt.toISOString(),
        hubVersion: this.deps.hubVersion,
      };
      const { bytes, files } = await writeBackup(
        path.join(dir, name),
        header,
        dataFiles(this.deps.dataDir, seq),
        passphrase,
      );
      const removed = await this.prune();
      this.newest = { file: name, at: createdAt.toISOString(), seq };
      this.last = { at: createdAt.toISOString(), ok: true, error: null };
      return { file: path.join(dir, name), seq, bytes, files, createdAt: header.createdAt, removed };
    } catch (err) {
      this.last = { at: createdAt.toISOString(), ok: false, error: (err as Error).message };
      throw err;
    }
  }

  /** Removes all but the newest `keep` backups of this store (never another store's, never other files). */
  private async prune(): Promise<string[]> {
    const names = await this.ownBackups();
    const removed = names.slice(0, Math.max(0, names.length - this.deps.keep));
    for (const name of removed) await fs.rm(path.join(this.deps.dir!, name), { force: true });
    return removed;
  }

  /** This store's backup files in the directory, oldest first (the names sort by time). */
  private async ownBackups(): Promise<string[]> {
    const { chainId, storeId } = this.deps.identity();
    const prefix = `ayi-${chainId}-${storeId}-`;
    const names = await fs.readdir(this.deps.dir!);
    return names.filter((name) => name.startsWith(prefix) && name.endsWith(BACKUP_SUFFIX)).sort();
  }

  view(): BackupView {
    return {
      enabled: this.deps.dir !== null,
      keep: this.deps.keep,
      lastBackupAt: this.newest?.at ?? null,
      lastBackupFile: this.newest?.file ?? null,
      lastBackupSeq: this.newest?.seq ?? null,
      lastAttemptAt: this.last?.at ?? null,
      lastResult: this.last ? (this.last.ok ? 'ok' : 'failed') : null,
      lastError: this.last?.error ?? null,
    };
  }

  /** The backup problems of health: the last attempt failed, or the newest backup is too old. */
  problems(): ('backup_failed' | 'backup_old')[] {
    if (!this.deps.dir) return [];
    const problems: ('backup_failed' | 'backup_old')[] = [];
    if (this.last && !this.last.ok) problems.push('backup_failed');
    // A box just set up has had no night yet: counted from the start until its first backup.
    const since = this.newest ? Date.parse(this.newest.at) : this.startedAt;
    if (this.deps.clock().getTime() - since > BACKUP_OLD_AFTER_MS) problems.push('backup_old');
    return problems;
  }
}

/** `ayi-<chain>-<store>-<UTC time>-seq<N>.ayibackup`: sorts by time, says what it holds. */
export function backupName(chainId: string, storeId: string, at: Date, seq: number): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.(\d{3})Z$/, '$1Z');
  return `ayi-${chainId}-${storeId}-${stamp}-seq${seq}${BACKUP_SUFFIX}`;
}

function parseName(name: string): { at: string; seq: number } {
  const match = /-(\d{8})T(\d{6})(\d{3})Z-seq(\d+)\.ayibackup$/.exec(name);
  if (!match) return { at: new Date(0).toISOString(), seq: 0 };
  const [, day, time, ms, seq] = match;
  const at = `${day!.slice(0, 4)}-${day!.slice(4, 6)}-${day!.slice(6)}T${time!.slice(0, 2)}:${time!.slice(2, 4)}:${time!.slice(4)}.${ms}Z`;
  return { at, seq: Number(seq) };
}

/**
 * The data directory's files a restore needs, as of `seq`: the top-level settings files, members'
 * keys, and the journal cut after `seq` (see cutAtSeq). Snapshots are left out: the restored hub
 * rebuilds its projections from the journal. Temporary files, the socket, print spools are left out.
 */
export async function collectDataFiles(dataDir: string, seq: number): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  for await (const entry of dataFiles(dataDir, seq)) entries.push(entry);
  return entries;
}

/** The same, one file at a time (read when the backup gets to it). */
export async function* dataFiles(dataDir: string, seq: number): AsyncGenerator<ArchiveEntry> {
  for (const name of (await fs.readdir(dataDir)).sort()) {
    if (!DATA_FILES.test(name)) continue;
    const bytes = await readIfFile(path.join(dataDir, name));
    if (bytes) yield { name, bytes };
  }
  for (const dir of LINE_DIRS) {
    let names: string[];
    try {
      names = (await fs.readdir(path.join(dataDir, dir))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const name of names) {
      if (!name.endsWith('.jsonl')) continue;
      const bytes = await readIfFile(path.join(dataDir, dir, name));
      if (!bytes) continue;
      const kept = dir === 'journal' ? cutAtSeq(bytes, seq) : wholeLines(bytes);
      if (kept.length > 0) yield { name: `${dir}/${name}`, bytes: kept };
    }
  }
}

async function readIfFile(file: string): Promise<Buffer | null> {
  try {
    const stat = await fs.lstat(file);
    return stat.isFile() ? await fs.readFile(file) : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The complete (newline-terminated) lines: an append in progress is not half copied. */
function wholeLines(bytes: Buffer): Buffer {
  return bytes.subarray(0, bytes.lastIndexOf(0x0a) + 1);
}

/** The envelope's seq of a journal line (the envelope's fields come before `data`). */
const SEQ_OF_LINE = /"seq":(\d+)/;

/**
 * A journal file's lines up to the last one of `seq` or before, without those after `seq` (the
 * restored-events file is not in seq order). A damaged line before that point is kept as it is,
 * as in the journal (evidence, and its seq stays counted as given out).
 */
export function cutAtSeq(bytes: Buffer, seq: number): Buffer {
  const lines: { start: number; end: number; seq: number | null }[] = [];
  for (let start = 0; start < bytes.length;) {
    const newline = bytes.indexOf(0x0a, start);
    if (newline < 0) break;
    const head = bytes.subarray(start, Math.min(newline, start + 400)).toString('latin1');
    const match = SEQ_OF_LINE.exec(head);
    lines.push({ start, end: newline + 1, seq: match ? Number(match[1]) : null });
    start = newline + 1;
  }
  let last = -1;
  lines.forEach((line, i) => {
    if (line.seq !== null && line.seq <= seq) last = i;
  });
  const kept = lines.slice(0, last + 1).filter((line) => line.seq === null || line.seq <= seq);
  return Buffer.concat(kept.map((line) => bytes.subarray(line.start, line.end)));
}
