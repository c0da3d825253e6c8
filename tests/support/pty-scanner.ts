/**
 * A USB-COM scanner made of a pseudo-terminal pair (socat): the hub opens `<dir>/scanner` as its
 * serial port, the test writes codes into `<dir>/feed` the way a scanner sends them. `unplug()`
 * kills socat (the hub's port goes away as on a real unplug; the links vanish), `plug()` starts a
 * new pair on the same links.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export const SOCAT = process.env.SOCAT ?? '/usr/bin/socat';

export function socatAvailable(): boolean {
  return existsSync(SOCAT);
}

export class PtyScanner {
  /** The path the hub opens (as a scanner's serial port). */
  readonly path: string;
  /** The path the test writes into. */
  readonly feedPath: string;
  private socat: ChildProcess | null = null;
  private feed: FileHandle | null = null;

  constructor(readonly dir: string) {
    this.path = path.join(dir, 'scanner');
    this.feedPath = path.join(dir, 'feed');
  }

  /** Starts socat and waits until both links exist. */
  async plug(timeoutMs = 5000): Promise<void> {
    if (this.socat) return;
    const child = spawn(
      SOCAT,
      ['-d', '-d', `pty,raw,echo=0,link=${this.path}`, `pty,raw,echo=0,link=${this.feedPath}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => (stderr += text));
    this.socat = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`socat exited (${code}): ${stderr.trim()}`))),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    while (!(existsSync(this.path) && existsSync(this.feedPath))) {
      if (Date.now() > deadline) {
        await this.unplug();
        throw new Error(`socat did not create ${this.path} within ${timeoutMs} ms: ${stderr.trim()}`);
      }
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 10)), exited]);
    }
    this.feed = await open(this.feedPath, 'w');
  }

  /** Writes bytes into the feed side, as the scanner sends them (a code and its terminator). */
  async send(data: string | Uint8Array): Promise<void> {
    if (!this.feed) throw new Error('the pty scanner is unplugged');
    await this.feed.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** A code the way a scanner sends it: `prefix` (an AIM identifier) + code + CR LF. */
  scan(code: string, prefix = '', terminator = '\r\n'): Promise<void> {
    return this.send(`${prefix}${code}${terminator}`);
  }

  /** Kills socat (both pty ends close; its links are removed). */
  async unplug(): Promise<void> {
    const child = this.socat;
    const feed = this.feed;
    this.socat = null;
    this.feed = null;
    await feed?.close().catch(() => undefined);
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await gone;
    }
  }
}

/** Plugs a pty scanner in `dir`. */
export async function startPtyScanner(dir: string): Promise<PtyScanner> {
  const scanner = new PtyScanner(dir);
  await scanner.plug();
  return scanner;
}
