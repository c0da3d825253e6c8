/**
 * The persisted delivered watermark of the HQ link: `hq-link.json` in the data directory, written
 * with the durable JSON adapter (temp file, fsync, rename, fsync of the directory).
 *
 * A file of its own rather than `deliveredSeq` in `store.json`: the identity (chain, store, epoch)
 * is written once and must never be lost, while the watermark is rewritten several times a second
 * while a backlog drains. Losing or rolling back this file only re-publishes events, which HQ
 * dedupes by eventId.
 *
 * Writes are throttled: at most one every `intervalMs`, or sooner once `everyAcks` acknowledgements
 * are waiting; never two at once (the newest value wins). A failed write (a full disk) is tried
 * again, after a wait that doubles up to `MAX_RETRY_MS`, until the disk takes it.
 */
import path from 'node:path';
import { DurableJsonFile } from '../../storage/durable-json.adapter.js';

export const WATERMARK_FILE = 'hq-link.json';
/** Longest wait between two attempts while writes fail. */
const MAX_RETRY_MS = 30_000;

export interface WatermarkData {
  /** The epoch of the data directory the seqs belong to. */
  epoch: string;
  /** Every event up to this seq was acknowledged by the broker (PUBACK). */
  deliveredSeq: number;
  /** `at` of the event `deliveredSeq` (where to start reading the journal), or null. */
  deliveredAt: string | null;
  updatedAt: string;
}

export class WatermarkFile {
  private readonly file: DurableJsonFile<WatermarkData>;
  private latest: WatermarkData | null = null;
  private written: number;
  private pendingAcks = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private lastWriteAt = 0;
  /** Writes failed in a row (0 after a good one). */
  private failures = 0;

  constructor(
    dataDir: string,
    private readonly onError: (err: Error) => void,
    private readonly intervalMs = 200,
    private readonly everyAcks = 1000,
  ) {
    this.file = new DurableJsonFile<WatermarkData>(path.join(dataDir, WATERMARK_FILE));
    this.written = -1;
  }

  get filename(): string {
    return this.file.filename;
  }

  /** The stored watermark, or null when there is none (or it cannot be read: re-publishing is safe). */
  async load(): Promise<WatermarkData | null> {
    try {
      const data = await this.file.read();
      if (data && Number.isInteger(data.deliveredSeq) && data.deliveredSeq >= 0 && typeof data.epoch === 'string') {
        this.written = data.deliveredSeq;
        return data;
      }
      return null;
    } catch (err) {
      this.onError(err as Error);
      return null;
    }
  }

  /** Notes a new watermark; it reaches the disk within `intervalMs`. */
  update(data: WatermarkData, acks = 1): void {
    this.latest = data;
    this.pendingAcks += acks;
    if (this.writing) return; // written when the running write ends
    const interval =
      this.failures > 0 ? Math.min(MAX_RETRY_MS, this.intervalMs * 2 ** Math.min(this.failures, 20)) : this.intervalMs;
    const due =
      this.pendingAcks >= this.everyAcks && this.failures === 0
        ? 0
        : Math.max(0, this.lastWriteAt + interval - Date.now());
    if (due === 0) {
      this.writeNow();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.writeNow();
      }, due);
      // flush() writes what is due when the link stops; a pending retry must not hold the process.
      this.timer.unref();
    }
  }

  /** Writes the newest value now and waits for it (used when the link stops). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.writing) await this.writing;
    if (this.latest && this.latest.deliveredSeq !== this.written) {
      this.writeNow();
      while (this.writing) await this.writing;
    }
  }

  private writeNow(): void {
    const data = this.latest;
    if (!data || this.writing) return;
    if (data.deliveredSeq === this.written) return;
    this.pendingAcks = 0;
    this.lastWriteAt = Date.now();
    this.writing = this.file
      .write(data)
      .then(
        () => {
          this.written = data.deliveredSeq;
          this.failures = 0;
        },
        (err: unknown) => {
          // Told once per run of failures, not at every retry.
          if (this.failures === 0) this.onError(err as Error);
          this.failures += 1;
        },
      )
      .finally(() => {
        this.writing = null;
        if (this.latest && this.latest.deliveredSeq !== this.written) this.update(this.latest, 0);
      });
  }
}
