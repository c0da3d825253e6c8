/**
 * The hub's systemd watchdog pings only while the hub can sell: a journal write (fdatasync) that
 * never finishes, a health page that does not answer, or a check that comes far too late (a stuck
 * event loop) stops the pings, and why is logged once. A real journal on real files (only its
 * fdatasync is held back, as a dying SD card would) and a real HTTP server on a free port.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Journal } from '../../../hub/src/storage/journal.ts';
import { HubWatchdog, type WatchdogOptions } from '../../../hub/src/services/watchdog.service.ts';
import { SystemdNotifier, watchdogTimeoutMs } from '../../../hub/src/services/systemd-notify.ts';
import { poll } from '../../support/poll.ts';
import { pairedEvent } from '../../support/journal-events.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
const servers: http.Server[] = [];
const watchdogs: HubWatchdog[] = [];
afterEach(() => {
  for (const watchdog of watchdogs.splice(0)) watchdog.stop();
  vi.restoreAllMocks();
});
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  temp.removeAll();
});

/** A health page on a free loopback port: answers with `status`, or never when null. */
async function healthServer(status: number | null): Promise<string> {
  const server = http.createServer((request, response) => {
    if (status !== null) response.writeHead(status).end('{}');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/health`;
}

/** Every fdatasync of a file handle waits until release() (what a dying SD card does to a write). */
async function holdDatasync(dir: string): Promise<{ release: () => void }> {
  const probe = await fs.open(path.join(dir, 'probe'), 'w');
  const prototype = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const datasync = prototype.datasync;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  vi.spyOn(prototype, 'datasync').mockImplementation(function (this: FileHandle) {
    return released.then(() => datasync.call(this));
  });
  return { release };
}

interface Recorded {
  pings: number;
  statuses: string[];
  warnings: string[];
}

function watchdogFor(options: Partial<WatchdogOptions> & Pick<WatchdogOptions, 'healthUrl'>) {
  const recorded: Recorded = { pings: 0, statuses: [], warnings: [] };
  const watchdog = new HubWatchdog({
    timeoutMs: 30_000,
    journalFlushRunningMs: () => null,
    notifier: {
      watchdog: async () => void (recorded.pings += 1),
      status: async (text) => void recorded.statuses.push(text),
    },
    log: {
      info: () => undefined,
      warn: ((_fields: unknown, message: string) => void recorded.warnings.push(message)) as never,
    },
    ...options,
  });
  watchdogs.push(watchdog);
  return { watchdog, recorded };
}

describe('systemd watchdog', () => {
  it('takes its timeout from WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(30_000);
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000);
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toBeNull();
    expect(watchdogTimeoutMs({}, 42)).toBeNull();
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeNull();
  });

  it('sends nothing outside systemd, and one-line STATUS= messages under it', async () => {
    const sent: string[][] = [];
    const record = async (assignments: string[]) => void sent.push(assignments);
    expect(SystemdNotifier.fromEnv({}, record)).toBeNull();
    const notifier = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '/run/systemd/notify' }, record)!;
    await notifier.ready('Selling: store demo/store-001,\nport 8080');
    await notifier.watchdog();
    await notifier.stopping('Stopping');
    expect(sent).toEqual([
      ['READY=1', 'STATUS=Selling: store demo/store-001, port 8080'],
      ['WATCHDOG=1'],
      ['STOPPING=1', 'STATUS=Stopping'],
    ]);
  });

  it('pings a third of the timeout apart', () => {
    const { watchdog } = watchdogFor({ healthUrl: 'http://127.0.0.1:1/api/health' });
    expect(watchdog.intervalMs).toBe(10_000);
  });

  it('is healthy while the health page answers, not when it answers with an error or not at all', async () => {
    const ok = watchdogFor({ healthUrl: await healthServer(200), timeoutMs: 3000 });
    expect(await ok.watchdog.check()).toBeNull();
    const failing = watchdogFor({ healthUrl: await healthServer(500), timeoutMs: 3000 });
    expect(await failing.watchdog.check()).toMatchObject({ kind: 'http_not_answering' });
    const silent = watchdogFor({ healthUrl: await healthServer(null), timeoutMs: 3000 });
    expect(await silent.watchdog.check()).toMatchObject({ kind: 'http_not_answering' });
  });

  it('is not healthy when a check comes later than a ping interval (the event loop was stuck)', async () => {
    const { watchdog } = watchdogFor({ healthUrl: await healthServer(200) });
    expect(await watchdog.check(watchdog.intervalMs / 2)).toBeNull();
    expect(await watchdog.check(watchdog.intervalMs * 2)).toMatchObject({ kind: 'event_loop_stuck' });
  });

  it('stops pinging while a journal write never finishes, says why once, and pings again once it does', async () => {
    const dir = temp.make('ayi-watchdog-');
    const { journal } = await Journal.open(path.join(dir, 'journal'), 'Asia/Taipei');
    await journal.append(pairedEvent(1));
    const healthUrl = await healthServer(200);
    // The journal is asked about a moment later than now when told to: a write held for "a long
    // time" without the test waiting for it.
    let ahead = 0;
    let journalChecks = 0;
    const { watchdog, recorded } = watchdogFor({
      healthUrl,
      timeoutMs: 1500,
      journalFlushRunningMs: (now) => {
        journalChecks += 1;
        return journal.flushRunningMs(now + ahead);
      },
    });
    watchdog.start();
    await poll(
      async () => recorded.pings,
      (pings) => pings >= 2,
      'pings from a healthy hub',
      10_000,
      20,
    );

    const disk = await holdDatasync(dir);
    const appended = journal.append(pairedEvent(2));
    await poll(
      async () => journal.flushRunningMs(),
      (running) => running !== null,
      'the held write',
      10_000,
      10,
    );
    expect(await watchdog.check()).toBeNull(); // a write just started is no problem
    ahead = watchdog.journalStuckMs + 1000;
    await poll(
      async () => recorded.statuses.length,
      (n) => n >= 1,
      'the watchdog to notice the held write',
      10_000,
      20,
    );
    const pingsWhenStuck = recorded.pings;
    const checksWhenStuck = journalChecks;
    await poll(
      async () => journalChecks,
      (n) => n >= checksWhenStuck + 3,
      'three more checks',
      10_000,
      20,
    );
    expect(recorded.pings).toBe(pingsWhenStuck);
    expect(recorded.warnings).toHaveLength(1);
    expect(recorded.warnings[0]).toMatch(/journal write \(fdatasync\) has not finished/);
    expect(recorded.statuses[0]).toMatch(/^Not healthy: a journal write/);

    disk.release();
    await appended;
    expect(journal.flushRunningMs()).toBeNull();
    await poll(
      async () => recorded.pings,
      (pings) => pings > pingsWhenStuck,
      'pings once the write finished',
      10_000,
      20,
    );
    expect(recorded.statuses.at(-1)).toBe('Selling');
    watchdog.stop();
    await journal.close();
  });
});
