/**
 * Snapshots of the projection: periodically, nightly and at shutdown, so start-up only replays the
 * journal written since the newest one.
 *
 * Serialising the whole projection (toData + JSON.stringify) blocks the event loop for 0.1-0.5 s
 * in a busy store, so the periodic snapshot never runs inside the commit path: once
 * `everyEvents` events have been committed since the last snapshot it waits for a quiet moment (no
 * event committed for `quietMs`, checked by a timer) and is forced, on a timer of its own, once
 * `forceFactor` times that many have piled up, so a store that is never quiet still gets one.
 * The nightly job and the shutdown call take() directly.
 *
 * Even then the hub keeps answering while a snapshot is serialised: past its first
 * `firstSliceMs` the state is encoded a slice of `sliceMs` at a time with a pause of `pauseMs`
 * after each, in which requests are served and events committed (a sale meets one slice at most,
 * a few ms, instead of the whole encoding). What is
 * encoded stays as it was at the snapshot's seq: everything but the kept sales is copied at once
 * (a megabyte or so in a big store), and the sales, most of the snapshot, are shared, not copied: a
 * sale that an event is about to change (a void, a refund) while the snapshot is being encoded is
 * serialised first, as it was (StoreState.beforeSaleChange).
 */
import type { Seal } from '../domain/members.js';
import type { StoreState, StoreStateData } from '../domain/store-state.js';
import { businessDate } from '../domain/time.js';
import type { HubEvent } from '../protocol/events.js';
import type { SnapshotStore } from '../storage/snapshots.js';

export interface SnapshotPolicy {
  /** A due periodic snapshot waits until no event has been committed for this long (ms). */
  quietMs: number;
  /** ...but is taken anyway, quiet or not, once this many times `everyEvents` are waiting. */
  forceFactor: number;
  /** After a failed snapshot, the next periodic try waits this long (ms). */
  retryMs: number;
  /** A monotonic clock in ms (the hub's wall clock may be set back, or be a test's fake). */
  now: () => number;
  /** Encoding time between two pauses, ms. */
  sliceMs: number;
  /** Encoding time before the first pause, ms (a small snapshot is encoded in one go). */
  firstSliceMs: number;
  /** The pause between two slices, ms (the hub answers and commits meanwhile). */
  pauseMs: number;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = {
  quietMs: 2000,
  forceFactor: 4,
  retryMs: 30_000,
  now: () => performance.now(),
  sliceMs: 3,
  firstSliceMs: 15,
  pauseMs: 7,
};

type Timer = ReturnType<typeof setTimeout>;

export class SnapshotService {
  private eventsSince = 0;
  private lastSnapshotSeq: number;
  private lastEventDay = '';
  private lastEventAt = 0;
  private running: Promise<void> | null = null;
  private timer: Timer | null = null;
  /** When the armed timer fires (policy.now() time). */
  private timerAt = 0;
  private failedAt: number | null = null;
  private stopped = false;
  /** Set while a history import runs (see during()). */
  private held = false;
  private readonly policy: SnapshotPolicy;

  constructor(
    private readonly state: StoreState,
    private readonly store: SnapshotStore<StoreStateData>,
    /** Seals members' personal traits under their own keys (the member vault's seal). */
    private readonly seal: Seal,
    private readonly timeZone: string,
    private readonly everyEvents: number,
    private readonly clock: () => Date,
    private readonly onError: (err: unknown) => void,
    snapshotSeq: number,
    snapshotDay: string,
    policy: Partial<SnapshotPolicy> = {},
  ) {
    this.lastSnapshotSeq = snapshotSeq;
    this.lastEventDay = snapshotDay;
    this.policy = { ...DEFAULT_SNAPSHOT_POLICY, ...policy };
  }

  /**
   * Called for every committed event, inside the commit path: only counts and, when a snapshot is
   * due, arms a timer. It never serialises anything itself.
   */
  noteEvent(event: HubEvent): void {
    this.lastEventDay = businessDate(new Date(event.at), this.timeZone);
    this.eventsSince += 1;
    this.lastEventAt = this.policy.now();
    if (this.eventsSince >= this.everyEvents) this.plan();
  }

  get eventsSinceSnapshot(): number {
    return this.eventsSince;
  }

  /** True while a periodic snapshot is waiting for its moment. */
  get periodicPending(): boolean {
    return this.timer !== null;
  }

  /**
   * Takes a snapshot now unless nothing changed since the last one (nightly, shutdown, the admin
   * command). A call while one is being written waits for it and then takes another if events
   * were committed meanwhile, so a shutdown snapshot always holds every committed event.
   */
  /**
   * A snapshot now, then the older ones removed: after an erasure, the member's opened data must
   * not stay in a snapshot written before it.
   */
  async replaceAll(): Promise<void> {
    await this.take();
    await this.store.removeAllButNewest();
  }

  take(): Promise<void> {
    if (this.running) {
      return this.running.then(
        () => this.take(),
        () => this.take(),
      );
    }
    if (this.state.lastSeq === this.lastSnapshotSeq) return Promise.resolve();
    const seq = this.state.lastSeq;
    const counted = this.eventsSince;
    let saved: Promise<string>;
    const frozen = new Map<object, string>();
    try {
      const data = this.state.toData(this.seal);
      const { sales, ...rest } = data;
      this.state.beforeSaleChange = (sale) => {
        if (!frozen.has(sale)) frozen.set(sale, JSON.stringify(sale));
      };
      // The copy keeps the fields' order (the file reads the same as before slicing).
      const stable: StoreStateData = { ...data, ...structuredClone(rest), sales };
      saved = this.store.save(seq, this.lastEventDay, this.clock(), stable, {
        sliceMs: this.policy.sliceMs,
        firstSliceMs: this.policy.firstSliceMs,
        pauseMs: this.policy.pauseMs,
        frozen,
      });
    } catch (err) {
      saved = Promise.reject(err as Error);
    }
    this.running = saved
      .finally(() => {
        this.state.beforeSaleChange = null;
      })
      .then(() => {
        this.lastSnapshotSeq = seq;
        this.eventsSince = Math.max(0, this.eventsSince - counted);
        this.failedAt = null;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /**
   * Removes the snapshots from `seq` on (events were restored into the journal at `seq`: they lack
   * them, and a start from one would never replay them), once one being written is done.
   */
  async dropFrom(seq: number): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
    await this.store.removeFrom(seq);
    this.lastSnapshotSeq = Math.min(this.lastSnapshotSeq, seq - 1);
  }

  /**
   * Runs a bulk import (a demo store's seeded history) without periodic snapshots in its midst,
   * each of which would serialise the growing projection again, then takes one snapshot of it all.
   */
  async during<T>(work: () => Promise<T>): Promise<T> {
    this.held = true;
    this.clearTimer();
    try {
      return await work();
    } finally {
      this.held = false;
    }
  }

  /** Cancels a waiting periodic snapshot; nightly and shutdown snapshots still work via take(). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  /** Arms (or brings forward) the timer for a due periodic snapshot. */
  private plan(): void {
    if (this.stopped || this.held || this.eventsSince < this.everyEvents) return;
    const now = this.policy.now();
    let at: number;
    if (this.failedAt !== null) at = this.failedAt + this.policy.retryMs;
    else if (this.eventsSince >= this.everyEvents * this.policy.forceFactor) at = now;
    else at = this.lastEventAt + this.policy.quietMs;
    // An armed timer that fires no later than needed is left alone: a stream of events costs one
    // timer, not one per event. It re-checks when it fires.
    if (this.timer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - now));
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = null;
    if (this.stopped || this.held || this.eventsSince < this.everyEvents) return;
    if (this.running) {
      void this.running.catch(() => undefined).then(() => this.plan());
      return;
    }
    const now = this.policy.now();
    const forced = this.eventsSince >= this.everyEvents * this.policy.forceFactor;
    const quiet = now - this.lastEventAt >= this.policy.quietMs;
    const retryDue = this.failedAt === null || now - this.failedAt >= this.policy.retryMs;
    if (!retryDue || (!forced && !quiet)) {
      this.plan();
      return;
    }
    this.take().then(
      () => this.plan(),
      (err: unknown) => {
        this.failedAt = this.policy.now();
        this.onError(err);
        this.plan();
      },
    );
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
