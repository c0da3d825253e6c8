/**
 * The HQ link's delivered watermark (`hq-link.json`) after writes the disk refuses: it is tried again
 * by itself, with a growing wait, reported once per run of failures (not at every retry), and the
 * newest value reaches the disk once the disk takes writes again. Real files.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WATERMARK_FILE, WatermarkFile } from '../../../hub/src/transport/mqtt/watermark-file.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const watermark = (deliveredSeq: number) => ({
  epoch: 'e1',
  deliveredSeq,
  deliveredAt: null,
  updatedAt: new Date().toISOString(),
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('WatermarkFile after failed writes', () => {
  it('retries by itself, reports the failure once, and writes the newest value once the disk takes it', async () => {
    const dir = temp.make('ayi-watermark-');
    // The file's name is taken by a directory: every rename onto it fails, like a disk that refuses writes.
    mkdirSync(path.join(dir, WATERMARK_FILE));
    const errors: Error[] = [];
    const file = new WatermarkFile(dir, (err) => errors.push(err), 10, 1000);
    file.update(watermark(5));
    await until(() => errors.length === 1);
    file.update(watermark(9));
    // Several retries go by (10, 20, 40, 80 ms ...): still one report, and no temporary file left.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(errors).toHaveLength(1);
    // A retry may be writing its temporary file right now; a leaked one would stay for good.
    await until(() => readdirSync(dir).filter((name) => name.endsWith('.tmp')).length === 0, 2000);

    rmSync(path.join(dir, WATERMARK_FILE), { recursive: true });
    const stored = () => {
      try {
        return (JSON.parse(readFileSync(path.join(dir, WATERMARK_FILE), 'utf8')) as { deliveredSeq: number })
          .deliveredSeq;
      } catch {
        return null;
      }
    };
    await until(() => stored() === 9);
    await file.flush();
    expect(errors).toHaveLength(1);
  });
});
