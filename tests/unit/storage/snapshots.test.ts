/**
 * Snapshots (start-up replays only what came after the newest good one) and the durable JSON files
 * they and the settings are written with. Real files.
 */
import { promises as fs, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { SnapshotStore, type SnapshotFile } from '../../../hub/src/storage/snapshots.ts';
import { DurableJsonFile } from '../../../hub/src/storage/durable-json.adapter.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

interface State {
  lastSeq: number;
  note: string;
}

const fileOf = (dir: string, seq: number) => path.join(dir, `snapshot-${String(seq).padStart(12, '0')}.json`);

async function storeWith(seqs: number[]) {
  const dir = path.join(temp.make('ayi-snap-'), 'snapshots');
  const skipped: { file: string; reason: string }[] = [];
  const store = new SnapshotStore<State>(dir, (file, reason) => skipped.push({ file, reason }));
  await store.ensureDirectory();
  for (const seq of seqs) {
    await store.save(seq, '2026-11-22', new Date('2026-11-22T10:00:00Z'), { lastSeq: seq, note: `狀態 ${seq}` });
  }
  return { dir, store, skipped };
}

describe('SnapshotStore', () => {
  it('removes at start the temporary files of snapshots a crash interrupted, and nothing else', async () => {
    const { dir } = await storeWith([5]);
    writeFileSync(`${fileOf(dir, 9)}.4242.tmp`, '{"format":"ayi.snapshot/4","seq":9,"jou');
    writeFileSync(path.join(dir, 'notes.tmp'), 'not a snapshot');
    const restarted = new SnapshotStore<State>(dir);
    await restarted.ensureDirectory();
    expect(readdirSync(dir).sort()).toEqual(['notes.tmp', path.basename(fileOf(dir, 5))]);
    expect((await restarted.loadNewest())?.seq).toBe(5);
  });

  it('loads the newest snapshot', async () => {
    const { store } = await storeWith([10, 20]);
    const newest = await store.loadNewest();
    expect(newest).toMatchObject({ seq: 20, journalDay: '2026-11-22', state: { lastSeq: 20, note: '狀態 20' } });
  });

  it('returns null when there is none', async () => {
    const { store } = await storeWith([]);
    expect(await store.loadNewest()).toBeNull();
  });

  it('orders snapshots by seq, not by the order of the digits (seq 100 is newer than 99)', async () => {
    const { store } = await storeWith([99, 100]);
    expect((await store.loadNewest())?.seq).toBe(100);
  });

  it('falls back to the previous snapshot when the newest has a bad checksum', async () => {
    const { dir, store, skipped } = await storeWith([10, 20, 30]);
    const newest = JSON.parse(readFileSync(fileOf(dir, 30), 'utf8')) as SnapshotFile<State>;
    newest.state.note = 'bit rot'; // the state no longer matches its checksum
    writeFileSync(fileOf(dir, 30), JSON.stringify(newest));

    expect(await store.loadNewest()).toMatchObject({ seq: 20, state: { lastSeq: 20 } });
    expect(skipped).toEqual([{ file: fileOf(dir, 30), reason: expect.stringContaining('checksum') }]);
  });

  it('falls back past a truncated newest snapshot, and past several damaged ones', async () => {
    const { dir, store, skipped } = await storeWith([10, 20, 30]);
    const text = readFileSync(fileOf(dir, 30), 'utf8');
    writeFileSync(fileOf(dir, 30), text.slice(0, Math.floor(text.length / 2)));
    expect((await store.loadNewest())?.seq).toBe(20);
    expect(skipped.map((s) => s.file)).toEqual([fileOf(dir, 30)]);

    writeFileSync(fileOf(dir, 20), '');
    expect((await store.loadNewest())?.seq).toBe(10);

    writeFileSync(fileOf(dir, 10), '{"format":"something-else","seq":10}');
    expect(await store.loadNewest()).toBeNull();
  });

  it('keeps only the newest 3', async () => {
    const { dir } = await storeWith([10, 20, 30, 40, 50]);
    expect(readdirSync(dir).sort()).toEqual([30, 40, 50].map((seq) => path.basename(fileOf(dir, seq))));
  });

  it('writes the state as JSON.stringify would, in pieces, so a big state is never one string', async () => {
    const dir = path.join(temp.make('ayi-snap-'), 'snapshots');
    const store = new SnapshotStore<Record<string, unknown>>(dir);
    await store.ensureDirectory();
    const noPrototype = Object.assign(Object.create(null) as Record<string, unknown>, { constructor: { n: 1 } });
    // About 2 MB of mostly Chinese text, so pieces end inside rows and inside characters' bytes.
    const state = {
      lastSeq: 7,
      skipped: undefined,
      empty: {},
      none: [],
      rows: Array.from({ length: 30_000 }, (_, i) => ({ i, name: `統一麥香紅茶 ${i}`, gone: undefined, tags: [null] })),
      members: { members: [{ skus: noPrototype, note: 'a "quoted" \\ line\n' }] },
    };
    await store.save(7, '2026-11-22', new Date('2026-11-22T10:00:00Z'), state);
    const text = readFileSync(fileOf(dir, 7), 'utf8');
    expect(text.slice(text.indexOf(',"state":') + ',"state":'.length, -1)).toBe(JSON.stringify(state));
    expect((await store.loadNewest())?.state).toEqual(JSON.parse(JSON.stringify(state)));
  });

  it('is not affected by changes to the live state after save() was called', async () => {
    const { store } = await storeWith([]);
    const live: State = { lastSeq: 5, note: 'before' };
    const saving = store.save(5, '2026-11-22', new Date(), live);
    live.note = 'after';
    live.lastSeq = 6;
    await saving;
    expect((await store.loadNewest())?.state).toEqual({ lastSeq: 5, note: 'before' });
  });
});

describe('DurableJsonFile', () => {
  it('writes a file only its owner can read (mode 0600) and reads it back', async () => {
    const file = path.join(temp.make('ayi-durable-'), 'security.json');
    const adapter = new DurableJsonFile<{ pinSecret: string }>(file);
    expect(await adapter.read()).toBeNull();
    await adapter.write({ pinSecret: 's3cret' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await adapter.read()).toEqual({ pinSecret: 's3cret' });
  });

  it('leaves no temporary files behind, and the last of many concurrent writes wins', async () => {
    const dir = temp.make('ayi-durable-');
    const file = path.join(dir, 'store.json');
    const adapter = new DurableJsonFile<{ n: number }>(file);
    await Promise.all(Array.from({ length: 20 }, (_, n) => adapter.write({ n })));
    expect(readdirSync(dir)).toEqual(['store.json']);
    expect(await adapter.read()).toEqual({ n: 19 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('makes a big document durable a megabyte at a time, and it reads back whole', async () => {
    const file = path.join(temp.make('ayi-durable-'), 'big.json');
    const adapter = new DurableJsonFile<{ rows: string[] }>(file);
    // About 3.5 MB of JSON, mostly Chinese (3 bytes a character), so pieces split characters.
    const big = { rows: Array.from({ length: 60_000 }, (_, i) => `第 ${i} 筆：統一麥香紅茶 300ml、寵物罐頭`) };
    const probe = await fs.open(process.execPath, 'r');
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void>; sync: () => Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(proto, 'datasync');
    const sync = vi.spyOn(proto, 'sync');
    let calls: { datasync: number; sync: number };
    try {
      await adapter.write(big);
      calls = { datasync: datasync.mock.calls.length, sync: sync.mock.calls.length };
    } finally {
      datasync.mockRestore();
      sync.mockRestore();
    }
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(3 << 20);
    // Every whole megabyte but the last piece is flushed on its own, then the file is fsync'd.
    expect(calls.datasync).toBe(Math.ceil(size / (1 << 20)) - 1);
    expect(calls.sync).toBeGreaterThanOrEqual(1);
    expect(await adapter.read()).toEqual(big);
  });
});

describe('SnapshotStore on a disk short of space', () => {
  const MB = 1024 * 1024;

  async function shortStore(freeBytes: number) {
    const dir = path.join(temp.make('ayi-snap-short-'), 'snapshots');
    let short = false;
    const store = new SnapshotStore<State>(dir, () => undefined, {
      short: () => short,
      freeBytes: async () => freeBytes,
      reserveBytes: 4 * MB,
    });
    await store.ensureDirectory();
    for (const seq of [10, 20, 30]) {
      await store.save(seq, '2026-11-22', new Date('2026-11-22T10:00:00Z'), { lastSeq: seq, note: 'x'.repeat(1000) });
    }
    short = true;
    return { dir, store };
  }

  it('removes the older snapshots first and skips the new one when it would eat into the journal reserve', async () => {
    const { dir, store } = await shortStore(4 * MB + 100);
    await expect(
      store.save(40, '2026-11-22', new Date('2026-11-22T11:00:00Z'), { lastSeq: 40, note: 'x'.repeat(1000) }),
    ).rejects.toMatchObject({ code: 'ENOSPC' });
    // Nothing half-written; the newest good snapshot is kept for the next start.
    expect(readdirSync(dir)).toEqual([path.basename(fileOf(dir, 30))]);
    expect((await store.loadNewest())?.seq).toBe(30);
  });

  it('still takes the snapshot when the free space exceeds its size plus the reserve', async () => {
    const { dir, store } = await shortStore(64 * MB);
    await store.save(40, '2026-11-22', new Date('2026-11-22T11:00:00Z'), { lastSeq: 40, note: 'x'.repeat(1000) });
    expect(readdirSync(dir).sort()).toEqual([path.basename(fileOf(dir, 30)), path.basename(fileOf(dir, 40))]);
  });
});
