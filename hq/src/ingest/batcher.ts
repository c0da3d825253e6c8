/**
 * Group commit for the ingest lanes: the events the lanes hand in within a few milliseconds are
 * stored in one transaction (one commit, one disk flush, for all of them). Each lane's promise
 * settles only when its event is committed, so nothing is acknowledged before it is stored. A batch
 * the database refuses is stored again one event at a time: one event it cannot take does not hold
 * back the others.
 */
import type { Database } from '../db/database.js';
import type { IncomingEvent } from './event-message.js';
import { storeEvent, storeEvents, type StoreOutcome, type ValidEvent } from './store-event.js';

export interface BatcherOptions {
  /**
   * How many producers (lanes) hand events in, each one at a time: once every lane not waiting for
   * a commit has handed one in, nothing more can come and the batch goes at once.
   */
  lanes: number;
  /** The longest an event waits for others before its batch goes (default 3 ms). */
  lingerMs?: number;
  /** The most events in one transaction (default 256). */
  maxBatch?: number;
  /** Told when a batch failed and is stored one event at a time. */
  onFallback?: (err: Error, size: number) => void;
}

interface Waiting extends ValidEvent {
  resolve: (outcome: StoreOutcome) => void;
  reject: (err: Error) => void;
}

export class IngestBatcher {
  private pending: Waiting[] = [];
  /** Events in batches being committed: their lanes cannot hand in another meanwhile. */
  private committing = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly lingerMs: number;
  private readonly maxBatch: number;
  /** Batches committed and events in them, for health and the bench. */
  readonly stats = { batches: 0, events: 0, fallbacks: 0 };

  constructor(
    private readonly db: Database,
    private readonly options: BatcherOptions,
  ) {
    this.lingerMs = options.lingerMs ?? 3;
    this.maxBatch = options.maxBatch ?? 256;
  }

  /** Resolves with the event's outcome once the transaction holding it has committed. */
  store(event: IncomingEvent, knownType: boolean): Promise<StoreOutcome> {
    return new Promise((resolve, reject) => {
      this.pending.push({ event, knownType, resolve, reject });
      const everyFreeLaneIn = this.pending.length >= this.options.lanes - this.committing;
      if (everyFreeLaneIn || this.pending.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // One commit at a time: what the lanes hand in meanwhile goes together in the next one, and a
    // worker's batches never wait for each other's stream locks.
    if (this.committing > 0) return;
    const batch = this.pending.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.committing += batch.length;
    void this.commit(batch).finally(() => {
      this.committing -= batch.length;
      if (this.pending.length > 0) this.flush();
    });
  }

  private async commit(batch: Waiting[]): Promise<void> {
    try {
      const outcomes = await storeEvents(this.db, batch);
      this.stats.batches += 1;
      this.stats.events += batch.length;
      batch.forEach((waiting, i) => waiting.resolve(outcomes[i]!));
      return;
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err as Error);
      this.stats.fallbacks += 1;
      this.options.onFallback?.(err as Error, batch.length);
    }
    for (const waiting of batch) {
      try {
        waiting.resolve(await storeEvent(this.db, waiting.event, waiting.knownType));
      } catch (err) {
        waiting.reject(err as Error);
      }
    }
  }
}
