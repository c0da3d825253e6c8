/**
 * Free space on the data directory's filesystem: how much is left, how fast it goes, and whether
 * the disk is full.
 *
 * `low`: free space is under the warning threshold (a share of the disk or a size, whichever comes
 * first), days before it runs out. `full`: a write failed for want of space (ENOSPC), or free space
 * (or free inodes) is down to the last few. While full the hub stays up: reads are served, writes
 * are still tried (each one is the probe that notices space came back) and answered 507 while they
 * fail. A full state that a failed write set is lifted only by a write that succeeds (statfs can
 * show room a write still cannot use: reserved blocks, no inodes); one the probe set is lifted by
 * the probe. `error`: the disk refused a write for another reason (EIO: a failing card, EROFS: the
 * kernel remounted it read-only), until a write succeeds again.
 *
 * The rate is measured on a monotonic clock (performance.now()): a clock set by NTP or by hand
 * does not change how fast the disk fills.
 */
import { promises as fs } from 'node:fs';
import type { StorageState } from '../protocol/api.js';

export type { StorageState };

export interface StorageView {
  state: StorageState;
  freeBytes: number | null;
  totalBytes: number | null;
  freePercent: number | null;
  /** Days until the disk is full at the rate measured since start-up (null: not measured yet, or not shrinking). */
  daysLeft: number | null;
  /** The thresholds under which `low` is reported. */
  minFreePercent: number;
  minFreeBytes: number;
  /** The latest write that failed for want of space (`ENOSPC (write)`), and when. */
  lastFullError: string | null;
  lastFullAt: string | null;
  /** The write error (`EIO (write)`, `EROFS (open)`) that holds the `error` state, and when; null once a write succeeds. */
  storageError: string | null;
  storageErrorAt: string | null;
}

export interface StorageMonitorOptions {
  /** `low` under this share of the disk free (0 disables). */
  minFreePercent: number;
  /** `low` under this many bytes free (0 disables). */
  minFreeBytes: number;
  /** How often free space is measured (ms); faster while full, to notice space coming back. */
  probeMs: number;
  fullProbeMs: number;
  clock?: () => Date;
  /** Milliseconds on a clock that never jumps, for the rate (performance.now() by default). */
  monotonicMs?: () => number;
  /** Free and total bytes of the filesystem, and free inodes when known (fs.statfs by default). */
  measure?: (dir: string) => Promise<FilesystemSpace>;
}

export interface FilesystemSpace {
  freeBytes: number;
  totalBytes: number;
  /** Files that can still be created (statfs f_ffree); null where the filesystem does not say. */
  freeInodes?: number | null;
}

/** Under this much free space the disk counts as full even before a write fails. */
export const FULL_BELOW_BYTES = 1024 * 1024;
/** The rate needs this long a history before it predicts anything. */
const RATE_MIN_SPAN_MS = 10 * 60 * 1000;
/** Samples kept for the rate (at one a minute: about three days). */
const SAMPLES_KEPT = 4096;

export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The disk cannot be written for a reason other than space: a failing card (EIO), read-only (EROFS). */
export function isStorageError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EIO' || code === 'EROFS';
}

async function statfsOf(dir: string): Promise<FilesystemSpace> {
  const stats = await fs.statfs(dir);
  return {
    freeBytes: stats.bavail * stats.bsize,
    totalBytes: stats.blocks * stats.bsize,
    // A filesystem that does not count inodes (some FUSE, btrfs) reports 0 files in total.
    freeInodes: stats.files > 0 ? stats.ffree : null,
  };
}

export class StorageMonitor {
  private freeBytes: number | null = null;
  private totalBytes: number | null = null;
  /** Full as measured (free bytes or inodes): lifted by a measurement with room. */
  private measuredFull = false;
  /** Full because a write failed for want of space: lifted only by a write that succeeds. */
  private writeFull = false;
  private storageError: string | null = null;
  private storageErrorAt: string | null = null;
  private lastFullError: string | null = null;
  private lastFullAt: string | null = null;
  private readonly samples: { at: number; freeBytes: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<void> | null = null;
  private stopped = false;
  private reported: StorageState | null = null;
  private readonly clock: () => Date;
  private readonly measure: (dir: string) => Promise<FilesystemSpace>;
  private readonly monotonicMs: () => number;

  constructor(
    readonly dir: string,
    private readonly options: StorageMonitorOptions,
    private readonly onChange: (view: StorageView) => void = () => {},
    private readonly onProbeError: (err: Error) => void = () => {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.measure = options.measure ?? statfsOf;
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
  }

  /** Measures now, then every `probeMs` (`fullProbeMs` while full). */
  async start(): Promise<void> {
    await this.probe();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  get isFull(): boolean {
    return this.full;
  }

  private get full(): boolean {
    return this.writeFull || this.measuredFull;
  }

  /**
   * A write failed: for want of space, the disk is full until a write succeeds; for an I/O error or
   * a read-only remount, the storage is in error until a write succeeds. Free space is measured at
   * once, so health and the log show what is left now.
   */
  noteWriteFailure(err: unknown): void {
    if (!isDiskFull(err) && !isStorageError(err)) return;
    // The code and the call only: the message names paths, and health is open to the LAN.
    const { code, syscall } = err as NodeJS.ErrnoException;
    const described = syscall ? `${code} (${syscall})` : (code ?? 'unknown');
    const at = this.clock().toISOString();
    if (isDiskFull(err)) {
      this.lastFullError = described;
      this.lastFullAt = at;
      if (!this.writeFull) {
        const wasFull = this.full;
        this.writeFull = true;
        if (!wasFull) this.schedule();
      }
    } else {
      this.storageError = described;
      this.storageErrorAt = at;
    }
    this.changed();
    void this.probe();
  }

  /** A write went through: the disk takes writes again (and while full, free space is measured at once). */
  noteWriteSuccess(): void {
    const wasFull = this.full;
    const hadError = this.storageError !== null;
    if (!this.writeFull && !hadError) {
      if (this.measuredFull) void this.probe();
      return;
    }
    this.writeFull = false;
    this.storageError = null;
    this.storageErrorAt = null;
    if (wasFull !== this.full) this.schedule();
    this.changed();
    if (this.full) void this.probe();
  }

  /** Measures free space (one measurement at a time). */
  probe(): Promise<void> {
    this.probing ??= (async () => {
      try {
        const { freeBytes, totalBytes, freeInodes } = await this.measure(this.dir);
        this.freeBytes = freeBytes;
        this.totalBytes = totalBytes;
        this.samples.push({ at: this.monotonicMs(), freeBytes });
        if (this.samples.length > SAMPLES_KEPT) this.samples.splice(0, this.samples.length - SAMPLES_KEPT);
        const wasFull = this.full;
        // No inode left: no file can be created (a snapshot, a receipt, a new day's journal).
        this.measuredFull = freeBytes < FULL_BELOW_BYTES || freeInodes === 0;
        if (wasFull !== this.full) this.schedule();
        this.changed();
      } catch (err) {
        this.onProbeError(err as Error);
      } finally {
        this.probing = null;
      }
    })();
    return this.probing;
  }

  view(): StorageView {
    return {
      state: this.state(),
      freeBytes: this.freeBytes,
      totalBytes: this.totalBytes,
      freePercent:
        this.freeBytes === null || !this.totalBytes ? null : Math.round((this.freeBytes / this.totalBytes) * 1000) / 10,
      daysLeft: this.daysLeft(),
      minFreePercent: this.options.minFreePercent,
      minFreeBytes: this.options.minFreeBytes,
      lastFullError: this.lastFullError,
      lastFullAt: this.lastFullAt,
      storageError: this.storageError,
      storageErrorAt: this.storageErrorAt,
    };
  }

  state(): StorageState {
    if (this.full) return 'full';
    if (this.storageError !== null) return 'error';
    if (this.freeBytes === null || this.totalBytes === null) return 'ok';
    const { minFreePercent, minFreeBytes } = this.options;
    const underPercent = minFreePercent > 0 && this.freeBytes < (this.totalBytes * minFreePercent) / 100;
    const underBytes = minFreeBytes > 0 && this.freeBytes < minFreeBytes;
    return underPercent || underBytes ? 'low' : 'ok';
  }

  /** Free space divided by the rate it went at over the samples kept (oldest to newest). */
  private daysLeft(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < RATE_MIN_SPAN_MS) return null;
    const usedPerMs = (first.freeBytes - last.freeBytes) / (last.at - first.at);
    if (usedPerMs <= 0) return null;
    return Math.round((last.freeBytes / usedPerMs / 86_400_000) * 10) / 10;
  }

  private changed(): void {
    const state = this.state();
    if (state === this.reported) return;
    this.reported = state;
    this.onChange(this.view());
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const ms = this.full ? this.options.fullProbeMs : this.options.probeMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.probe().finally(() => {
        if (this.timer === null) this.schedule();
      });
    }, ms);
    this.timer.unref();
  }
}
