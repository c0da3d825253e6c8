/**
 * When periodic snapshots run: never inside the commit path (noteEvent only arms a timer), after a
 * quiet moment once enough events are waiting, forced after 4x as many in a store that is never
 * quiet, retried after a failure without a tight loop; take() (nightly, shutdown) works at once.
 * A pure policy, so fake timers and a fake projection and store.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SnapshotService } from '../../../hub/src/services/snapshot.service.ts';
import type { StoreState, StoreStateData } from '../../../hub/src/domain/store-state.ts';
import type { SnapshotStore } from '../../../hub/src/storage/snapshots.ts';
import { EVENT_SCHEMA, type HubEvent } from '../../../hub/src/protocol/events.ts';

const EVERY = 100;

function setup(options: { failSaves?: number } = {}) {
  const state = { lastSeq: 0, toData: vi.fn(() => ({ lastSeq: state.lastSeq }) as unknown as StoreStateData) };
  let failures = options.failSaves ?? 0;
  const saves: number[] = [];
  const store = {
    save: vi.fn(async (seq: number) => {
      if (failures > 0) {
        failures -= 1;
        throw new Error('disk full');
      }
      saves.push(seq);
      return `snapshot-${seq}.json`;
    }),
  };
  const errors: unknown[] = [];
  const service = new SnapshotService(
    state as unknown as StoreState,
    store as unknown as SnapshotStore<StoreStateData>,
    () => ({ iv: '', tag: '', data: '' }),
    'Asia/Taipei',
    EVERY,
    () => new Date(),
    (err) => errors.push(err),
    0,
    '',
    { now: () => Date.now() },
  );
  /** Commits one event the way the hub does: the projection first, then noteEvent. */
  const commit = () => {
    state.lastSeq += 1;
    const event = {
      schema: EVENT_SCHEMA,
      eventId: `evt-${state.lastSeq}`,
      chainId: 'demo',
      storeId: 'store-001',
      epoch: 'e',
      seq: state.lastSeq,
      type: 'device.paired',
      at: new Date().toISOString(),
      data: { deviceId: 'tab', name: 'Tablet' },
    } as HubEvent;
    const before = state.toData.mock.calls.length;
    service.noteEvent(event);
    // the commit path never serialises the projection
    expect(state.toData.mock.calls.length).toBe(before);
  };
  return { state, store, saves, errors, service, commit };
}

/** `count` events, one every `gapMs`. */
async function commitMany(commit: () => void, count: number, gapMs: number) {
  for (let i = 0; i < count; i++) {
    commit();
    await vi.advanceTimersByTimeAsync(gapMs);
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-22T02:00:00.000Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('periodic snapshots', () => {
  it('wait for 2 s without an event once the threshold is crossed, then run on a timer', async () => {
    const { commit, saves, state, service } = setup();
    await commitMany(commit, EVERY + 50, 100); // 10 events a second: never quiet for 2 s
    expect(saves).toEqual([]);
    expect(service.periodicPending).toBe(true);
    await vi.advanceTimersByTimeAsync(1800); // 1.9 s since the last event
    expect(saves).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    expect(saves).toEqual([state.lastSeq]);
    expect(service.eventsSinceSnapshot).toBe(0);
    expect(service.periodicPending).toBe(false);
  });

  it('are not due below the threshold, however quiet it is', async () => {
    const { commit, saves, service } = setup();
    await commitMany(commit, EVERY - 1, 10);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(saves).toEqual([]);
    expect(service.periodicPending).toBe(false);
  });

  it('are forced in a store that is never quiet, once 4x the threshold are waiting, outside the commit', async () => {
    const { commit, saves, state } = setup();
    await commitMany(commit, 4 * EVERY - 1, 50);
    expect(saves).toEqual([]);
    commit(); // the 400th: noteEvent only brings the timer forward
    expect(saves).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(saves).toEqual([4 * EVERY]);
    // and it keeps happening: the next one after another 4x, never more often
    await commitMany(commit, 4 * EVERY, 50);
    expect(saves).toEqual([4 * EVERY, 8 * EVERY]);
    expect(state.lastSeq).toBe(8 * EVERY);
  });

  it('count events committed while a snapshot is written towards the next one', async () => {
    const { commit, saves, store, state } = setup();
    let release!: () => void;
    store.save.mockImplementationOnce(async (seq: number) => {
      await new Promise<void>((resolve) => (release = resolve));
      saves.push(seq);
      return 'x';
    });
    await commitMany(commit, EVERY, 10);
    await vi.advanceTimersByTimeAsync(2000);
    expect(store.save).toHaveBeenCalledTimes(1);
    await commitMany(commit, EVERY, 10); // while the first is still being written
    release();
    await vi.advanceTimersByTimeAsync(2000);
    expect(saves).toEqual([EVERY, state.lastSeq]);
  });

  it('retry after a failure, reported, without a tight loop', async () => {
    const { commit, saves, errors, store } = setup({ failSaves: 2 });
    await commitMany(commit, 4 * EVERY, 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(store.save).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(errors).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(saves).toEqual([4 * EVERY]);
    expect(store.save).toHaveBeenCalledTimes(3);
  });

  it('stop() cancels a waiting periodic snapshot', async () => {
    const { commit, saves, service } = setup();
    await commitMany(commit, EVERY, 10);
    service.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(saves).toEqual([]);
  });
});

describe('take() (nightly job, shutdown, admin command)', () => {
  it('snapshots at once, cancels nothing it should not, and skips when nothing changed', async () => {
    const { commit, saves, service } = setup();
    await commitMany(commit, 10, 10);
    await service.take();
    expect(saves).toEqual([10]);
    await service.take();
    expect(saves).toEqual([10]);
  });

  it('waits for a snapshot being written and takes another holding the later events', async () => {
    const { commit, saves, store, service } = setup();
    let release!: () => void;
    store.save.mockImplementationOnce(async (seq: number) => {
      await new Promise<void>((resolve) => (release = resolve));
      saves.push(seq);
      return 'x';
    });
    await commitMany(commit, 5, 10);
    const first = service.take();
    await commitMany(commit, 3, 10);
    const shutdown = service.take();
    release();
    await first;
    await shutdown;
    expect(saves).toEqual([5, 8]);
  });
});
