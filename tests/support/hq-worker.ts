/**
 * HQ ingest workers as separate processes (`node --import tsx hq/src/main.ts ingest`), as they run in
 * production: started until they log that ingest runs, stopped (SIGTERM) or killed (SIGKILL), and
 * started again under the same id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from './hub-process.ts';

/** One HQ ingest worker process, killed and restarted under the same id. */
export class HqWorker {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** The worker's log lines at warning level and above, from every run. */
  readonly warnings: string[] = [];
  kills = 0;

  constructor(
    readonly id: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'hq/src/main.ts', 'ingest'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.env, AYI_HQ_WORKER: this.id },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        log += text;
        // Warnings and errors of every run are kept for the test to look at; the rest only for startup.
        for (const line of text.split('\n')) if (/"level":(4|5)\d/.test(line)) this.warnings.push(line);
        if (log.includes('"msg":"HQ ingest running"')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => reject(new Error(`worker ${this.id} exited (${code ?? signal}):\n${log}`)));
    });
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
    this.child = null;
    this.kills += 1;
  }

  async stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
