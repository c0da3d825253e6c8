/**
 * Group commit for the ingest lanes: a transaction holds every event handed in while the one before
 * was committing (one commit, one disk flush, for all of them); an event that finds none running
 * waits a few milliseconds for others. A second transaction runs beside the first only with a full
 * batch (a backlog draining): the database inserts one's events while the other holds its streams
 * or waits for its disk flush. Each event's promise settles only when its transaction has
 * committed, so nothing is acknowledged before it is stored. A batch the database refuses is stored
 * again one event at a time: one event it cannot take does not hold back the others.
 */
import type { Database } from '../db/database.js';
import type { IncomingEvent } from './event-message.js';
import { storeEvent, storeEvents, type StoreOutcome, type ValidEvent } from './store-event.js';

export interface BatcherOptions {
  /** The longest an event waits for others before its batch goes (default 3 ms). */
  lingerMs?: number;
  /** The most events in one transaction (default 512). */
  maxBatch?: number;
  /** The most transactions at once (default 2): the ones past the first only with a full batch. */
  concurrency?: number;
  /** Told when a batch failed and is stored one event at a time. */
  onFallback?: (err: Error, size: number) => void;
}

interface Waiting extends ValidEvent {
  resolve: (outcome: StoreOutcome) => void;
  reject: (err: Error) => void;
}

export class IngestBatcher {
  private pending: Waiting[] = [];
  private committing = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly lingerMs: number;
  private readonly maxBatch: number;
  private readonly concurrency: number;
  /** Batches committed and events in them, for health and the bench. */
  readonly stats = { batches: 0, events: 0, fallbacks: 0 };

  constructor(
    private readonly db: Database,
    private readonly options: BatcherOptions = {},
  ) {
    this.lingerMs = options.lingerMs ?? 3;
    this.maxBatch = options.maxBatch ?? 512;
    this.concurrency = options.concurrency ?? 2;
  }

  /** Resolves with the event's outcome once the transaction holding it has committed. */
  store(event: IncomingEvent, knownType: boolean): Promise<StoreOutcome> {
    return new Promise((resolve, reject) => {
      this.pending.push({ event, knownType, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (this.committing === 0) this.timer ??= setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // What the lanes hand in while a batch commits goes together in the next one.
    while (
      this.pending.length > 0 &&
      this.committing < this.concurrency &&
      (this.committing === 0 || this.pending.length >= this.maxBatch)
    ) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.committing += 1;
      void this.commit(batch).finally(() => {
        this.committing -= 1;
        // What came meanwhile has waited a whole commit already: it goes at once.
        this.flush();
      });
    }
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
