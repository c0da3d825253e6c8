/**
 * The retained status of a hub process (`node hub/dist/main.js`, built): online while it runs,
 * offline by its last will when it is SIGKILLed, online again when it restarts, with every event
 * of its journal delivered across the kill (after dedupe by eventId).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { LinkStatusSchema } from '../../hub/src/protocol/event-schemas.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, lastSeq, sell } from '../support/sales.ts';
import { TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const CHAIN = 'test-chain';
const STORE = 'store-kill';
const root = storeTopics(CHAIN, STORE).root;
const temp = new TempDirs();
let broker: Mosquitto;
let hq: HqSubscriber;
const processes: HubProcess[] = [];

async function startHub(dataDir: string): Promise<HubProcess> {
  const hub = await startHubProcess({
    dataDir,
    env: {
      AYI_CHAIN_ID: CHAIN,
      AYI_STORE_ID: STORE,
      AYI_MQTT_URL: broker.url,
      AYI_MQTT_RECONNECT_MAX_MS: '1000',
    },
  });
  processes.push(hub);
  return hub;
}

beforeAll(async () => {
  broker = await startMosquitto();
  hq = await hqSubscriber(broker.url, `${root}/#`);
});

afterAll(async () => {
  await hq?.close();
  for (const hub of processes) await hub.kill();
  await broker?.kill();
  temp.removeAll();
});

describe('the retained status of a hub process', () => {
  it('is online while the hub runs and offline by the last will when it is killed', async () => {
    const dataDir = temp.make('ayi-mqtt-kill-');
    const hub = await startHub(dataDir);
    await hq.waitFor(() => hq.last('/status')?.state === 'online', 15_000, 'online');
    const online = hq.last('/status')!;
    expect(Value.Check(LinkStatusSchema, online)).toBe(true);
    expect(online).toMatchObject({ chainId: CHAIN, storeId: STORE });

    const tablet = new TabletClient(hub.url);
    await tablet.pair(hub.pairingCode);
    await tablet.login(hub.demoPins.cashier);
    for (let i = 0; i < 20; i++) {
      await sell(tablet, checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 100 }]));
    }
    const seqBeforeKill = await lastSeq(hub.url);
    await hub.kill('SIGKILL');
    await hq.waitFor(() => hq.last('/status')?.state === 'offline', 15_000, 'the last will');
    expect(hq.last('/status')).toMatchObject({ state: 'offline', reason: 'connection-lost', epoch: online.epoch });

    // Whoever subscribes later is told the store is offline (retained).
    const later = await hqSubscriber(broker.url, `${root}/status`);
    try {
      await later.waitFor(() => later.last('/status') !== null, 5000, 'the retained status');
      expect(later.last('/status')).toMatchObject({ state: 'offline' });
      expect(later.messages[0]!.retain).toBe(true);
    } finally {
      await later.close();
    }

    // Restarted on the same data directory: online again, and the journal is all at HQ.
    const again = await startHub(dataDir);
    await hq.waitFor(() => hq.last('/status')?.state === 'online', 15_000, 'online again');
    const seq = await lastSeq(again.url);
    expect(seq).toBeGreaterThanOrEqual(seqBeforeKill);
    await hq.waitFor(() => hq.unique().length >= seq, 15_000, `${seq} events`);
    expect(hq.unique().map((e) => e.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
  });
});
