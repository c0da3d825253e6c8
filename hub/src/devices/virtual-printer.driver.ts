/**
 * The virtual receipt printer of the embedded default: each job's text is kept as a file
 * (`printer/virtual/YYYY-MM-DD/<jobId>.txt`) so staff can see in the UI what would have printed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensureDirectory } from '../storage/fsync.js';

export interface PrintedJob {
  jobId: string;
  printedAt: string;
  text: string;
}

export interface ReceiptPrinter {
  readonly columns: number;
  print(job: { jobId: string; day: string; text: string }): Promise<void>;
  jobsFor(day: string, jobIdPrefix: string): Promise<PrintedJob[]>;
}

export class VirtualPrinter implements ReceiptPrinter {
  readonly columns = 42;

  constructor(private readonly dir: string) {}

  async print(job: { jobId: string; day: string; text: string }): Promise<void> {
    const dayDir = path.join(this.dir, job.day);
    await ensureDirectory(dayDir);
    // 'wx': a job id is printed once; a retry of the same job must not print it twice.
    await fs.writeFile(path.join(dayDir, `${job.jobId}.txt`), job.text, { flag: 'wx', mode: 0o600 });
  }

  async jobsFor(day: string, jobIdPrefix: string): Promise<PrintedJob[]> {
    const dayDir = path.join(this.dir, day);
    let names: string[];
    try {
      names = await fs.readdir(dayDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const jobs: PrintedJob[] = [];
    for (const name of names) {
      if (!name.startsWith(jobIdPrefix) || !name.endsWith('.txt')) continue;
      const file = path.join(dayDir, name);
      const [text, stat] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
      jobs.push({ jobId: name.slice(0, -4), printedAt: stat.mtime.toISOString(), text });
    }
    return jobs.sort((a, b) => a.printedAt.localeCompare(b.printedAt) || a.jobId.localeCompare(b.jobId));
  }
}
