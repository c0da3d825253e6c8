/**
 * Problems that come or go with time alone reach HQ without anything else happening at the store:
 * `backup_old` appears once the newest backup is 48 hours old, `went_back_in_time` clears a day
 * after the hub noticed. The hub runs in this process on a clock the test moves (the hours cannot
 * be waited for), against a real mosquitto; HQ's view is the retained status a subscriber gets.
 */
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HubConfig } from '../../hub/src/config/config.ts';
import type { Hub } from '../../hub/src/hub.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { poll } from '../support/poll.ts';
import { type HqSubscriber, type Mosquitto, hqSubscriber, startMosquitto } from '../support/mosquitto.ts';
import { TabletClient, newPairingCode, startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const HOUR = 3600 * 1000;
const dirs = new TempDirs();
let broker: Mosquitto;
let hq: HqSubscriber;
const running: Hub[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  hq = await hqSubscriber(broker.url, 'ayi/v1/#', false);
}, 30_000);
afterEach(async () => {
  for (const hub of running.splice(0)) await hub.stop();
});
afterAll(async () => {
  await hq?.close();
  await broker?.kill();
  dirs.removeAll();
});

async function start(clock: FakeClock, config: Partial<HubConfig> = {}): Promise<Hub> {
  const hub = await startTestHub({
    clock: clock.now,
    config: { mqttUrl: broker.url, mqttReconnectMaxMs: 1000, mqttStatusRecheckSeconds: 1, ...config },
  });
  running.push(hub);
  return hub;
}

async function stop(hub: Hub): Promise<void> {
  await hub.stop();
  running.splice(running.indexOf(hub), 1);
}

/** The newest status of the store HQ holds, once `check` holds for it. */
async function statusWhere(
  storeId: string,
  check: (status: Record<string, unknown>) => boolean,
  what: string,
): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | null = null;
  await hq.waitFor(
    () => {
      found = hq.last(`/${storeId}/status`);
      return found !== null && found.state === 'online' && check(found);
    },
    15_000,
    what,
  );
  return found!;
}

const healthOf = async (hub: Hub) => (await (await fetch(`${hub.url}/api/health`)).json()) as HealthView;

const problemsOf = (status: Record<string, unknown>) => status.problems as string[];

describe('time-based problems in the status to HQ', () => {
  it('backup_old reaches HQ when the newest backup grows old, with nothing else happening', async () => {
    const clock = new FakeClock(new Date());
    const hub = await start(clock, {
      storeId: 'store-old-backup',
      backupDir: dirs.make('ayi-backups-'),
      backupPassphrase: 'a passphrase for the tests',
    });
    await statusWhere('store-old-backup', (status) => problemsOf(status).length === 0, 'a status without problems');
    clock.advance(49 * HOUR);
    const status = await statusWhere(
      'store-old-backup',
      (s) => problemsOf(s).includes('backup_old'),
      'a status with backup_old',
    );
    expect(status.problems).toEqual(['backup_old']);
    expect((await healthOf(hub)).problems).toEqual(['backup_old']);
  }, 60_000);

  it('went_back_in_time leaves the status by itself a day after the hub noticed', async () => {
    const clock = new FakeClock(new Date());
    const storeId = 'store-went-back';
    const dataDir = path.join(dirs.make('ayi-box-'), 'data');
    const copy = path.join(dirs.make('ayi-copy-'), 'data');
    const pair = async (hub: Hub) => new TabletClient(hub.url).pair(await newPairingCode(hub), 'Counter');

    let hub = await start(clock, { storeId, dataDir });
    await stop(hub);
    cpSync(dataDir, copy, { recursive: true });
    hub = await start(clock, { storeId, dataDir });
    await pair(hub);
    const paired = await poll(
      () => healthOf(hub),
      (view) => view.hq.link === 'connected' && view.hq.backlog === 0,
      'the pairing at HQ',
    );
    // The box's status at HQ names that seq: what the put-back copy will be behind.
    await stop(hub);
    await hq.waitFor(() => hq.last(`/${storeId}/status`)?.state === 'offline', 10_000, 'the offline status');
    expect(hq.last(`/${storeId}/status`)).toMatchObject({ lastSeq: paired.lastSeq });
    rmSync(dataDir, { recursive: true, force: true });
    cpSync(copy, dataDir, { recursive: true });

    hub = await start(clock, { storeId, dataDir });
    const noticed = await statusWhere(
      storeId,
      (s) => problemsOf(s).includes('went_back_in_time'),
      'a status with went_back_in_time',
    );
    expect(noticed.wentBackInTime).toMatchObject({ epoch: noticed.epoch });
    clock.advance(25 * HOUR);
    const later = await statusWhere(storeId, (s) => problemsOf(s).length === 0, 'a status without problems');
    // The store is told what happened for as long as it asks: only the alarm is over.
    expect(later.wentBackInTime).toEqual(noticed.wentBackInTime);
    expect((await healthOf(hub)).status).toBe('ok');
  }, 60_000);
});
