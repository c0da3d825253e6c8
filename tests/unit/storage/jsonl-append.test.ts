/**
 * The journal's file format: an append-only JSON Lines file that shares fdatasyncs between
 * concurrent writes, repairs a crash's torn tail, and never throws away good entries.
 * Real files in a temporary directory.
 */
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  JsonLinesAppendFile,
  formatLine,
  type JsonLinesReadReport,
} from '../../../hub/src/storage/jsonl-append.adapter.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

interface Entry {
  n: number;
  text: string;
}
const isEntry = (value: unknown): value is Entry =>
  typeof value === 'object' && value !== null && typeof (value as Entry).n === 'number';
const entry = (n: number): Entry => ({ n, text: `銷售 ${n} ${'x'.repeat(n % 7)}` });
/** A line as the adapter writes it: the entry's JSON with its CRC32C as the first member. */
const lineOf = (e: Entry) => formatLine(e);
/** A line as written before lines had checksums. */
const legacyLineOf = (e: Entry) => `${JSON.stringify(e)}\n`;

const temp = new TempDirs();
afterAll(() => temp.removeAll());
afterEach(() => vi.restoreAllMocks());

function newFile(): string {
  return path.join(temp.make('ayi-jsonl-'), 'day.jsonl');
}

/** Writes `count` entries through the adapter, one write each, and closes it. */
async function writeEntries(filename: string, count: number): Promise<Entry[]> {
  const adapter = new JsonLinesAppendFile<Entry>(filename, isEntry);
  const data: Entry[] = [];
  for (let i = 1; i <= count; i++) {
    data.push(entry(i));
    await adapter.write(data);
  }
  await adapter.close();
  return data;
}

async function readBack(filename: string) {
  const reports: JsonLinesReadReport[] = [];
  const entries = await new JsonLinesAppendFile<Entry>(filename, isEntry, (r) => reports.push(r)).read();
  return { entries, report: reports[0] };
}

/** The prototype every FileHandle shares, to count calls the adapter makes on its handle. */
async function fileHandlePrototype() {
  const probe = await fs.open(process.execPath, 'r');
  const proto = Object.getPrototypeOf(probe) as {
    datasync: () => Promise<void>;
    write: (data: Uint8Array, offset?: number, length?: number) => Promise<{ bytesWritten: number }>;
  };
  await probe.close();
  return proto;
}

async function countDatasyncs() {
  return vi.spyOn(await fileHandlePrototype(), 'datasync');
}

describe('JsonLinesAppendFile: writing', () => {
  it('writes one JSON line per entry and reads them back', async () => {
    const file = newFile();
    const data = await writeEntries(file, 5);
    expect(readFileSync(file, 'utf8')).toBe(data.map(lineOf).join(''));
    const { entries, report } = await readBack(file);
    expect(entries).toEqual(data);
    expect(report).toMatchObject({ entries: 5, truncatedBytes: 0, corruptLines: [] });
  });

  it('reads a missing file as empty (null) without creating it', async () => {
    const file = newFile();
    expect(await new JsonLinesAppendFile<Entry>(file, isEntry).read()).toBeNull();
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('makes 50 concurrent appends share fdatasyncs, and each resolves only once its entry is on disk', async () => {
    const file = newFile();
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const db = new Low<Entry[]>(adapter, []);
    const datasync = await countDatasyncs();

    const onDiskWhenResolved: number[] = [];
    const writes = Array.from({ length: 50 }, (_, i) => {
      db.data.push(entry(i + 1));
      return db.write().then(() => {
        // entries on disk at the moment this write was acknowledged
        onDiskWhenResolved[i] = readFileSync(file, 'utf8').split('\n').length - 1;
      });
    });
    await Promise.all(writes);
    await adapter.close();

    expect(datasync.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(datasync.mock.calls.length).toBeLessThanOrEqual(5);
    onDiskWhenResolved.forEach((count, i) => expect(count, `write ${i + 1}`).toBeGreaterThanOrEqual(i + 1));
    const { entries } = await readBack(file);
    expect(entries!.map((e) => e.n)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('syncs every write that is not concurrent with another (no acknowledged write without fdatasync)', async () => {
    const file = newFile();
    const datasync = await countDatasyncs();
    await writeEntries(file, 4);
    expect(datasync).toHaveBeenCalledTimes(4);
  });

  it('acknowledges an entry only after an fdatasync that began once its bytes were written', async () => {
    const file = newFile();
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const db = new Low<Entry[]>(adapter, []);
    const proto = await fileHandlePrototype();
    // One timeline of what the adapter does to its file and when it tells a writer "done".
    const timeline: (
      { kind: 'written'; entries: number[] } | { kind: 'sync started' | 'sync done' | 'ack'; n?: number }
    )[] = [];
    const realWrite = proto.write;
    const realDatasync = proto.datasync;
    vi.spyOn(proto, 'write').mockImplementation(async function (this: typeof proto, ...args) {
      const written = await realWrite.apply(this, args);
      const text = Buffer.from(args[0]).toString('utf8');
      const entries = text
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as Entry).n);
      timeline.push({ kind: 'written', entries });
      return written;
    });
    vi.spyOn(proto, 'datasync').mockImplementation(async function (this: typeof proto) {
      timeline.push({ kind: 'sync started' });
      await realDatasync.apply(this);
      timeline.push({ kind: 'sync done' });
    });
    const writes: Promise<void>[] = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 4; i++) {
        const n = db.data.length + 1;
        db.data.push(entry(n));
        writes.push(db.write().then(() => void timeline.push({ kind: 'ack', n })));
      }
      await new Promise((resolve) => setImmediate(resolve)); // the next group arrives mid-flush
    }
    await Promise.all(writes);
    await adapter.close();

    for (let n = 1; n <= 20; n++) {
      const writtenAt = timeline.findIndex((step) => step.kind === 'written' && step.entries.includes(n));
      const ackAt = timeline.findIndex((step) => step.kind === 'ack' && step.n === n);
      const syncStarted = timeline.findIndex((step, i) => i > writtenAt && step.kind === 'sync started');
      const syncDone = timeline.findIndex((step, i) => i > syncStarted && step.kind === 'sync done');
      expect(writtenAt, `entry ${n} written`).toBeGreaterThanOrEqual(0);
      expect(syncStarted, `an fdatasync after entry ${n} was written`).toBeGreaterThan(writtenAt);
      expect(syncDone, `entry ${n} acknowledged after that fdatasync completed`).toBeLessThan(ackAt);
    }
  });

  it('flushes a write made right after the previous one was acknowledged (no write is left waiting)', async () => {
    const file = newFile();
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const data: Entry[] = [];
    for (let i = 1; i <= 3; i++) {
      data.push(entry(i));
      // awaited directly: this resumes before the previous flush has fully wound down
      const acknowledged = await Promise.race([
        adapter.write(data).then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 1000)),
      ]);
      expect(acknowledged, `write ${i} acknowledged`).toBe(true);
      expect(readFileSync(file, 'utf8').split('\n').length - 1).toBe(i);
    }
    await adapter.close();
  });

  it('appends only the new entry: the cost of a write does not grow with the file', async () => {
    const file = newFile();
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const data: Entry[] = [];
    for (let i = 1; i <= 2000; i++) data.push(entry(i));
    await adapter.write(data);
    const before = statSync(file).size;

    const write = vi.spyOn(await fileHandlePrototype(), 'write');
    for (let i = 2001; i <= 2003; i++) {
      const sizeBefore = statSync(file).size;
      data.push(entry(i));
      await adapter.write(data);
      expect(statSync(file).size - sizeBefore).toBe(Buffer.byteLength(lineOf(entry(i))));
    }
    // each write handed the file only its own line
    expect(write.mock.calls.map((call) => Buffer.from(call[0]).toString('utf8'))).toEqual(
      [2001, 2002, 2003].map((n) => lineOf(entry(n))),
    );
    expect(statSync(file).size).toBe(
      before + [2001, 2002, 2003].reduce((s, n) => s + Buffer.byteLength(lineOf(entry(n))), 0),
    );
    await adapter.close();
  });

  it('appends after what it read, so a reopened file keeps growing without rewriting', async () => {
    const file = newFile();
    await writeEntries(file, 3);
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const db = new Low<Entry[]>(adapter, []);
    await db.read();
    db.data.push(entry(4));
    await db.write();
    await adapter.close();
    expect(readFileSync(file, 'utf8')).toBe([1, 2, 3, 4].map((n) => lineOf(entry(n))).join(''));
  });
});

describe('JsonLinesAppendFile: recovery after a crash', () => {
  it('drops a torn last line (no newline) and truncates the file to the last good line', async () => {
    const file = newFile();
    const data = await writeEntries(file, 3);
    const goodSize = statSync(file).size;
    const torn = lineOf(entry(4)).slice(0, 9); // '{"n":4,"t' - the append was cut short
    appendFileSync(file, torn);

    const { entries, report } = await readBack(file);
    expect(entries).toEqual(data);
    expect(report).toMatchObject({ truncatedBytes: Buffer.byteLength(torn), corruptLines: [] });
    expect(statSync(file).size).toBe(goodSize);
  });

  it('drops a zero-filled tail (a file extended but never written) and keeps every entry before it', async () => {
    const file = newFile();
    const data = await writeEntries(file, 3);
    const goodSize = statSync(file).size;
    appendFileSync(file, Buffer.alloc(4096));

    const { entries, report } = await readBack(file);
    expect(entries).toEqual(data);
    expect(report).toMatchObject({ truncatedBytes: 4096, corruptLines: [] });
    expect(statSync(file).size).toBe(goodSize);
  });

  it('keeps and reports a complete but damaged last line: only an unterminated line is a torn tail', async () => {
    const file = newFile();
    const data = await writeEntries(file, 2);
    const damaged = lineOf({ n: 3, text: 'seq 3' }).replace('seq 3', 'seq 8');
    appendFileSync(file, damaged.replace('"n":3', '"seq":3,"n":3'));
    const size = statSync(file).size;

    const { entries, report } = await readBack(file);
    expect(entries).toEqual(data);
    expect(report).toMatchObject({
      truncatedBytes: 0,
      corruptLines: [3],
      trailingCorruptLines: 1,
      corruptSeqHints: [3],
    });
    expect(statSync(file).size).toBe(size);
  });

  it('never truncates a file read read-only: an unterminated last line there is reported as damage', async () => {
    const file = newFile();
    await writeEntries(file, 2);
    appendFileSync(file, '{"crc32c":"00');
    const size = statSync(file).size;
    const reports: JsonLinesReadReport[] = [];
    const entries = await new JsonLinesAppendFile<Entry>(file, isEntry, (r) => reports.push(r), {
      repairTail: false,
    }).read();
    expect(entries!.map((e) => e.n)).toEqual([1, 2]);
    expect(reports[0]).toMatchObject({ truncatedBytes: 0, corruptLines: [3], trailingCorruptLines: 1 });
    expect(statSync(file).size).toBe(size);
  });

  it('reads a line whose checksum prefix was damaged as damage, not as an unchecked legacy line', async () => {
    const file = newFile();
    writeFileSync(file, [1, 2, 3, 4].map((n) => lineOf(entry(n))).join(''));
    const lines = readFileSync(file, 'utf8').split('\n');
    // Line 2: the member's name hit (and its value changed); line 3: the whole prefix gone.
    lines[1] = lines[1]!.replace('{"crc32c"', '{"crc32b"').replace('"n":2', '"n":9');
    lines[2] = `{${lines[2]!.slice(lines[2]!.indexOf('",') + 2)}`.replace('"n":3', '"n":7');
    writeFileSync(file, lines.join('\n'));
    const { entries, report } = await readBack(file);
    expect(entries!.map((e) => e.n)).toEqual([1, 4]);
    expect(report).toMatchObject({ corruptLines: [2, 3], truncatedBytes: 0 });
  });

  it('after a repair, new entries go on a fresh line and read back', async () => {
    const file = newFile();
    await writeEntries(file, 2);
    appendFileSync(file, '{"n":3,"te');
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const db = new Low<Entry[]>(adapter, []);
    await db.read();
    db.data.push(entry(3));
    await db.write();
    await adapter.close();

    const { entries, report } = await readBack(file);
    expect(entries!.map((e) => e.n)).toEqual([1, 2, 3]);
    expect(report).toMatchObject({ truncatedBytes: 0, corruptLines: [] });
  });

  it('skips and reports a corrupt line in the middle, never the whole file, and does not truncate', async () => {
    const file = newFile();
    const lines = [1, 2, 3, 4].map((n) => lineOf(entry(n)));
    lines[1] = '{"n":2,"text":"bit rot here\n'; // line 2 is damaged
    lines.splice(3, 0, 'not json at all\n'); // and an extra bad line 4
    writeFileSync(file, lines.join(''));
    const size = statSync(file).size;

    const { entries, report } = await readBack(file);
    expect(entries!.map((e) => e.n)).toEqual([1, 3, 4]);
    expect(report).toMatchObject({ entries: 3, truncatedBytes: 0, corruptLines: [2, 4] });
    expect(statSync(file).size).toBe(size);
  });

  it('skips a line that is valid JSON but not an entry', async () => {
    const file = newFile();
    writeFileSync(file, [lineOf(entry(1)), '{"other":true}\n', lineOf(entry(3))].join(''));
    const { entries, report } = await readBack(file);
    expect(entries!.map((e) => e.n)).toEqual([1, 3]);
    expect(report!.corruptLines).toEqual([2]);
  });

  it('detects damage by checksum even where the damaged line still parses as an entry', async () => {
    const file = newFile();
    writeFileSync(file, [1, 2, 3].map((n) => lineOf(entry(n))).join(''));
    // One digit changes (a bit flipped on the card): still valid JSON, still an entry, but not what was written.
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('"n":2,', '"n":7,'));
    const { entries, report } = await readBack(file);
    expect(entries!.map((e) => e.n)).toEqual([1, 3]);
    expect(report).toMatchObject({ corruptLines: [2], truncatedBytes: 0 });
  });

  it('detects 8 zero bytes written into a line, and reads the entries around it unchanged', async () => {
    const file = newFile();
    const written = [1, 2, 3].map(entry);
    writeFileSync(file, written.map(lineOf).join(''));
    const bytes = readFileSync(file);
    const second = bytes.indexOf(0x0a) + 1;
    bytes.fill(0, second + 30, second + 38);
    writeFileSync(file, bytes);
    const { entries, report } = await readBack(file);
    expect(entries).toEqual([written[0], written[2]]);
    expect(report!.corruptLines).toEqual([2]);
  });

  it('still reads lines written before checksums, mixed with new ones, without the checksum member', async () => {
    const file = newFile();
    writeFileSync(file, [legacyLineOf(entry(1)), legacyLineOf(entry(2))].join(''));
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const db = new Low<Entry[]>(adapter, []);
    await db.read();
    db.data.push(entry(3));
    await db.write();
    await adapter.close();
    const { entries, report } = await readBack(file);
    expect(entries).toEqual([entry(1), entry(2), entry(3)]);
    expect(report!.corruptLines).toEqual([]);
  });

  it('reads a file that is nothing but a torn line as empty, keeping the file', async () => {
    const file = newFile();
    writeFileSync(file, '{"n":1,"te');
    const { entries, report } = await readBack(file);
    expect(entries).toEqual([]);
    expect(report!.truncatedBytes).toBe(10);
    expect(statSync(file).size).toBe(0);
  });
});

describe('JsonLinesAppendFile: a write the disk refuses (ENOSPC)', () => {
  /** The disk takes half of the next write's bytes, then refuses (what a filesystem filling up does). */
  async function diskFullsOnNextWrite() {
    const proto = await fileHandlePrototype();
    const realWrite = proto.write;
    let fired = false;
    const spy = vi.spyOn(proto, 'write').mockImplementation(async function (this: unknown, data, offset = 0, length) {
      const total = length ?? data.length - offset;
      if (fired) return realWrite.call(this, data, offset, total);
      fired = true;
      await realWrite.call(this, data, offset, Math.floor(total / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    return spy;
  }

  it('acknowledges nothing, leaves no partial line, forgets the refused entries and writes again after reset()', async () => {
    const file = newFile();
    const adapter = new JsonLinesAppendFile<Entry>(file, isEntry);
    const db = new Low<Entry[]>(adapter, []);
    db.data.push(entry(1));
    await db.write();
    const sizeBefore = statSync(file).size;

    const spy = await diskFullsOnNextWrite();
    db.data.push(entry(2), entry(3));
    await expect(db.write()).rejects.toMatchObject({ code: 'ENOSPC' });
    spy.mockRestore();
    expect(statSync(file).size).toBe(sizeBefore);
    expect(db.data).toEqual([entry(1)]);
    // Refused until the owner says so (the journal's seqs are rolled back first).
    db.data.push(entry(4));
    await expect(db.write()).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(db.data).toEqual([entry(1)]);

    await adapter.reset();
    db.data.push(entry(5));
    await db.write();
    await adapter.close();
    const { entries, report } = await readBack(file);
    expect(entries).toEqual([entry(1), entry(5)]);
    expect(report).toMatchObject({ truncatedBytes: 0, corruptLines: [] });
  });
});
