/**
 * Events recorded while a write the disk refused is still being cut back: each is refused with the
 * disk's own error (never `null`), none of them reaches the disk later, and once space is back the
 * journal holds seqs 1..N once each. The journal sits on a real 1 MB tmpfs filled to the last byte.
 *
 * Needs root (mount -t tmpfs); skipped with a message where mounting is not permitted.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal } from '../../../hub/src/storage/journal.ts';
import { EventStore } from '../../../hub/src/storage/event-store.ts';
import type { HubEvent } from '../../../hub/src/protocol/events.ts';
import { mountSmallDisk } from '../../support/small-disk.ts';

const disk = mountSmallDisk({ prefix: 'ayi-race-', label: 'full-disk race test', size: '1m' });
const { mountPoint } = disk;

afterAll(() => disk.remove());

describe.skipIf(disk.problem !== null)('events recorded while a refused write is cut back', () => {
  it('are all refused with the disk error, never written later, and no seq is written twice', async () => {
    const dir = path.join(mountPoint, 'journal');
    const { journal } = await Journal.open(dir, 'Asia/Taipei');
    const failures: unknown[] = [];
    const committed: number[] = [];
    const store = new EventStore(
      journal,
      { chainId: 'demo', storeId: 'store-001', epoch: 'epoch-1' },
      0,
      () => new Date('2026-11-22T02:00:00.000Z'),
      (err) => failures.push(err),
      () => undefined,
    );
    store.onCommitted((event) => committed.push(event.seq));
    const big = 'x'.repeat(2000);
    for (;;) {
      try {
        await store.record('note' as never, { big } as never);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
        break;
      }
    }

    // One record per turn of the event loop: some land in the middle of a refused write's cut-back.
    const refusals: unknown[] = [];
    const attempts: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      attempts.push(store.record('note' as never, { refused: i, big } as never).catch((err) => refusals.push(err)));
      if (i % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
      else await Promise.resolve();
    }
    await Promise.all(attempts);
    expect(refusals).toHaveLength(200);
    expect(refusals.map((err) => (err as NodeJS.ErrnoException | null)?.code)).toEqual(refusals.map(() => 'ENOSPC'));
    expect(failures.every((err) => (err as NodeJS.ErrnoException | null)?.code === 'ENOSPC')).toBe(true);

    execFileSync('mount', ['-o', 'remount,size=8m', mountPoint], { stdio: 'pipe' });
    const after = await store.record('note' as never, { after: 'space back' } as never);
    await journal.close();

    const lines = readdirSync(dir)
      .sort()
      .flatMap((name) => readFileSync(path.join(dir, name), 'utf8').split('\n').filter(Boolean))
      .map((line) => JSON.parse(line) as HubEvent);
    const seqs = lines.map((event) => event.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(after.seq).toBe(seqs.length);
    expect(lines.filter((event) => 'refused' in (event.data as object))).toEqual([]);
    expect(committed).toEqual(seqs);
  });
});
