/**
 * The virtual receipt printer of the embedded default: each job's text is kept as a file
 * (`printer/virtual/YYYY-MM-DD/<jobId>.<original|copy>.txt`) so staff can see in the UI what
 * would have printed. The kind is part of the stored name, never guessed from the job number.
 *
 * A job is written to a hidden temporary file, fsync'd, then linked to its name (a rename that
 * never replaces: a job id is printed once, a retry of the same job is a no-op) and the directory
 * fsync'd. So a job is either wholly there after a crash or not there at all (and can be printed
 * again); never an empty or half-written file that blocks its own retry.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensureDirectory, fsyncDirectory } from '../storage/fsync.js';

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
  print(job: PrintJob): Promise<boolean>;
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

export class VirtualPrinter implements ReceiptPrinter {
  readonly columns = 42;

  constructor(private readonly dir: string) {}

  async print(job: PrintJob): Promise<boolean> {
    const dayDir = path.join(this.dir, job.day);
    await ensureDirectory(dayDir);
    if ((await this.printedOn(job.day)).has(job.jobId)) return false;
    const final = path.join(dayDir, `${job.jobId}.${job.kind}.txt`);
    const temp = path.join(dayDir, `${TEMP_PREFIX}${job.jobId}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await fs.open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(job.text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    let printed = true;
    try {
      await fs.link(temp, final);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      printed = false; // a retry of a job that made it: printed once
    } finally {
      await fs.rm(temp, { force: true });
    }
    await fsyncDirectory(dayDir);
    return printed;
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
      // An empty legacy file is a print that a crash cut short (the old 'wx' write): not printed.
      if (!name.endsWith(`.${file.kind}.txt`) && (await fs.stat(path.join(dayDir, name))).size === 0) continue;
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
