/**
 * Free space on the data directory's filesystem: how much is left, how fast it goes, and whether
 * the disk is full.
 *
 * `low`: free space is under the warning threshold (a share of the disk or a size, whichever comes
 * first), days before it runs out. `full`: a write failed for want of space (ENOSPC), or free space
 * is down to the last few megabytes. While full the hub stays up: reads are served, writes are
 * still tried (each one is the probe that notices space came back) and answered 507 while they
 * fail. A periodic probe (fs.statfs) lifts the state once space is back even without a write.
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
  /** Free and total bytes of the filesystem (fs.statfs by default). */
  measure?: (dir: string) => Promise<{ freeBytes: number; totalBytes: number }>;
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

async function statfsOf(dir: string): Promise<{ freeBytes: number; totalBytes: number }> {
  const stats = await fs.statfs(dir);
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

export class StorageMonitor {
  private freeBytes: number | null = null;
  private totalBytes: number | null = null;
  private full = false;
  private lastFullError: string | null = null;
  private lastFullAt: string | null = null;
  private readonly samples: { at: number; freeBytes: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<void> | null = null;
  private stopped = false;
  private reported: StorageState | null = null;
  private readonly clock: () => Date;
  private readonly measure: (dir: string) => Promise<{ freeBytes: number; totalBytes: number }>;

  constructor(
    readonly dir: string,
    private readonly options: StorageMonitorOptions,
    private readonly onChange: (view: StorageView) => void = () => {},
    private readonly onProbeError: (err: Error) => void = () => {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.measure = options.measure ?? statfsOf;
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

  /** A write failed: if for want of space, the disk is full from now on until space is back. */
  noteWriteFailure(err: unknown): void {
    if (!isDiskFull(err)) return;
    // The code and the call only: the message names paths, and health is open to the LAN.
    const { code, syscall } = err as NodeJS.ErrnoException;
    this.lastFullError = syscall ? `${code} (${syscall})` : (code ?? 'ENOSPC');
    this.lastFullAt = this.clock().toISOString();
    if (!this.full) {
      this.full = true;
      this.changed();
      this.schedule();
    }
  }

  /** A write went through: while full, look at once whether space is back. */
  noteWriteSuccess(): void {
    if (this.full) void this.probe();
  }

  /** Measures free space (one measurement at a time). */
  probe(): Promise<void> {
    this.probing ??= (async () => {
      try {
        const { freeBytes, totalBytes } = await this.measure(this.dir);
        this.freeBytes = freeBytes;
        this.totalBytes = totalBytes;
        this.samples.push({ at: this.clock().getTime(), freeBytes });
        if (this.samples.length > SAMPLES_KEPT) this.samples.splice(0, this.samples.length - SAMPLES_KEPT);
        const wasFull = this.full;
        this.full = freeBytes < FULL_BELOW_BYTES;
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
    };
  }

  state(): StorageState {
    if (this.full) return 'full';
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
