/**
 * Records events: gives each its envelope (seq, UUIDv7, time), appends it to the journal and, once
 * it is on disk, hands it to the committed-event listeners strictly in seq order. A caller's promise
 * resolves only after that, so what a tablet is told is always durable and already projected.
 *
 * A failed append (a full disk) fails every event not yet committed, and the seqs they took are
 * given out again: none of them reached the disk, so the journal keeps 1..N without a gap. The next
 * event is simply tried (the disk may have room again); nothing needs a restart.
 */
import { v7 as uuidv7 } from 'uuid';
import {
  EVENT_SCHEMA,
  type EventPayloads,
  type EventType,
  type HubEvent,
  type HubEventOf,
} from '../protocol/events.js';
import type { Journal } from './journal.js';

export interface StoreIdentity {
  chainId: string;
  storeId: string;
  epoch: string;
}

export type CommittedListener = (event: HubEvent) => void;

/** What services record events through: the store itself, or its back-dated view for history. */
export interface EventRecorder {
  record<K extends EventType>(
    type: K,
    data: EventPayloads[K] | ((ctx: { seq: number; at: Date }) => EventPayloads[K]),
  ): Promise<HubEventOf<K>>;
}

interface Pending {
  event: HubEvent;
  durable: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class EventStore implements EventRecorder {
  private lastAllocated: number;
  private lastCommitted: number;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: CommittedListener[] = [];
  /** Bumped by each failure: a rejection of an event of an earlier generation was already handled. */
  private generation = 0;
  /** Set while the journal cuts back a failed write. */
  private recovering: Promise<void> | null = null;

  constructor(
    private readonly journal: Journal,
    private readonly identity: StoreIdentity,
    lastSeq: number,
    private readonly clock: () => Date,
    private readonly onWriteFailure: (err: Error) => void,
    private readonly onListenerError: (err: Error, event: HubEvent) => void,
    /** Throws to refuse an event dated `at` before anything is given out (a clock behind the journal). */
    private readonly checkTime: (at: Date) => void = () => {},
  ) {
    this.lastAllocated = lastSeq;
    this.lastCommitted = lastSeq;
  }

  get lastSeq(): number {
    return this.lastCommitted;
  }

  onCommitted(listener: CommittedListener): void {
    this.listeners.push(listener);
  }

  /**
   * Appends one event. `data` may be a function of the allocated seq and time, for ids that must be
   * unique (a sale number); it runs synchronously, so no other event can take the same seq.
   * `occurredAt` is only for imported history (see `backdated`).
   */
  async record<K extends EventType>(
    type: K,
    data: EventPayloads[K] | ((ctx: { seq: number; at: Date }) => EventPayloads[K]),
    occurredAt?: () => Date,
  ): Promise<HubEventOf<K>> {
    // After a failed append the journal first cuts the file back; events wait for that (a few ms)
    // and are then tried on the disk afresh, so none is refused for a failure that has passed.
    while (this.recovering) await this.recovering;
    const at = this.clock();
    this.checkTime(at);
    // Taken after the wait, so history events keep their business times in seq order.
    const businessAt = occurredAt?.();
    const seq = this.lastAllocated + 1;
    const payload = typeof data === 'function' ? data({ seq, at: businessAt ?? at }) : data;
    this.lastAllocated = seq;
    const event = {
      schema: EVENT_SCHEMA,
      eventId: uuidv7({ msecs: at.getTime() }),
      ...this.identity,
      seq,
      type,
      at: at.toISOString(),
      ...(businessAt ? { occurredAt: businessAt.toISOString() } : {}),
      data: payload,
    } as HubEventOf<K>;

    const generation = this.generation;
    const committed = new Promise<void>((resolve, reject) => {
      this.pending.set(seq, { event: event as HubEvent, durable: false, resolve, reject });
    });
    this.journal.append(event as HubEvent).then(
      () => this.markDurable(seq),
      (err: Error) => this.failAll(err, generation),
    );
    await committed;
    return event;
  }

  /**
   * History imported in one go (a demo store's seeded year): each event is recorded now, in the
   * journal like any other, and carries `occurredAt` from `businessClock`, the time it happened in
   * the store. Services given this view price, date and number their events by that time.
   */
  backdated(businessClock: () => Date): EventRecorder {
    return { record: (type, data) => this.record(type, data, businessClock) };
  }

  private markDurable(seq: number): void {
    const entry = this.pending.get(seq);
    if (!entry) return;
    entry.durable = true;
    for (
      let next = this.pending.get(this.lastCommitted + 1);
      next?.durable;
      next = this.pending.get(this.lastCommitted + 1)
    ) {
      this.pending.delete(next.event.seq);
      this.lastCommitted = next.event.seq;
      for (const listener of this.listeners) {
        try {
          listener(next.event);
        } catch (err) {
          // A listener's bug must not stop later events from committing in order.
          this.onListenerError(err as Error, next.event);
        }
      }
      next.resolve();
    }
  }

  private failAll(err: Error, generation: number): void {
    if (generation !== this.generation) return;
    this.generation += 1;
    for (const entry of this.pending.values()) entry.reject(err);
    this.pending.clear();
    this.lastAllocated = this.lastCommitted;
    // Until the journal has settled, new events wait (see record()): none of them can reach the
    // disk behind a refused one, nor with a seq given out twice.
    const recovering: Promise<void> = this.journal.recover().finally(() => {
      if (this.recovering === recovering) this.recovering = null;
    });
    this.recovering = recovering;
    this.onWriteFailure(err);
  }
}
