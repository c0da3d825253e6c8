/**
 * Free space on the data disk as health reports it: `low` under either threshold, days left at the
 * measured rate, `full` after a write refused for want of space and lifted by the next measurement
 * that finds room. The filesystem's figures are given in (a sequence of statfs answers over a day)
 * so the rate is known; the real statfs is exercised by the tmpfs integration test.
 */
import { describe, expect, it } from 'vitest';
import { StorageMonitor, type StorageView } from '../../../hub/src/storage/storage-monitor.ts';

const MB = 1024 * 1024;
const GB = 1024 * MB;

function monitor(options: { minFreePercent?: number; minFreeBytes?: number } = {}) {
  let now = Date.parse('2026-03-01T00:00:00Z');
  let free = 10 * GB;
  const total = 32 * GB;
  const changes: StorageView[] = [];
  const m = new StorageMonitor(
    '/unused',
    {
      minFreePercent: options.minFreePercent ?? 10,
      minFreeBytes: options.minFreeBytes ?? 500 * MB,
      probeMs: 60_000,
      fullProbeMs: 5000,
      clock: () => new Date(now),
      measure: async () => ({ freeBytes: free, totalBytes: total }),
    },
    (view) => changes.push(view),
  );
  return {
    m,
    changes,
    setFree: (bytes: number) => (free = bytes),
    advance: (ms: number) => (now += ms),
  };
}

describe('StorageMonitor', () => {
  it('is ok with room, low under 10 % free, and says how many days are left at the rate measured', async () => {
    const { m, setFree, advance } = monitor();
    await m.probe();
    expect(m.view()).toMatchObject({ state: 'ok', freePercent: 31.3, daysLeft: null });
    // 1 GB a day for two hours: 3.2 GB free (10 % of 32 GB) is crossed on the way down.
    for (let hour = 1; hour <= 2; hour++) {
      advance(3_600_000);
      setFree(10 * GB - (GB / 24) * hour);
      await m.probe();
    }
    expect(m.view().daysLeft).toBeCloseTo(9.9, 1);
    setFree(3 * GB);
    await m.probe();
    expect(m.state()).toBe('low');
    m.stop();
  });

  it('is low under 500 MB free even on a disk where that is more than 10 %', async () => {
    const { m, setFree } = monitor({ minFreePercent: 0 });
    setFree(400 * MB);
    await m.probe();
    expect(m.state()).toBe('low');
    m.stop();
  });

  it('is full after a write refused with ENOSPC until a measurement finds room, and tells each change once', async () => {
    const { m, changes, setFree } = monitor();
    await m.probe();
    const refused = () =>
      Object.assign(new Error("ENOSPC: no space left on device, open '/var/lib/ayi/security.json.tmp'"), {
        code: 'ENOSPC',
        syscall: 'open',
      });
    m.noteWriteFailure(refused());
    m.noteWriteFailure(refused());
    expect(m.isFull).toBe(true);
    // Health is open to the LAN: the code and the call, not the path.
    expect(m.view()).toMatchObject({ state: 'full', lastFullError: 'ENOSPC (open)' });
    // Another kind of failure is not a full disk.
    m.noteWriteFailure(Object.assign(new Error('EEXIST'), { code: 'EEXIST' }));
    setFree(0);
    await m.probe();
    expect(m.state()).toBe('full');
    setFree(8 * GB);
    await m.probe();
    expect(m.state()).toBe('ok');
    expect(changes.map((c) => c.state)).toEqual(['ok', 'full', 'ok']);
    m.stop();
  });
});
