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
      monotonicMs: () => now,
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

  it('is full after a write refused with ENOSPC until a write succeeds, not merely a measurement with room', async () => {
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
    // statfs shows room (reserved blocks, a filesystem out of inodes): still full until a write goes through.
    setFree(8 * GB);
    await m.probe();
    expect(m.state()).toBe('full');
    m.noteWriteSuccess();
    await m.probe();
    expect(m.state()).toBe('ok');
    expect(changes.map((c) => c.state)).toEqual(['ok', 'full', 'ok']);
    m.stop();
  });

  it('is full while no inode is left, even with free bytes', async () => {
    let inodes = 0;
    const m = new StorageMonitor('/unused', {
      minFreePercent: 10,
      minFreeBytes: 0,
      probeMs: 60_000,
      fullProbeMs: 5000,
      measure: async () => ({ freeBytes: 8 * GB, totalBytes: 32 * GB, freeInodes: inodes }),
    });
    await m.probe();
    expect(m.state()).toBe('full');
    inodes = 1000;
    await m.probe();
    expect(m.state()).toBe('ok');
    m.stop();
  });

  it('measures free space at once when a write is refused, so health shows what is left now', async () => {
    const { m, setFree } = monitor();
    await m.probe();
    setFree(0);
    m.noteWriteFailure(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC', syscall: 'write' }));
    await m.probe();
    expect(m.view().freeBytes).toBe(0);
    m.stop();
  });

  it('reports storage_error state after EIO or EROFS (not a full disk), until a write succeeds', async () => {
    const { m, changes } = monitor();
    await m.probe();
    m.noteWriteFailure(
      Object.assign(new Error("EIO: i/o error, write '/var/lib/ayi/journal/x.jsonl'"), {
        code: 'EIO',
        syscall: 'write',
      }),
    );
    expect(m.isFull).toBe(false);
    expect(m.view()).toMatchObject({ state: 'error', storageError: 'EIO (write)' });
    m.noteWriteFailure(Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS', syscall: 'open' }));
    expect(m.view()).toMatchObject({ state: 'error', storageError: 'EROFS (open)' });
    await m.probe();
    expect(m.state()).toBe('error');
    m.noteWriteSuccess();
    expect(m.view()).toMatchObject({ state: 'ok', storageError: null });
    expect(changes.map((c) => c.state)).toEqual(['ok', 'error', 'ok']);
    m.stop();
  });

  it('keeps the days-left estimate when the wall clock jumps (NTP, set by hand): the rate uses a monotonic clock', async () => {
    let wall = Date.parse('2026-03-01T00:00:00Z');
    let mono = 1000;
    let free = 10 * GB;
    const m = new StorageMonitor('/unused', {
      minFreePercent: 10,
      minFreeBytes: 0,
      probeMs: 60_000,
      fullProbeMs: 5000,
      clock: () => new Date(wall),
      monotonicMs: () => mono,
      measure: async () => ({ freeBytes: free, totalBytes: 32 * GB }),
    });
    const minute = async () => {
      await m.probe();
      wall += 60_000;
      mono += 60_000;
      free -= GB / 1440; // 1 GB a day
    };
    for (let i = 0; i < 60; i++) await minute();
    const steady = m.view().daysLeft!;
    expect(steady).toBeCloseTo(10, 0);
    wall += 7 * 86_400_000; // NTP puts the clock a week forward
    for (let i = 0; i < 60; i++) await minute();
    expect(m.view().daysLeft).toBeCloseTo(steady - 1 / 24, 0);
    wall -= 2 * 86_400_000; // and someone sets it two days back
    for (let i = 0; i < 60; i++) await minute();
    expect(m.view().daysLeft).toBeCloseTo(steady - 2 / 24, 0);
    m.stop();
  });
});
