/**
 * The data directory's format marker: a new directory is marked, data from before markers counts as
 * format 1, a newer format is refused with what to do, and the forward migrations run once each.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DATA_FORMAT,
  DATA_FORMAT_FILE,
  DataFormatTooNewError,
  prepareDataFormat,
  readDataFormat,
  type DataMigration,
} from '../../../hub/src/storage/data-format.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const formatIn = (dir: string) =>
  JSON.parse(readFileSync(path.join(dir, DATA_FORMAT_FILE), 'utf8')) as { format: number; writtenBy: string };

describe('the data format marker', () => {
  it('marks a new data directory with the format of this version', async () => {
    const dir = temp.make();
    expect(await readDataFormat(dir)).toBeNull();
    await prepareDataFormat(dir, { version: '0.2.0' });
    expect(formatIn(dir)).toMatchObject({ format: DATA_FORMAT, writtenBy: '0.2.0' });
  });

  it('takes data written before markers as format 1 and marks it', async () => {
    const dir = temp.make();
    writeFileSync(path.join(dir, 'store.json'), '{}');
    expect((await readDataFormat(dir))?.format).toBe(1);
    await prepareDataFormat(dir, { version: '0.2.0', current: 1 });
    expect(formatIn(dir).format).toBe(1);
  });

  it('refuses data in a newer format, naming the version that wrote it and what to do', async () => {
    const dir = temp.make();
    writeFileSync(path.join(dir, DATA_FORMAT_FILE), JSON.stringify({ format: 3, writtenBy: '0.9.0', changedAt: 'x' }));
    const refused = prepareDataFormat(dir, { version: '0.2.0', current: 2 });
    await expect(refused).rejects.toBeInstanceOf(DataFormatTooNewError);
    await expect(refused).rejects.toThrow(/data format 3, written by Ayi 0\.9\.0.*sudo ayi rollback/s);
    // Left as it was.
    expect(formatIn(dir).format).toBe(3);
  });

  it('runs each forward migration once, in order, and not again at the next start', async () => {
    const dir = temp.make();
    writeFileSync(path.join(dir, 'store.json'), '{}');
    const ran: number[] = [];
    const migrations: DataMigration[] = [2, 1].map((from) => ({
      from,
      description: `to ${from + 1}`,
      run: async (dataDir) => {
        ran.push(from);
        writeFileSync(path.join(dataDir, `migrated-from-${from}`), '');
      },
    }));
    const first = await prepareDataFormat(dir, { version: '0.3.0', current: 3, migrations });
    expect(first.migratedFrom).toEqual([1, 2]);
    expect(ran).toEqual([1, 2]);
    expect(formatIn(dir)).toMatchObject({ format: 3, writtenBy: '0.3.0' });
    expect(existsSync(path.join(dir, 'migrated-from-2'))).toBe(true);

    const second = await prepareDataFormat(dir, { version: '0.3.0', current: 3, migrations });
    expect(second.migratedFrom).toEqual([]);
    expect(ran).toEqual([1, 2]);
  });

  it('keeps the format of the last migration that finished when one fails, so it runs again next time', async () => {
    const dir = temp.make();
    writeFileSync(path.join(dir, DATA_FORMAT_FILE), JSON.stringify({ format: 1, writtenBy: '0.1.0', changedAt: 'x' }));
    const migrations: DataMigration[] = [
      { from: 1, description: 'to 2', run: async () => undefined },
      {
        from: 2,
        description: 'to 3',
        run: async () => {
          throw new Error('disk full');
        },
      },
    ];
    await expect(prepareDataFormat(dir, { version: '0.3.0', current: 3, migrations })).rejects.toThrow('disk full');
    expect(formatIn(dir).format).toBe(2);
  });
});
