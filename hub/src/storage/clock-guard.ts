/**
 * The clock against the journal: a box without a battery clock (a Raspberry Pi) that starts after a
 * power cut with no network may be at an old time (the last time systemd saved it, or 1970) until
 * time sync arrives. Events it recorded then would be dated before the journal's last one: sales in
 * a past day's file, reports and HQ's figures out of order.
 *
 * So the hub knows the time of the newest event in its journal, and while the clock is more than a
 * tolerance behind it, health says `clock_behind` and the event store refuses to record (503
 * `clock_behind`: nothing is written, the tablet keeps its cart). Each write and each look at health
 * compares the clock afresh, so a clock set by NTP (or one that jumps back while the hub runs) is
 * noticed at once, without a restart.
 */

import type { ClockState } from '../protocol/api.js';

/**
 * How far the clock may be behind the journal's last event before writes are refused. Small steps
 * back are normal (NTP slewing, two tablets' events racing, a correction of a few seconds); a clock
 * minutes behind is not a correction but a box that lost the time.
 */
export const CLOCK_BEHIND_TOLERANCE_MS = 2 * 60 * 1000;
/**
 * While the clock is behind, how often it is compared again without a write or a health request:
 * so the status sent to HQ (retained, published only on a change) and the log say when time sync
 * has arrived, even at a quiet counter. Nothing runs while the clock is fine.
 */
const BEHIND_RECHECK_MS = 10_000;

export type { ClockState };

export interface ClockView {
  state: ClockState;
  /** The clock now, as the hub reads it. */
  now: string;
  /** The newest `at` in the journal (null: nothing recorded yet). */
  lastEventAt: string | null;
  toleranceSeconds: number;
}

/** A write refused because the clock is behind the journal's last event: nothing was recorded. */
export class ClockBehindError extends Error {
  readonly code = 'clock_behind';

  constructor(
    readonly now: string,
    readonly lastEventAt: string,
  ) {
    super(`the clock (${now}) is behind the journal's last event (${lastEventAt}): nothing was recorded`);
    this.name = 'ClockBehindError';
  }
}

export function isClockBehind(err: unknown): err is ClockBehindError {
  return err instanceof ClockBehindError;
}

export class ClockGuard {
  private lastEventMs: number | null;
  private reported: ClockState = 'ok';
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly clock: () => Date,
    lastEventAt: string | null,
    private readonly onChange: (view: ClockView) => void = () => {},
    private readonly toleranceMs: number = CLOCK_BEHIND_TOLERANCE_MS,
  ) {
    this.lastEventMs = lastEventAt === null ? null : Date.parse(lastEventAt);
  }

  /** An event reached the journal: its time is the newest the clock must not fall behind (the latest of all). */
  noteEvent(at: string): void {
    const ms = Date.parse(at);
    if (this.lastEventMs === null || ms > this.lastEventMs) this.lastEventMs = ms;
  }

  /** Throws ClockBehindError when an event dated `at` would be written into the past. */
  check(at: Date): void {
    const behind = this.isBehind(at);
    this.report(behind ? 'behind' : 'ok', at);
    if (behind) throw new ClockBehindError(at.toISOString(), new Date(this.lastEventMs!).toISOString());
  }

  view(): ClockView {
    const now = this.clock();
    const state: ClockState = this.isBehind(now) ? 'behind' : 'ok';
    this.report(state, now);
    return this.viewOf(state, now);
  }

  state(): ClockState {
    return this.view().state;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private isBehind(now: Date): boolean {
    return this.lastEventMs !== null && now.getTime() < this.lastEventMs - this.toleranceMs;
  }

  private viewOf(state: ClockState, now: Date): ClockView {
    return {
      state,
      now: now.toISOString(),
      lastEventAt: this.lastEventMs === null ? null : new Date(this.lastEventMs).toISOString(),
      toleranceSeconds: Math.round(this.toleranceMs / 1000),
    };
  }

  private report(state: ClockState, now: Date): void {
    if (state === this.reported) return;
    this.reported = state;
    if (state === 'behind' && !this.stopped && !this.timer) {
      this.timer = setInterval(() => this.view(), BEHIND_RECHECK_MS);
      this.timer.unref();
    } else if (state === 'ok' && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.onChange(this.viewOf(state, now));
  }
}
