/**
 * The virtual receipt printer of the embedded default, and the receipt archive of every printer.
 *
 * VirtualPrinterTransport takes the same ESC/POS bytes a real printer gets and decodes them (a job
 * the decoder cannot read fails like a printer refusing it). VirtualPrinter is the archive: the
 * spooler keeps the text decoded from each job's bytes, for every printer, as a file
 * (`printer/<printerId>/YYYY-MM-DD/<jobId>.<original|copy>.txt`; the embedded default's printer is
 * `virtual`) so staff see in the UI what was printed, or would have been. The kind is part of the
 * stored name, never guessed from the job number.
 *
 * A job is written to a hidden temporary file, then linked to its name (a rename that never
 * replaces: a job id is printed once, a retry of the same job is a no-op). The virtual printer's
 * receipts are not fsync'd: they can be rendered again from the journal, and a flush here would
 * compete on the disk with the journal's, which the tablets wait for. After a power cut such a
 * receipt may be missing or empty; an empty one counts as not printed (and is replaced by the next
 * print of its job), and at start-up the hub prints the originals that are missing. The copy of a
 * job a real printer printed is fsync'd (`durable`): it is what says the job is done.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensureDirectory, fsyncDirectory } from '../storage/fsync.js';
import { PrinterError, type PrinterHardwareStatus, type PrinterTransport } from './device-types.js';
import { decodeEscPos, type DecodedPrint } from './escpos/escpos-decoder.js';

export type ReceiptKind = 'original' | 'copy';

export interface PrintJob {
  jobId: string;
  day: string;
  kind: ReceiptKind;
  text: string;
}

export interface PrintedJob {
  jobId: string;
  kind: ReceiptKind;
  printedAt: string;
  text: string;
}

export interface ReceiptPrinter {
  readonly columns: number;
  /** Prints a job; resolves false if that job id was printed already (nothing printed again). */
  print(job: PrintJob, options?: { durable?: boolean }): Promise<boolean>;
  /** The jobs printed on `day` whose id starts with `jobIdPrefix`, oldest first. */
  jobsFor(day: string, jobIdPrefix: string): Promise<PrintedJob[]>;
  /** Job ids (and kinds) printed on `day`, without their text: one directory read. */
  printedOn(day: string): Promise<Map<string, ReceiptKind>>;
}

const JOB_FILE = /^(.+?)(?:\.(original|copy))?\.txt$/;
const TEMP_PREFIX = '.';
const LEFTOVER_AGE_MS = 60_000;

interface JobFile {
  name: string;
  jobId: string;
  kind: ReceiptKind;
}

/** Parses a job file name; `<jobId>.txt` files from before kinds were stored count p1 as the original. */
function parseJobFile(name: string): JobFile | null {
  if (name.startsWith(TEMP_PREFIX)) return null;
  const match = JOB_FILE.exec(name);
  if (!match) return null;
  const jobId = match[1]!;
  const kind = (match[2] as ReceiptKind | undefined) ?? (jobId.endsWith('-p1') ? 'original' : 'copy');
  return { name, jobId, kind };
}

/** The transport of the embedded default: decodes what it is sent and keeps the last jobs in memory. */
export class VirtualPrinterTransport implements PrinterTransport {
  readonly transport = 'virtual' as const;
  /** The most recent jobs, decoded (newest last). */
  readonly printed: DecodedPrint[] = [];

  constructor(
    private readonly encoding: 'cp950' | 'gb18030',
    private readonly keep = 20,
  ) {}

  async open(): Promise<void> {}

  async write(bytes: Uint8Array): Promise<void> {
    let decoded: DecodedPrint;
    try {
      decoded = decodeEscPos(bytes, { encoding: this.encoding });
    } catch (err) {
      throw new PrinterError('io', `the virtual printer cannot read the job: ${(err as Error).message}`);
    }
    this.printed.push(decoded);
    if (this.printed.length > this.keep) this.printed.shift();
  }

  async status(): Promise<PrinterHardwareStatus> {
    return { online: true, coverOpen: false, paper: 'ok', error: false };
  }

  async close(): Promise<void> {}
}

/** The receipt archive of one printer (see above). */
export class VirtualPrinter implements ReceiptPrinter {
  readonly columns = 42;

  constructor(readonly dir: string) {}

  /**
   * Keeps a job's text. `durable`: fsync'd before it gets its name and the name made durable, for a
   * real printer's jobs, whose copy is the proof they printed (so a power cut never prints one twice).
   */
  async print(job: PrintJob, options: { durable?: boolean } = {}): Promise<boolean> {
    const dayDir = path.join(this.dir, job.day);
    await this.ensureDay(dayDir);
    const final = path.join(dayDir, `${job.jobId}.${job.kind}.txt`);
    const temp = path.join(dayDir, `${TEMP_PREFIX}${job.jobId}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      if (options.durable) {
        const handle = await fs.open(temp, 'wx', 0o600);
        try {
          await handle.writeFile(job.text, 'utf8');
          await handle.sync();
        } finally {
          await handle.close();
        }
      } else {
        await fs.writeFile(temp, job.text, { encoding: 'utf8', mode: 0o600, flag: 'wx' });
      }
      for (;;) {
        try {
          await fs.link(temp, final);
          if (options.durable) await fsyncDirectory(dayDir);
          return true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          // A retry of a job that made it prints nothing; one a power cut left empty is printed again.
          if ((await fs.stat(final)).size > 0) return false;
          await fs.rm(final, { force: true });
        }
      }
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  /** Day directories are made once (and their entry made durable then), not checked on every print. */
  private readonly days = new Set<string>();

  private async ensureDay(dayDir: string): Promise<void> {
    if (this.days.has(dayDir)) return;
    await ensureDirectory(dayDir);
    this.days.add(dayDir);
  }

  async jobsFor(day: string, jobIdPrefix: string): Promise<PrintedJob[]> {
    const dayDir = path.join(this.dir, day);
    const jobs: PrintedJob[] = [];
    for (const file of await this.jobFiles(day)) {
      if (!file.jobId.startsWith(jobIdPrefix)) continue;
      const full = path.join(dayDir, file.name);
      const [text, stat] = await Promise.all([fs.readFile(full, 'utf8'), fs.stat(full)]);
      jobs.push({ jobId: file.jobId, kind: file.kind, printedAt: stat.mtime.toISOString(), text });
    }
    return jobs.sort((a, b) => a.printedAt.localeCompare(b.printedAt) || a.jobId.localeCompare(b.jobId));
  }

  /** Whether job `jobId` was printed on `day` (a few stats, no directory read). */
  async isPrinted(day: string, jobId: string): Promise<boolean> {
    const dayDir = path.join(this.dir, day);
    for (const name of [`${jobId}.original.txt`, `${jobId}.copy.txt`, `${jobId}.txt`]) {
      try {
        if ((await fs.stat(path.join(dayDir, name))).size > 0) return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return false;
  }

  async printedOn(day: string): Promise<Map<string, ReceiptKind>> {
    return new Map((await this.jobFiles(day)).map((file) => [file.jobId, file.kind]));
  }

  /**
   * Removes temporary files a crash left in the middle of a print. Only those older than a minute:
   * a younger one may belong to a print running right now.
   */
  async removeLeftovers(day: string, now = Date.now()): Promise<number> {
    const dayDir = path.join(this.dir, day);
    let removed = 0;
    for (const name of await this.names(day)) {
      if (!name.startsWith(TEMP_PREFIX) || !name.endsWith('.tmp')) continue;
      const file = path.join(dayDir, name);
      try {
        if (now - (await fs.stat(file)).mtimeMs < LEFTOVER_AGE_MS) continue;
      } catch {
        continue; // gone meanwhile: its print finished
      }
      await fs.rm(file, { force: true });
      removed += 1;
    }
    return removed;
  }

  private async jobFiles(day: string): Promise<JobFile[]> {
    const dayDir = path.join(this.dir, day);
    const files: JobFile[] = [];
    for (const name of await this.names(day)) {
      const file = parseJobFile(name);
      if (!file) continue;
      // An empty file is a print that a power cut cut short: not printed.
      if ((await fs.stat(path.join(dayDir, name))).size === 0) continue;
      files.push(file);
    }
    return files;
  }

  private async names(day: string): Promise<string[]> {
    try {
      return await fs.readdir(path.join(this.dir, day));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}
