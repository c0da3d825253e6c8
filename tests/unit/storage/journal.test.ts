/**
 * The journal: one file per store-local (Asia/Taipei) day, replay after a seq across days, and no
 * write ever goes back to an earlier day's file when the clock jumps back. Real files.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal } from '../../../hub/src/storage/journal.ts';
import { EVENT_SCHEMA, type HubEvent } from '../../../hub/src/protocol/events.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const TZ = 'Asia/Taipei';

function event(seq: number, at: string): HubEvent {
  return {
    schema: EVENT_SCHEMA,
    eventId: `evt-${seq}`,
    chainId: 'demo',
    storeId: 'store-001',
    epoch: 'epoch-1',
    seq,
    type: 'device.paired',
    at,
    data: { deviceId: `tab-${seq}`, name: `Tablet ${seq}` },
  };
}

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
    await journal.append(event(1, '2026-11-22T01:00:00.000Z')); // 09:00 on the 22nd
    await journal.append(event(2, '2026-11-22T15:59:59.000Z')); // 23:59:59 on the 22nd
    await journal.append(event(3, '2026-11-22T16:00:00.000Z')); // 00:00 on the 23rd
    await journal.append(event(4, '2026-11-23T02:00:00.000Z')); // 10:00 on the 23rd
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
      for (let i = 0; i < 3; i++) await first.journal.append(event(++seq, `${day}T0${i + 1}:00:00.000Z`));
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

    // the next event continues the newest file
    await journal.append(event(10, '2026-11-22T09:00:00.000Z'));
    await journal.close();
    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([7, 8, 9, 10]);
  });

  it('never writes to an earlier day file when the clock goes back', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    await journal.append(event(1, '2026-11-22T10:00:00.000Z')); // the 22nd
    await journal.append(event(2, '2026-11-22T16:30:00.000Z')); // 00:30 on the 23rd
    // the clock is set back an hour: 23:30 on the 22nd again
    await journal.append(event(3, '2026-11-22T15:30:00.000Z'));
    await journal.close();

    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([1]);
    expect(seqsIn(path.join(dir, '2026-11-23.jsonl'))).toEqual([2, 3]);
  });

  it('keeps to the newest file after a restart even if the clock is now earlier', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const first = await Journal.open(dir, TZ);
    await first.journal.append(event(1, '2026-11-22T10:00:00.000Z'));
    await first.journal.append(event(2, '2026-11-23T10:00:00.000Z'));
    await first.journal.close();

    const { journal } = await Journal.open(dir, TZ);
    await journal.append(event(3, '2026-11-21T10:00:00.000Z')); // a hub whose clock lost two days
    await journal.close();
    expect(existsSync(path.join(dir, '2026-11-21.jsonl'))).toBe(false);
    expect(seqsIn(path.join(dir, '2026-11-22.jsonl'))).toEqual([1]);
    expect(seqsIn(path.join(dir, '2026-11-23.jsonl'))).toEqual([2, 3]);
  });

  it('keeps the order of events appended without waiting, even across midnight', async () => {
    const dir = path.join(temp.make('ayi-journal-'), 'journal');
    const { journal } = await Journal.open(dir, TZ);
    const writes = [
      journal.append(event(1, '2026-11-22T15:59:58.000Z')),
      journal.append(event(2, '2026-11-22T15:59:59.000Z')),
      journal.append(event(3, '2026-11-22T16:00:00.000Z')),
      journal.append(event(4, '2026-11-22T16:00:01.000Z')),
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
