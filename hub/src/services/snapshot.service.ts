/**
 * Snapshots of the projection: after every N events, nightly and at shutdown, so start-up only
 * replays the journal written since the newest one.
 */
import type { StoreState, StoreStateData } from '../domain/store-state.js';
import { businessDate } from '../domain/time.js';
import type { HubEvent } from '../protocol/events.js';
import type { SnapshotStore } from '../storage/snapshots.js';

export class SnapshotService {
  private eventsSince = 0;
  private lastSnapshotSeq: number;
  private lastEventDay = '';
  private running: Promise<void> | null = null;

  constructor(
    private readonly state: StoreState,
    private readonly store: SnapshotStore<StoreStateData>,
    private readonly timeZone: string,
    private readonly everyEvents: number,
    private readonly clock: () => Date,
    private readonly onError: (err: unknown) => void,
    snapshotSeq: number,
    snapshotDay: string,
  ) {
    this.lastSnapshotSeq = snapshotSeq;
    this.lastEventDay = snapshotDay;
  }

  /** Called for every committed event (and every replayed one at start-up). */
  noteEvent(event: HubEvent): void {
    this.lastEventDay = businessDate(new Date(event.at), this.timeZone);
    this.eventsSince += 1;
    if (this.eventsSince >= this.everyEvents && !this.running) {
      void this.take().catch(this.onError);
    }
  }

  get eventsSinceSnapshot(): number {
    return this.eventsSince;
  }

  /** Takes a snapshot unless nothing changed since the last one; concurrent calls share one. */
  take(): Promise<void> {
    if (this.running) return this.running;
    if (this.state.lastSeq === this.lastSnapshotSeq) return Promise.resolve();
    const seq = this.state.lastSeq;
    const counted = this.eventsSince;
    const saved = this.store.save(seq, this.lastEventDay, this.clock(), this.state.toData());
    this.running = saved
      .then(() => {
        this.lastSnapshotSeq = seq;
        this.eventsSince -= counted;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}
