/**
 * HQ sees a tablet locked by wrong PINs: the hub's retained status names it as soon as it is
 * locked, and drops it once a manager unlocks it. A real mosquitto; time moved with a fake clock.
 */
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import { LinkStatusSchema } from '../../hub/src/protocol/event-schemas.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { TabletClient, newPairingCode, pairedTablet, startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const CHAIN = 'test-chain';
const STORE = 'store-locks';
let broker: Mosquitto;
let hq: HqSubscriber;
let hub: Hub;
const clock = new FakeClock('2026-11-22T02:00:00Z');

beforeAll(async () => {
  broker = await startMosquitto();
  hq = await hqSubscriber(broker.url, `${storeTopics(CHAIN, STORE).root}/status`);
  hub = await startTestHub({
    dataDir: temp.make('ayi-locks-'),
    clock: clock.now,
    config: { chainId: CHAIN, storeId: STORE, mqttUrl: broker.url, mqttReconnectMaxMs: 1000 },
  });
});

afterAll(async () => {
  await hq?.close();
  await hub?.stop();
  await broker?.kill();
  temp.removeAll();
});

type Status = {
  state: string;
  lockedTablets?: { deviceId: string; name: string; lockedAt: string }[];
  storePinBlock?: { since: string; until: string } | null;
};

describe('the status to HQ', () => {
  it('names a tablet locked by wrong PINs, and no longer once it is unlocked', async () => {
    await hq.waitFor(() => hq.last('/status')?.state === 'online', 15_000, 'the online status');
    expect((hq.last('/status') as Status).lockedTablets).toEqual([]);

    const manager = await pairedTablet(hub, '222222', 'Office');
    const counter = new TabletClient(hub.url);
    await counter.pair(await newPairingCode(hub), 'Counter 1');
    for (let i = 0; i < 10; i++) {
      clock.advance(60_000); // past every back-off
      await counter.request('POST', '/api/session', { pin: String(900_000 + i) });
    }
    const locked = () => (hq.last('/status') as Status).lockedTablets ?? [];
    await hq.waitFor(() => locked().length === 1, 10_000, 'the locked tablet in the status');
    const status = hq.last('/status')!;
    expect(Value.Check(LinkStatusSchema, status)).toBe(true);
    expect(locked()).toEqual([{ deviceId: counter.deviceId, name: 'Counter 1', lockedAt: clock.now().toISOString() }]);
    // retained: HQ subscribing later sees it at once
    const late = await hqSubscriber(broker.url, `${storeTopics(CHAIN, STORE).root}/status`);
    try {
      await late.waitFor(() => late.messages.length > 0, 10_000, 'the retained status');
      expect(late.messages[0]!.retain).toBe(true);
      expect((late.last('/status') as Status).lockedTablets).toHaveLength(1);
    } finally {
      await late.close();
    }

    expect((await manager.request('POST', `/api/devices/${counter.deviceId}/unlock`)).status).toBe(200);
    await hq.waitFor(() => locked().length === 0, 10_000, 'the status without the locked tablet');
  });

  it('reports the store-wide block when the store’s 60 wrong PINs of the hour are reached', async () => {
    expect((hq.last('/status') as Status).storePinBlock).toBeNull();
    const owner = await pairedTablet(hub, '333333', 'Owner');
    const blocked = async () => (await owner.request('GET', '/api/hardware')).body.storePinBlock;
    expect(await blocked()).toBeNull();
    // nine wrong PINs a tablet (no lock), tablet after tablet, until the store's limit answers
    let reached = false;
    for (let t = 1; !reached && t <= 12; t++) {
      const counter = new TabletClient(hub.url);
      await counter.pair(await newPairingCode(hub), `Guess ${t}`);
      for (let i = 0; i < 9 && !reached; i++) {
        clock.advance(10_000); // past the back-off (at most 8 s before the ninth)
        const res = await counter.request('POST', '/api/session', { pin: String(800_000 + t * 10 + i) });
        reached = res.body.error?.code === 'store_pin_limit';
      }
    }
    expect(reached).toBe(true);
    const block = () => (hq.last('/status') as Status).storePinBlock;
    await hq.waitFor(() => Boolean(block()), 10_000, 'the store-wide block in the status');
    expect(Value.Check(LinkStatusSchema, hq.last('/status'))).toBe(true);
    const { since, until } = block()!;
    expect(Date.parse(until)).toBeGreaterThan(clock.now().getTime());
    expect(Date.parse(until) - Date.parse(since)).toBeLessThanOrEqual(60 * 60_000);
    // and on the devices page's list
    expect(await blocked()).toEqual({ since, until });
  });
});
