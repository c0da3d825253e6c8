/**
 * HQ's broker as shipped (firmware-config/mosquitto/hq-broker.conf, with the ACL and a password
 * file, on this machine's port and paths): a real hub in this process publishes as its store's
 * user, and two HQ consumers with persistent sessions (MQTT 5 with a session expiry, MQTT 3.1.1
 * with clean session off) go away. The hub sells on; every event is acknowledged by the broker, so
 * the hub counts it as delivered and will not send it again by itself. The broker restarts. The
 * consumers come back under the same client ids and must receive every event they missed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HqHealthView } from '../../hub/src/transport/http/app.ts';
import { REPO_ROOT } from '../support/hub-process.ts';
import {
  configDirectives,
  hqSubscriber,
  startMosquitto,
  type HqSubscriber,
  type Mosquitto,
} from '../support/mosquitto.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { pairedTablet, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const MOSQUITTO_DIR = path.join(REPO_ROOT, 'firmware-config', 'mosquitto');
const HQ_BROKER_CONF = path.join(MOSQUITTO_DIR, 'hq-broker.conf');
const ACL_FILE = path.join(MOSQUITTO_DIR, 'acl.conf');
const USERS = { 'demo/store-001': 'pw-store-001', hq: 'pw-hq' };
const EVENTS = 'ayi/v1/demo/+/events';

const temp = new TempDirs();
let broker: Mosquitto;
let hub: Hub;
let tablet: TabletClient;
const sessions = { v5: 'hq-consumer-v5', v311: 'hq-consumer-v311' };
let firstV5: HqSubscriber;
let firstV311: HqSubscriber;

/** The value of a directive in the shipped file. */
function setting(name: string): string | undefined {
  return configDirectives(readFileSync(HQ_BROKER_CONF, 'utf8'))
    .findLast((d) => d.directive === name)
    ?.line.split(/\s+/)[1];
}

async function hqLink(): Promise<HqHealthView & { lastSeq: number }> {
  const health = (await (await fetch(`${hub.url}/api/health`)).json()) as { lastSeq: number; hq: HqHealthView };
  return { ...health.hq, lastSeq: health.lastSeq };
}

async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const consumer = (clientId: string, extra: IClientOptions = {}) =>
  hqSubscriber(broker.url, EVENTS, true, { clientId, username: 'hq', password: USERS.hq, ...extra });

const seqs = (...subscribers: HqSubscriber[]) =>
  [...new Set(subscribers.flatMap((s) => s.unique().map((e) => e.seq)))].sort((a, b) => a - b);

beforeAll(async () => {
  broker = await startMosquitto({ configFile: HQ_BROKER_CONF, users: USERS, aclFile: ACL_FILE });
  // HQ's consumers subscribe before the hub starts: they have every event from seq 1.
  firstV5 = await consumer(sessions.v5);
  firstV311 = await consumer(sessions.v311, { protocolVersion: 4 });
  hub = await startTestHub({
    dataDir: temp.make('ayi-broker-persistence-'),
    config: {
      chainId: 'demo',
      storeId: 'store-001',
      mqttUrl: broker.url,
      mqttUsername: 'demo/store-001',
      mqttPassword: USERS['demo/store-001'],
      mqttReconnectMaxMs: 1000,
    },
  });
  tablet = await pairedTablet(hub, '1111', 'Counter');
});

afterAll(async () => {
  await hub?.stop();
  await broker?.kill();
  temp.removeAll();
});

describe("HQ's broker configuration", () => {
  it('turns persistence on, saves it on a schedule, and has finite queue limits for a day of the busiest store', () => {
    expect(setting('persistence')).toBe('true');
    expect(setting('persistence_location')).toBe('/var/lib/mosquitto/');
    expect(Number(setting('autosave_interval'))).toBeGreaterThan(0);
    const messages = Number(setting('max_queued_messages'));
    const bytes = Number(setting('max_queued_bytes'));
    // 0 means no limit (and breaks mosquitto 2.0.11 with an ACL, see README.md).
    expect(messages).toBeGreaterThan(0);
    expect(bytes).toBeGreaterThan(0);
    // Both limits hold the same number of events of 2 KiB (the size the README's arithmetic assumes).
    expect(bytes).toBe(messages * 2048);
    expect(broker.output()).not.toMatch(/error/i);
  });

  it('gives a consumer that was away, across a broker restart, every event the hub counted as delivered', async () => {
    for (let i = 0; i < 3; i++) {
      await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 100 }]));
    }
    const before = await until(hqLink, (l) => l.link === 'connected' && l.backlog === 0, 'the first sales delivered');
    const upToNow = Array.from({ length: before.lastSeq }, (_, i) => i + 1);
    await firstV5.waitFor(() => seqs(firstV5).length === before.lastSeq, 10_000, 'the first events (MQTT 5)');
    await firstV311.waitFor(() => seqs(firstV311).length === before.lastSeq, 10_000, 'the first events (3.1.1)');
    expect(seqs(firstV5)).toEqual(upToNow);
    await Promise.all([firstV5.close(), firstV311.close()]);

    // HQ is away: the hub sells on, and the broker acknowledges every event.
    for (let i = 0; i < 20; i++) {
      await sell(
        tablet,
        checkoutRequest([{ sku: i % 2 ? 'DRK-001' : 'DRK-003', qty: 1 + (i % 3) }], [{ type: 'cash', amount: 200 }]),
      );
    }
    const away = await until(hqLink, (l) => l.backlog === 0, 'every event delivered to the broker');
    expect(away.deliveredSeq).toBe(away.lastSeq);
    expect(away.lastSeq).toBeGreaterThanOrEqual(before.lastSeq + 20);

    await broker.stop();
    await broker.start();
    await until(hqLink, (l) => l.link === 'connected', 'the hub back on the broker');

    const v5 = await consumer(sessions.v5);
    const v311 = await consumer(sessions.v311, { protocolVersion: 4 });
    const all = Array.from({ length: away.lastSeq }, (_, i) => i + 1);
    await v5.waitFor(() => seqs(firstV5, v5).length >= all.length, 10_000, 'the missed events (MQTT 5)');
    await v311.waitFor(() => seqs(firstV311, v311).length >= all.length, 10_000, 'the missed events (MQTT 3.1.1)');
    expect(seqs(firstV5, v5)).toEqual(all);
    expect(seqs(firstV311, v311)).toEqual(all);
    // What they missed came from the broker's queue, in order, not from the hub resending.
    expect(v5.unique().map((e) => e.seq)).toEqual(all.slice(before.lastSeq));
    await Promise.all([v5.close(), v311.close()]);
  });
});
