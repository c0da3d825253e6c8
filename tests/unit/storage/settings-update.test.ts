/**
 * A settings change the disk refuses is not kept in memory: the hub goes on with what is on disk,
 * and the next change, once the disk takes it, is written whole. Real files; the refusal is a real
 * one (a directory stands where the temporary file must go), so the durable JSON adapter fails the
 * way it does on a full disk: before the rename, the old file whole.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSettings, updateSettings } from '../../../hub/src/storage/settings.repo.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

interface Limits {
  maxLinePercent: number;
  tags: string[];
}

describe('updateSettings', () => {
  it('keeps the document in memory as on disk when the write is refused, and writes the next change', async () => {
    const dir = temp.make('ayi-settings-');
    const db = await openSettings<Limits>(dir, 'limits', () => ({ maxLinePercent: 20, tags: ['a'] }));
    const file = path.join(dir, 'limits.json');

    // The adapter writes `limits.json.<pid>.tmp` first: a directory in its place makes it fail.
    const blocker = `${file}.${process.pid}.tmp`;
    mkdirSync(blocker);
    await expect(
      updateSettings(db, (draft) => {
        draft.maxLinePercent = 100;
        draft.tags.push('b');
      }),
    ).rejects.toThrow();
    expect(db.data).toEqual({ maxLinePercent: 20, tags: ['a'] });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ maxLinePercent: 20, tags: ['a'] });
    rmSync(blocker, { recursive: true });

    // Two changes at once: both kept, in order.
    const [, second] = await Promise.all([
      updateSettings(db, (draft) => {
        draft.maxLinePercent = 30;
      }),
      updateSettings(db, (draft) => ({ ...draft, tags: [...draft.tags, 'c'] })),
    ]);
    expect(second).toEqual({ maxLinePercent: 30, tags: ['a', 'c'] });
    expect(db.data).toEqual(second);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(second);
  });
});
