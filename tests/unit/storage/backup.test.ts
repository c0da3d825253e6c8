/**
 * The backup file and restore on real files: what a backup holds of a data directory at one seq,
 * that any changed byte (the clear header too) or a wrong passphrase is refused before anything is
 * written, and that a restore keeps what the data directory held and starts a new epoch.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatLine } from '../../../hub/src/storage/jsonl-append.adapter.ts';
import { BackupError, readBackup, writeBackup } from '../../../hub/src/storage/backup-archive.ts';
import { collectDataFiles, cutAtSeq } from '../../../hub/src/services/backup.service.ts';
import { restoreBackup } from '../../../hub/src/services/backup-restore.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());
const PASSPHRASE = 'a passphrase long enough';
const EPOCH = '019a4b00-0000-7000-8000-1a2b3c4d5e6f';

const line = (seq: number) =>
  formatLine({ schema: 'ayi.event/1', eventId: `e${seq}`, epoch: EPOCH, seq, type: 'x', at: 't', data: { seq: 999 } });

/** A small data directory: identity, watermark, members' keys, two journal days. */
function dataDir(): string {
  const dir = dirs.make('ayi-data-');
  writeFileSync(
    path.join(dir, 'store.json'),
    JSON.stringify({ chainId: 'acme', storeId: 's-1', epoch: EPOCH, createdAt: 't', deliveredSeq: 2 }),
  );
  writeFileSync(
    path.join(dir, 'hq-link.json'),
    JSON.stringify({ epoch: EPOCH, deliveredSeq: 4, deliveredAt: 'a4', updatedAt: 'u' }),
  );
  writeFileSync(path.join(dir, 'security.json'), '{"staff":[]}');
  writeFileSync(path.join(dir, 'ayi.sock.json.1234.tmp'), 'temporary');
  mkdirSync(path.join(dir, 'members'));
  writeFileSync(path.join(dir, 'members', 'keys.jsonl'), '{"memberId":"m1","key":"k"}\n{"memberId":"m2","ke');
  mkdirSync(path.join(dir, 'journal'));
  writeFileSync(path.join(dir, 'journal', '2026-12-06.jsonl'), line(1) + line(2) + line(3));
  // Seq 6 was written after the backup's seq; seq 7 is half written.
  writeFileSync(path.join(dir, 'journal', '2026-12-07.jsonl'), line(4) + line(5) + line(6) + line(7).slice(0, 20));
  mkdirSync(path.join(dir, 'snapshots'));
  writeFileSync(path.join(dir, 'snapshots', 'snapshot-3.json'), '{}');
  return dir;
}

const header = { chainId: 'acme', storeId: 's-1', epoch: EPOCH, seq: 5, createdAt: 'c', hubVersion: '0.1.0' };

describe('cutAtSeq', () => {
  it('keeps the lines up to the seq, without a half line or a later one', () => {
    const bytes = Buffer.from(line(4) + line(5) + line(6) + line(7).slice(0, 20));
    expect(cutAtSeq(bytes, 5).toString()).toBe(line(4) + line(5));
    expect(cutAtSeq(bytes, 3).length).toBe(0);
  });

  it('keeps a damaged line before the cut, drops later seqs of a file not in seq order', () => {
    const damaged = '{"crc32c":"00000000",garbage}\n';
    expect(cutAtSeq(Buffer.from(line(1) + damaged + line(3) + damaged), 3).toString()).toBe(
      line(1) + damaged + line(3),
    );
    expect(cutAtSeq(Buffer.from(line(9) + line(2) + line(4)), 4).toString()).toBe(line(2) + line(4));
  });
});

describe('a backup file', () => {
  it('holds the settings, whole key lines and the journal up to its seq; no snapshots, no temporary files', async () => {
    const entries = await collectDataFiles(dataDir(), 5);
    expect(entries.map((e) => e.name).sort()).toEqual([
      'hq-link.json',
      'journal/2026-12-06.jsonl',
      'journal/2026-12-07.jsonl',
      'members/keys.jsonl',
      'security.json',
      'store.json',
    ]);
    const file = path.join(dirs.make(), 'b.ayibackup');
    await writeBackup(file, header, entries, PASSPHRASE);
    const read = await readBackup(file, PASSPHRASE);
    expect(read.header).toMatchObject(header);
    const byName = new Map(read.entries.map((e) => [e.name, e.bytes.toString()]));
    expect(byName.get('journal/2026-12-07.jsonl')).toBe(line(4) + line(5));
    expect(byName.get('members/keys.jsonl')).toBe('{"memberId":"m1","key":"k"}\n');
  });

  it('refuses a wrong passphrase, and a change to any byte, the clear header included', async () => {
    const file = path.join(dirs.make(), 'b.ayibackup');
    await writeBackup(file, header, await collectDataFiles(dataDir(), 5), PASSPHRASE);
    await expect(readBackup(file, 'another passphrase here')).rejects.toMatchObject({ code: 'wrong_passphrase' });
    const bytes = readFileSync(file);
    const headerAt = bytes.indexOf('"seq":5');
    for (const [at, value] of [
      [headerAt + 6, '4'.charCodeAt(0)],
      [bytes.length - 40, bytes[bytes.length - 40]! ^ 1],
      [bytes.length - 1, bytes[bytes.length - 1]! ^ 1],
    ] as const) {
      const changed = Buffer.from(bytes);
      changed[at] = value;
      writeFileSync(file, changed);
      const err = await readBackup(file, PASSPHRASE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).code).toBe('damaged');
    }
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    await expect(readBackup(file, PASSPHRASE)).rejects.toMatchObject({ code: 'damaged' });
    writeFileSync(file, 'not a backup');
    await expect(readBackup(file, PASSPHRASE)).rejects.toMatchObject({ code: 'not_a_backup' });
  });
});

describe('restore', () => {
  it('moves what the data directory held aside, restores the backup and starts a new epoch', async () => {
    const file = path.join(dirs.make(), 'b.ayibackup');
    await writeBackup(file, header, await collectDataFiles(dataDir(), 5), PASSPHRASE);
    const target = dirs.make('ayi-target-');
    writeFileSync(path.join(target, 'store.json'), '{"what":"was here"}');
    const at = new Date('2026-12-08T01:02:03.000Z');
    const result = await restoreBackup({ file, dataDir: target, passphrase: PASSPHRASE, clock: () => at });

    expect(result).toMatchObject({
      seq: 5,
      previousEpoch: EPOCH,
      movedAsideTo: path.join(target, 'before-restore-20261208T010203Z'),
    });
    expect(result.epoch).not.toBe(EPOCH);
    expect(readFileSync(path.join(result.movedAsideTo!, 'store.json'), 'utf8')).toBe('{"what":"was here"}');
    expect(readdirSync(target).sort()).toEqual([
      'before-restore-20261208T010203Z',
      'hq-link.json',
      'journal',
      'members',
      'security.json',
      'store.json',
    ]);
    const identity = JSON.parse(readFileSync(path.join(target, 'store.json'), 'utf8')) as Record<string, unknown>;
    expect(identity).toMatchObject({
      chainId: 'acme',
      storeId: 's-1',
      epoch: result.epoch,
      deliveredSeq: 2,
      epochStartSeq: 6,
      restoredFrom: [{ epoch: EPOCH, seq: 5, backupCreatedAt: 'c', restoredAt: at.toISOString() }],
    });
    // The broker had seqs up to 4 when the backup was made: seq 5 is published again, then the new epoch's.
    expect(JSON.parse(readFileSync(path.join(target, 'hq-link.json'), 'utf8'))).toMatchObject({
      epoch: result.epoch,
      deliveredSeq: 4,
      deliveredAt: 'a4',
    });
    expect(readFileSync(path.join(target, 'journal', '2026-12-07.jsonl'), 'utf8')).toBe(line(4) + line(5));
  });

  it('changes nothing for a wrong passphrase, without one, or for a backup of another store', async () => {
    const file = path.join(dirs.make(), 'b.ayibackup');
    await writeBackup(file, header, await collectDataFiles(dataDir(), 5), PASSPHRASE);
    const target = dirs.make('ayi-target-');
    writeFileSync(path.join(target, 'store.json'), 'kept');
    await expect(restoreBackup({ file, dataDir: target, passphrase: 'wrong but long enough' })).rejects.toThrow(
      /wrong passphrase/,
    );
    await expect(restoreBackup({ file, dataDir: target, passphrase: null })).rejects.toThrow(/no backup passphrase/);
    await expect(
      restoreBackup({
        file,
        dataDir: target,
        passphrase: PASSPHRASE,
        expectedStore: { chainId: 'acme', storeId: 's-2' },
      }),
    ).rejects.toThrow(/this backup is of store acme\/s-1, but this box is set up for acme\/s-2/);
    expect(readdirSync(target)).toEqual(['store.json']);
    expect(readFileSync(path.join(target, 'store.json'), 'utf8')).toBe('kept');
  });
});
