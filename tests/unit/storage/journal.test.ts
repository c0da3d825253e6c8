/**
 * The journal: one file per store-local (Asia/Taipei) day, replay after a seq across days, and no
 * write ever goes back to an earlier day's file when the clock jumps back. Real files.
 */
import { existsSync, promises as fs, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Journal } from '../../../hub/src/storage/journal.ts';
import { EventStore } from '../../../hub/src/storage/event-store.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import type { HubEvent } from '../../../hub/src/protocol/events.ts';
import { pairedEvent } from '../../support/journal-events.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const TZ = 'Asia/Taipei';

const seqsIn = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as HubEvent).seq);

async function replayAll(journal: Journal, afterSeq: number, fromDay?: string): Promise<number[]> {
  const seqs: number[] = [];
  for await (const e of journal.replay(afterSeq, fromDay)) seqs.push(e.seq);
  return seqs;
}

describe('Journal', () => {
  it('puts each event in the file of its Taipei business day (midnight = 16:00 UTC)', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal, lastEvent } = await Journal.open(dir, TZ);
    expect(lastEvent).toBeNull();
    await journal.append(pairedEvent(1, '2026-11-22T01:00:00.000Z')); // 09:00 on the 22nd
    await journal.append(pairedEvent(2, '2026-11-22T15:59:59.000Z')); // 23:59:59 on the 22nd
    await journal.append(pairedEvent(3, '2026-11-22T16:00:00.000Z')); // 00:00 on the 23rd
    await journal.append(pairedEvent(4, '2026-11-23T02:00:00.000Z')); // 10:00 on the 23rd
    await journal.close();

    expect(readdirSync(dir).sort()).toEqual(['2026-11-22.jsonl', '2026-11-23.jsonl']);
    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([1, 2]);
    expect(seqsIn(path.join(dir, '2026-11-23.jsonl'))).toEqual([3, 4]);
  });

  it('replays the events after a seq, in order, across day files, and finds the last one on open', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const first = await Journal.open(dir, TZ);
    const days = ['2026-11-20', '2026-11-21', '2026-11-22'];
    let seq = 0;
    for (const day of days) {
      for (let i = 0; i < 3; i++) await first.journal.append(pairedEvent(++seq, `${day}T0${i + 1}:00:00.000Z`));
    }
    await first.journal.close();

    const { journal, lastEvent } = await Journal.open(dir, TZ);
    expect(lastEvent?.seq).toBe(9);
    expect(await journal.days()).toEqual(days);
    expect(await replayAll(journal, 0)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await replayAll(journal, 4)).toEqual([5, 6, 7, 8, 9]);
    expect(await replayAll(journal, 9)).toEqual([]);
    // starting at a snapshot's day skips the files before it
    expect(await replayAll(journal, 7, '2026-11-22')).toEqual([8, 9]);

    // a day at a time (the HQ link's reader): the same events, no empty day, today's copied as it is
    const byDay: number[][] = [];
    for await (const events of journal.replayDays(4)) byDay.push(events.map((e) => e.seq));
    expect(byDay).toEqual([
      [5, 6],
      [7, 8, 9],
    ]);
    // a reader stopped early leaves nothing behind (the next day was being read ahead)
    const stopped = journal.replayDays(0);
    expect((await stopped.next()).value?.map((e: HubEvent) => e.seq)).toEqual([1, 2, 3]);
    await stopped.return(undefined);

    // the next event continues the newest file
    await journal.append(pairedEvent(10, '2026-11-22T09:00:00.000Z'));
    await journal.close();
    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([7, 8, 9, 10]);
  });

  it('never writes to an earlier day file when the clock goes back', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    await journal.append(pairedEvent(1, '2026-11-22T10:00:00.000Z')); // the 22nd
    await journal.append(pairedEvent(2, '2026-11-22T16:30:00.000Z')); // 00:30 on the 23rd
    // the clock is set back an hour: 23:30 on the 22nd again
    await journal.append(pairedEvent(3, '2026-11-22T15:30:00.000Z'));
    await journal.close();

    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([1]);
    expect(seqsIn(path.join(dir, '2026-11-23.jsonl'))).toEqual([2, 3]);
  });

  it('keeps to the newest file after a restart even if the clock is now earlier', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const first = await Journal.open(dir, TZ);
    await first.journal.append(pairedEvent(1, '2026-11-22T10:00:00.000Z'));
    await first.journal.append(pairedEvent(2, '2026-11-23T10:00:00.000Z'));
    await first.journal.close();

    const { journal } = await Journal.open(dir, TZ);
    await journal.append(pairedEvent(3, '2026-11-21T10:00:00.000Z')); // a hub whose clock lost two days
    await journal.close();
    expect(existsSync(path.join(dir, '2026-11-21.jsonl'))).toBe(false);
    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([1]);
    expect(seqsIn(path.join(dir, '2026-11-23.jsonl'))).toEqual([2, 3]);
  });

  it('keeps the order of events appended without waiting, even across midnight', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    const writes = [
      journal.append(pairedEvent(1, '2026-11-22T15:59:58.000Z')),
      journal.append(pairedEvent(2, '2026-11-22T15:59:59.000Z')),
      journal.append(pairedEvent(3, '2026-11-22T16:00:00.000Z')),
      journal.append(pairedEvent(4, '2026-11-22T16:00:01.000Z')),
    ];
    await Promise.all(writes);
    await journal.close();
    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([1, 2]);
    expect(seqsIn(path.join(dir, '2026-11-23.jsonl'))).toEqual([3, 4]);
    const reopened = await Journal.open(dir, TZ);
    expect(await replayAll(reopened.journal, 0)).toEqual([1, 2, 3, 4]);
    await reopened.journal.close();
  });
});

describe('Journal across midnight: on-disk order is seq order', () => {
  /**
   * Every file handle the adapter opens is watched: when bytes are handed to the kernel (append)
   * and when a file's fdatasync completes. Each datasync is slowed down a little so that the old
   * day's flush is still running when the new day's first events arrive (the race of the bug).
   */
  function instrumentFiles() {
    const appended = new Map<string, number[]>(); // file -> seqs handed to the kernel
    const durable = new Set<number>();
    const fileOf = new Map<number, string>();
    const violations: string[] = [];
    const log: string[] = [];
    const realOpen = fs.open.bind(fs);
    const spy = vi.spyOn(fs, 'open').mockImplementation((async (...args: Parameters<typeof fs.open>) => {
      const handle = await realOpen(...args);
      const file = path.basename(String(args[0]));
      if (!file.endsWith('.jsonl')) return handle;
      const write = handle.write.bind(handle);
      const datasync = handle.datasync.bind(handle);
      handle.write = (async (data: Uint8Array, offset = 0, length = data.length - offset) => {
        const seqs = Buffer.from(data.buffer, data.byteOffset + offset, length)
          .toString('utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => (JSON.parse(line) as HubEvent).seq);
        for (const seq of seqs) {
          fileOf.set(seq, file);
          // Bytes of `seq` may reach the disk from now on (writeback needs no fsync): every
          // earlier event living in another file must already be durable.
          for (let earlier = 1; earlier < seq; earlier++) {
            const where = fileOf.get(earlier);
            if (where !== file && !durable.has(earlier)) {
              violations.push(
                `seq ${seq} written to ${file} before seq ${earlier} was durable (${where ?? 'not even written yet'})`,
              );
            }
          }
        }
        appended.set(file, [...(appended.get(file) ?? []), ...seqs]);
        log.push(`append ${file} ${seqs.join(',')}`);
        return write(data, offset, length);
      }) as typeof handle.write;
      handle.datasync = async () => {
        const covered = [...(appended.get(file) ?? [])];
        await new Promise((resolve) => setTimeout(resolve, 5));
        await datasync();
        for (const seq of covered) durable.add(seq);
        log.push(`datasync ${file} done (${covered.length} events)`);
      };
      return handle;
    }) as typeof fs.open);
    return { violations, durable, log, restore: () => spy.mockRestore() };
  }

  it('writes nothing of the new day before the old day is on disk (many concurrent appends, clock crossing midnight)', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    // 23:59:50 in Taipei; every event moves the clock 50 ms on, so midnight (and the next one,
    // via a jump of a day) falls in the middle of a burst of appends that nobody waits for.
    const clock = new FakeClock('2026-11-22T15:59:50.000Z');
    const store = new EventStore(
      journal,
      { chainId: 'demo', storeId: 'store-001', epoch: 'epoch-1' },
      0,
      () => {
        const now = clock.now();
        clock.advance(50);
        return now;
      },
      (err) => {
        throw err;
      },
      (err) => {
        throw err;
      },
    );
    const files = instrumentFiles();
    try {
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i++) {
        if (i === 250) clock.advance(86_400_000); // a hub left idle over a whole day, then a burst
        pending.push(store.record('device.paired', { deviceId: `tab-${i}`, name: `Tablet ${i}` }));
        if (i % 40 === 39) await new Promise((resolve) => setImmediate(resolve)); // let flushes start
      }
      await Promise.all(pending);
      await journal.close();
    } finally {
      files.restore();
    }
    expect(files.violations.slice(0, 5)).toEqual([]);
    expect(files.durable.size).toBe(300);
    expect(readdirSync(dir).sort()).toEqual(['2026-11-22.jsonl', '2026-11-23.jsonl', '2026-11-24.jsonl']);
    const reopened = await Journal.open(dir, TZ);
    expect(await replayAll(reopened.journal, 0)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    await reopened.journal.close();
  });

  it('names the seqs a damaged line takes away, across day files, but not a torn tail left by a crash', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const first = await Journal.open(dir, TZ);
    for (let seq = 1; seq <= 6; seq++) {
      await first.journal.append(pairedEvent(seq, `2026-11-2${seq <= 3 ? 2 : 3}T02:00:00.000Z`));
    }
    await first.journal.close();
    // Seq 2's line is damaged (a byte of it changed: it still parses); seq 4, the first line of the
    // next day, too; and a crash left half a line at the end.
    const older = path.join(dir, '2026-11-22.jsonl');
    const newer = path.join(dir, '2026-11-23.jsonl');
    await fs.writeFile(older, readFileSync(older, 'utf8').replace('Tablet 2', 'Tablet 7'));
    await fs.writeFile(newer, `${readFileSync(newer, 'utf8').replace('Tablet 4', 'Tablet 9')}{"crc32c":"00`);

    const { journal, lastEvent } = await Journal.open(dir, TZ);
    expect(lastEvent?.seq).toBe(6);
    // The torn tail is repaired; nothing in the newest file is missing between good lines yet.
    expect(journal.damage()).toEqual({ missingSeqs: [], damagedLines: [{ file: '2026-11-23.jsonl', lines: [1] }] });
    expect(await replayAll(journal, 0)).toEqual([1, 3, 5, 6]);
    expect(journal.damage()).toEqual({
      missingSeqs: [2, 4],
      damagedLines: [
        { file: '2026-11-23.jsonl', lines: [1] },
        { file: '2026-11-22.jsonl', lines: [2] },
      ],
    });
    await journal.close();
  });

  /** Writes 8 zero bytes into line `index` (0-based) of a file: a bad SD card. */
  async function damageLine(file: string, index: number): Promise<void> {
    const bytes = readFileSync(file);
    let start = 0;
    for (let i = 0; i < index; i++) start = bytes.indexOf(0x0a, start) + 1;
    bytes.fill(0, start + 40, start + 48);
    await fs.writeFile(file, bytes);
  }

  async function journalOf(days: string[], perDay = 3): Promise<string> {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    let seq = 0;
    for (const at of days) for (let i = 0; i < perDay; i++) await journal.append(pairedEvent(++seq, at));
    await journal.close();
    return dir;
  }

  it('keeps a damaged last line of the newest file, names its seq and never gives the seq out again', async () => {
    const dir = await journalOf(['2026-11-22T02:00:00.000Z']);
    const file = path.join(dir, '2026-11-22.jsonl');
    await damageLine(file, 2);
    const damagedBytes = readFileSync(file);
    const size = damagedBytes.length;
    const { journal, lastEvent, lastSeqSeen } = await Journal.open(dir, TZ);
    expect(lastEvent?.seq).toBe(2);
    expect(lastSeqSeen).toBe(3);
    expect(journal.damage()).toEqual({ missingSeqs: [3], damagedLines: [{ file: '2026-11-22.jsonl', lines: [3] }] });
    expect(statSync(file).size).toBe(size);
    // The next event goes after the damaged line; the damaged line stays where it was.
    await journal.append(pairedEvent(4, '2026-11-22T03:00:00.000Z'));
    expect(await replayAll(journal, 0)).toEqual([1, 2, 4]);
    await journal.close();
    expect(readFileSync(file).subarray(0, size).equals(damagedBytes)).toBe(true);
  });

  it("counts every damaged line of the newest day after the older day's last event", async () => {
    const dir = await journalOf(['2026-11-22T02:00:00.000Z', '2026-11-23T02:00:00.000Z']);
    const newest = path.join(dir, '2026-11-23.jsonl');
    for (let i = 0; i < 3; i++) await damageLine(newest, i);
    const size = statSync(newest).size;
    const { journal, lastEvent, lastSeqSeen } = await Journal.open(dir, TZ);
    expect(lastEvent?.seq).toBe(3);
    expect(lastSeqSeen).toBe(6);
    expect(journal.damage().missingSeqs).toEqual([4, 5, 6]);
    expect(statSync(newest).size).toBe(size);
    await journal.close();
  });

  it('never truncates an older day file, on open or on replay, when its last line is damaged', async () => {
    const dir = await journalOf(['2026-11-22T02:00:00.000Z', '2026-11-23T02:00:00.000Z']);
    const older = path.join(dir, '2026-11-22.jsonl');
    await damageLine(older, 2);
    // And a half line, as if torn, at its end: in an older day that is damage too, not a crash's tail.
    await fs.appendFile(older, '{"crc32c":"00');
    const size = statSync(older).size;
    const { journal, lastEvent } = await Journal.open(dir, TZ);
    expect(lastEvent?.seq).toBe(6);
    expect(await replayAll(journal, 0)).toEqual([1, 2, 4, 5, 6]);
    expect(statSync(older).size).toBe(size);
    expect(journal.damage()).toEqual({
      missingSeqs: [3],
      damagedLines: [{ file: '2026-11-22.jsonl', lines: [3, 4] }],
    });
    await journal.close();
  });

  it('names the missing seqs of a range without reading again a day file already read (a resend after the replay)', async () => {
    const dir = await journalOf(['2026-11-22T02:00:00.000Z', '2026-11-23T02:00:00.000Z', '2026-11-24T02:00:00.000Z']);
    await damageLine(path.join(dir, '2026-11-22.jsonl'), 1); // seq 2
    await damageLine(path.join(dir, '2026-11-23.jsonl'), 2); // seq 6, the last of its day
    const reads: string[] = [];
    const { journal } = await Journal.open(dir, TZ, (report) => reads.push(path.basename(report.file)));
    expect(reads).toEqual(['2026-11-24.jsonl']);
    expect(await replayAll(journal, 0)).toEqual([1, 3, 4, 5, 7, 8, 9]);
    expect(reads.filter((file) => file !== '2026-11-24.jsonl')).toEqual(['2026-11-22.jsonl', '2026-11-23.jsonl']);
    expect(await journal.missingSeqs(1, 9)).toEqual([2, 6]);
    expect(await journal.missingSeqs(3, 9)).toEqual([6]);
    expect(await journal.missingSeqs(7, 9)).toEqual([]);
    expect(await journal.missingSeqs(1, 12)).toEqual([2, 6, 10, 11, 12]);
    // Nothing read again: the replay's reading is what the answers come from.
    expect(reads.filter((file) => file !== '2026-11-24.jsonl')).toEqual(['2026-11-22.jsonl', '2026-11-23.jsonl']);
    await journal.close();

    // Without a replay first, a day file is read once, however many resends ask.
    const reopened = await Journal.open(dir, TZ, (report) => reads.push(`again ${path.basename(report.file)}`));
    expect(await reopened.journal.missingSeqs(1, 9)).toEqual([2, 6]);
    expect(await reopened.journal.missingSeqs(1, 9)).toEqual([2, 6]);
    expect(reads.filter((file) => file === 'again 2026-11-22.jsonl')).toHaveLength(1);
    await reopened.journal.close();
  });

  it("gives a refused append's seq out again and keeps the journal whole (a full disk, then room)", async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    const clock = new FakeClock('2026-11-22T02:00:00.000Z');
    const failures: Error[] = [];
    const store = new EventStore(
      journal,
      { chainId: 'demo', storeId: 'store-001', epoch: 'epoch-1' },
      0,
      () => clock.now(),
      (err) => failures.push(err),
      () => undefined,
    );
    await store.record('device.paired', { deviceId: 'tab-1', name: 'Tablet 1' });

    const probe = await fs.open(process.execPath, 'r');
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const spy = vi
      .spyOn(proto, 'datasync')
      .mockRejectedValueOnce(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    const refused = await Promise.allSettled([
      store.record('device.paired', { deviceId: 'tab-2', name: 'Tablet 2' }),
      store.record('device.paired', { deviceId: 'tab-3', name: 'Tablet 3' }),
    ]);
    spy.mockRestore();
    expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(failures).toHaveLength(1);
    expect(store.lastSeq).toBe(1);

    const next = await store.record('device.paired', { deviceId: 'tab-4', name: 'Tablet 4' });
    expect(next.seq).toBe(2);
    await journal.close();
    const lines = readFileSync(path.join(dir, '2026-11-22.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(lines.map((line) => (JSON.parse(line) as HubEvent).data)).toEqual([
      { deviceId: 'tab-1', name: 'Tablet 1' },
      { deviceId: 'tab-4', name: 'Tablet 4' },
    ]);
  });
});

describe('Journal restored from HQ', () => {
  /** Writes four events over two days, then zeroes part of the lines of `damaged` seqs. */
  async function damagedJournal(damaged: number[]): Promise<string> {
    const dir = path.join(temp.make('ayi-journal-restore-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    await journal.append(pairedEvent(1, '2026-11-22T01:00:00.000Z'));
    await journal.append(pairedEvent(2, '2026-11-22T02:00:00.000Z'));
    await journal.append(pairedEvent(3, '2026-11-23T01:00:00.000Z'));
    await journal.append(pairedEvent(4, '2026-11-23T02:00:00.000Z'));
    await journal.close();
    for (const file of readdirSync(dir)) {
      const lines = readFileSync(path.join(dir, file), 'utf8').split('\n');
      const hit = lines.map((line) =>
        damaged.some((seq) => line.includes(`"seq":${seq},`)) ? line.replace('Tablet', '\0\0\0\0\0\0') : line,
      );
      await fs.writeFile(path.join(dir, file), hit.join('\n'));
    }
    return dir;
  }

  it('merges restored events into the replay in seq order, and a restart keeps them', async () => {
    const dir = await damagedJournal([2, 4]);
    const { journal } = await Journal.open(dir, TZ);
    expect(await replayAll(journal, 0)).toEqual([1, 3]);
    expect(journal.damage().missingSeqs).toEqual([2, 4]);
    expect(journal.damagedLineOf(2)).toMatchObject({ file: '2026-11-22.jsonl', line: 2, seq: 2 });
    expect(journal.damagedLineOf(4)).toMatchObject({ file: '2026-11-23.jsonl', line: 2, seq: 4 });
    await journal.restore([pairedEvent(2, '2026-11-22T02:00:00.000Z'), pairedEvent(4, '2026-11-23T02:00:00.000Z')]);
    expect(journal.damage()).toEqual({ missingSeqs: [], damagedLines: [] });
    expect(await replayAll(journal, 0)).toEqual([1, 2, 3, 4]);
    expect(await replayAll(journal, 2, '2026-11-23')).toEqual([3, 4]);
    expect(await journal.missingSeqs(1, 4)).toEqual([]);
    await journal.close();

    // The damaged lines stay in their files; the restored events come back from restored.jsonl.
    const again = await Journal.open(dir, TZ);
    expect(again.lastEvent?.seq).toBe(4);
    expect(again.lastSeqSeen).toBe(4);
    expect(await replayAll(again.journal, 0)).toEqual([1, 2, 3, 4]);
    expect(again.journal.damage()).toEqual({ missingSeqs: [], damagedLines: [] });
    await again.journal.append(pairedEvent(5, '2026-11-23T03:00:00.000Z'));
    expect(await replayAll(again.journal, 3)).toEqual([4, 5]);
    await again.journal.close();
  });
});
