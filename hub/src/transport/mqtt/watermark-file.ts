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
 * are waiting; never two at once (the newest value wins).
 */
import path from 'node:path';
import { DurableJsonFile } from '../../storage/durable-json.adapter.js';

export const WATERMARK_FILE = 'hq-link.json';

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
    const due = this.pendingAcks >= this.everyAcks ? 0 : Math.max(0, this.lastWriteAt + this.intervalMs - Date.now());
    if (due === 0) {
      this.writeNow();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.writeNow();
      }, due);
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
        },
        (err: unknown) => this.onError(err as Error),
      )
      .finally(() => {
        this.writing = null;
        if (this.latest && this.latest.deliveredSeq !== this.written) this.update(this.latest, 0);
      });
  }
}
