/**
 * The clock against the journal's last event: behind only past the tolerance, measured from the
 * newest event seen (not the last one recorded), and each change told once.
 */
import { describe, expect, it } from 'vitest';
import {
  CLOCK_BEHIND_TOLERANCE_MS,
  ClockBehindError,
  ClockGuard,
  type ClockView,
} from '../../../hub/src/storage/clock-guard.ts';
import { FakeClock } from '../../support/fake-clock.ts';

const LAST = '2026-12-01T10:00:00.000Z';
const at = (offsetMs: number) => new Date(Date.parse(LAST) + offsetMs);

describe('ClockGuard', () => {
  it('takes a clock up to the tolerance behind, and refuses one further behind', () => {
    const clock = new FakeClock(at(-CLOCK_BEHIND_TOLERANCE_MS));
    const guard = new ClockGuard(clock.now, LAST);
    expect(guard.state()).toBe('ok');
    expect(() => guard.check(clock.now())).not.toThrow();
    clock.advance(-1);
    expect(guard.state()).toBe('behind');
    expect(() => guard.check(clock.now())).toThrow(ClockBehindError);
    guard.stop();
  });

  it('says what it was compared with in the refusal', () => {
    const guard = new ClockGuard(() => at(-3_600_000), LAST);
    const refused = (() => {
      try {
        guard.check(at(-3_600_000));
      } catch (err) {
        return err as ClockBehindError;
      }
      return null;
    })();
    expect(refused).toMatchObject({ code: 'clock_behind', lastEventAt: LAST, now: at(-3_600_000).toISOString() });
    guard.stop();
  });

  it('measures from the newest event noted, not the last one', () => {
    const clock = new FakeClock(at(0));
    const guard = new ClockGuard(clock.now, LAST);
    guard.noteEvent(at(-60_000).toISOString());
    expect(guard.view().lastEventAt).toBe(LAST);
    guard.noteEvent(at(10 * 60_000).toISOString());
    expect(guard.view()).toMatchObject({ state: 'behind', lastEventAt: at(10 * 60_000).toISOString() });
    guard.stop();
  });

  it('is never behind an empty journal', () => {
    const guard = new ClockGuard(() => new Date(0), null);
    expect(guard.view()).toMatchObject({ state: 'ok', lastEventAt: null });
    expect(() => guard.check(new Date(0))).not.toThrow();
  });

  it('tells each change once: behind, then caught up', () => {
    const clock = new FakeClock(at(-3_600_000));
    const changes: ClockView['state'][] = [];
    const guard = new ClockGuard(clock.now, LAST, (view) => changes.push(view.state));
    guard.view();
    expect(() => guard.check(clock.now())).toThrow(ClockBehindError);
    guard.view();
    clock.set(at(1000));
    guard.view();
    guard.check(clock.now());
    expect(changes).toEqual(['behind', 'ok']);
    guard.stop();
  });
});
