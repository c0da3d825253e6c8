/**
 * The built hub under systemd's notify protocol, against a fake notify socket (a unix datagram
 * socket `socat` listens on, as systemd's would): READY=1 once it answers, WATCHDOG=1 while it is
 * healthy, none while its event loop cannot run (the process stopped with SIGSTOP), pings again
 * once it runs, and STOPPING=1 at SIGTERM.
 *
 * socat keeps the file descriptor systemd-notify sends to learn that the manager has read its
 * message, so each systemd-notify waits its 5 s and exits 1 here; the message itself has arrived
 * by then (systemd closes that descriptor at once, so on a box the tool returns at once).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { poll } from '../support/poll.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const processes: ChildProcess[] = [];
let hub: HubProcess | null = null;

afterAll(async () => {
  if (hub) {
    hub.child.kill('SIGCONT');
    await hub.kill();
  }
  for (const child of processes) child.kill();
  temp.removeAll();
});

/** A notify socket: what was sent to it, one string (datagrams are not separated). */
async function fakeNotifySocket(): Promise<{ path: string; received: () => string }> {
  const socketPath = path.join(temp.make('ayi-notify-'), 'notify.sock');
  const socat = spawn('socat', ['-u', `UNIX-RECV:${socketPath}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
  processes.push(socat);
  let received = '';
  socat.stdout!.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  await poll(async () => existsSync(socketPath), Boolean, 'the fake notify socket', 10_000, 20);
  return { path: socketPath, received: () => received };
}

const count = (text: string, message: string) => text.split(message).length - 1;

/** Long enough to tell "no pings" from pings 1 s apart on a busy machine. */
const QUIET_MS = 4000;

describe('the hub under systemd (Type=notify, WatchdogSec=)', { timeout: 90_000 }, () => {
  it('says it is ready, pings while healthy, not while its event loop is stuck, and says it is stopping', async () => {
    const notify = await fakeNotifySocket();
    // WatchdogSec=3: a ping every second.
    hub = await startHubProcess({
      env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '3000000', AYI_LOG_LEVEL: 'info' },
    });
    const received = await poll(
      async () => notify.received(),
      (text) => text.includes('READY=1'),
      'READY=1',
    );
    expect(received).toMatch(/READY=1\nSTATUS=Selling: store \S+, port \d+/);

    await poll(
      async () => count(notify.received(), 'WATCHDOG=1'),
      (n) => n >= 3,
      'three watchdog pings',
    );
    // Each ping follows a GET of the health page; those requests stay out of the log at info.
    expect(hub.output()).toContain('systemd watchdog on');
    expect(hub.output()).not.toContain('"route":"/api/health"');

    // A stopped process runs no event loop: what it sends is what a hung hub sends.
    hub.child.kill('SIGSTOP');
    // A ping already handed to systemd-notify may still land: count from a moment after the stop.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pingsWhenStopped = count(notify.received(), 'WATCHDOG=1');
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    expect(count(notify.received(), 'WATCHDOG=1')).toBe(pingsWhenStopped);

    hub.child.kill('SIGCONT');
    await poll(
      async () => count(notify.received(), 'WATCHDOG=1'),
      (n) => n > pingsWhenStopped,
      'pings once the event loop runs again',
    );
    // The first check after the stop came late: it sent nothing and said why (once per spell:
    // tests/unit/services/watchdog.test.ts).
    expect(hub.output()).toContain('watchdog pings to systemd stopped: the event loop was stuck');
    expect(notify.received()).toContain('STATUS=Not healthy: the event loop was stuck');

    await hub.stop();
    expect(hub.child.exitCode).toBe(0);
    await poll(
      async () => notify.received(),
      (text) => text.includes('STOPPING=1'),
      'STOPPING=1',
    );
    hub = null;
  });
});
