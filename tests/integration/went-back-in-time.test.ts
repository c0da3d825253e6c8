/**
 * A hub whose data directory goes back in time (a copy of an earlier day put back, an old SD card
 * image flashed) notices it by itself: the broker's retained status of its store names a later seq
 * of the same epoch. It starts a new epoch before it publishes anything, says so (log, health, the
 * status to HQ), and HQ, running its own ingest code on what the broker delivered, holds every sale
 * of both boxes with no seq conflict and no gap. A broker that forgot the store, a retained status
 * of another epoch, and the hub's own status of this run change nothing.
 *
 * A built hub process (hub/dist: `npm run build -w hub`) and a real mosquitto with persistence.
 */
import { cpSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { readEventMessage } from '../../hq/src/ingest/event-message.ts';
import { GapHealer } from '../../hq/src/ingest/gap-healer.ts';
import { LinkWatch } from '../../hq/src/ingest/link-watch.ts';
import { storeEvent } from '../../hq/src/ingest/store-event.ts';
import type { StoreIdentityFile } from '../../hub/src/storage/store-identity.ts';
import { adminRequest } from '../../hub/src/transport/admin/admin.client.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { type HqSubscriber, type Mosquitto, hqSubscriber, startMosquitto } from '../support/mosquitto.ts';
import { poll } from '../support/poll.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { pairedTablet } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const CHAIN = 'demo';
const STORE = 'store-001';
const STATUS_TOPIC = `ayi/v1/${CHAIN}/${STORE}/status`;
const dirs = new TempDirs();
const quiet = pino({ level: 'silent' });

let broker: Mosquitto;
let hq: HqSubscriber;
const hubs: HubProcess[] = [];

beforeAll(async () => {
  broker = await startMosquitto({ persistence: true });
  hq = await hqSubscriber(broker.url, 'ayi/v1/#', false);
}, 30_000);

afterAll(async () => {
  for (const hub of hubs) await hub.stop();
  await hq?.close();
  await broker?.kill();
  dirs.removeAll();
});

async function startHub(dataDir: string): Promise<HubProcess> {
  const hub = await startHubProcess({ env: { AYI_MQTT_URL: broker.url, AYI_MQTT_RECONNECT_MAX_MS: '1000' }, dataDir });
  hubs.push(hub);
  return hub;
}

async function stopHub(hub: HubProcess): Promise<void> {
  await hub.stop();
  hubs.splice(hubs.indexOf(hub), 1);
}

async function healthOf(hub: HubProcess): Promise<HealthView> {
  return (await (await fetch(`${hub.url}/api/health`)).json()) as HealthView;
}

const oneTea = () => checkoutRequest([{ sku: 'DRK-001', qty: 1 }], [{ type: 'cash', amount: 15 }]);

async function sellSome(hub: HubProcess, count: number): Promise<string[]> {
  const tablet = await pairedTablet(hub);
  const sold: string[] = [];
  for (let i = 0; i < count; i++) sold.push((await sell(tablet, oneTea())).saleId);
  return sold;
}

/** Waits until the broker has taken every event the hub recorded (HQ's subscriber holds its last). */
async function delivered(hub: HubProcess): Promise<HealthView> {
  return poll(
    () => healthOf(hub),
    (health) => health.hq.link === 'connected' && health.hq.backlog === 0,
    'the hub to deliver everything',
    30_000,
  );
}

/**
 * The hub's online status published after `from` (an index into what HQ received): it goes out
 * only once the hub has read the broker's retained status on that connection.
 */
async function onlineStatusAfter(from: number): Promise<Record<string, unknown>> {
  const statuses = (messages: typeof hq.messages) =>
    messages
      .filter((m) => m.topic === STATUS_TOPIC && m.payload !== '')
      .map((m) => JSON.parse(m.payload) as Record<string, unknown>);
  // A copy HQ's subscriber gets again when it reconnects is not new: a new connection's status is.
  const seen = new Set(statuses(hq.messages.slice(0, from)).map((status) => status.connectedAt));
  const find = () =>
    statuses(hq.messages.slice(from)).find((status) => status.state === 'online' && !seen.has(status.connectedAt));
  await hq.waitFor(() => find() !== undefined, 30_000, 'an online status');
  return find()!;
}

const readIdentity = (dataDir: string) =>
  JSON.parse(readFileSync(path.join(dataDir, 'store.json'), 'utf8')) as StoreIdentityFile;

/** What HQ makes of everything the broker delivered, in arrival order, with its own ingest code. */
async function ingestAtHq(): Promise<Database> {
  const db = await openDatabase({ dataDir: 'memory://' });
  await migrate(db);
  const watch = new LinkWatch(db, () => Promise.resolve(), quiet);
  for (const message of hq.messages) {
    if (message.topic === STATUS_TOPIC && message.payload !== '') {
      await watch.noteStatus(CHAIN, STORE, JSON.parse(message.payload));
    } else if (message.topic.endsWith('/events')) {
      const verdict = readEventMessage(message.topic, Buffer.from(message.payload));
      if (!verdict.ok) throw new Error(`HQ refused an event: ${verdict.reason}`);
      await storeEvent(db, verdict.event, verdict.knownType);
    }
  }
  return db;
}

describe('a data directory put back from an earlier day', () => {
  const dataDir = path.join(dirs.make('ayi-box-'), 'data');
  const copyDir = path.join(dirs.make('ayi-copy-'), 'data');
  let oldEpoch: string;
  let copySeq: number;
  let soldBeforeCopy: string[];
  let soldAfterCopy: string[];
  let brokerSeq: number;

  beforeAll(async () => {
    // The box sells; its data directory is copied aside (as a card image would be, box stopped).
    const first = await startHub(dataDir);
    soldBeforeCopy = await sellSome(first, 3);
    const before = await delivered(first);
    oldEpoch = before.epoch;
    copySeq = before.lastSeq;
    await stopHub(first);
    cpSync(dataDir, copyDir, { recursive: true });
    // It sells more, published to HQ, and stops.
    const second = await startHub(dataDir);
    soldAfterCopy = await sellSome(second, 3);
    brokerSeq = (await delivered(second)).lastSeq;
    await stopHub(second);
    expect(brokerSeq).toBeGreaterThan(copySeq);
    // The old copy is put back, file by file.
    rmSync(dataDir, { recursive: true, force: true });
    cpSync(copyDir, dataDir, { recursive: true });
  }, 120_000);

  it('starts a new epoch by itself, says so, and HQ holds both boxes’ sales with no conflict and no gap', async () => {
    // The broker is out of reach when the box starts: the store sells meanwhile, events wait.
    await broker.stop();
    const hub = await startHub(dataDir);
    const soldOffline = await sellSome(hub, 2);
    expect((await healthOf(hub)).wentBackInTime).toBeNull();
    await broker.start();

    const health = await poll(
      () => healthOf(hub),
      (view) => view.wentBackInTime !== null && view.hq.backlog === 0 && view.hq.link === 'connected',
      'the hub to notice and deliver',
      30_000,
    );
    const newEpoch = health.epoch;
    expect(newEpoch).not.toBe(oldEpoch);
    expect(health.wentBackInTime).toMatchObject({
      previousEpoch: oldEpoch,
      epoch: newEpoch,
      epochStartSeq: copySeq + 1,
      brokerSeq,
    });
    expect(health.problems).toContain('went_back_in_time');
    expect(health.status).toBe('degraded');
    expect(hub.output()).toMatch(/went back in time/);
    // `ayi health`, as the technician runs it on the box.
    const told = await adminRequest<Record<string, unknown>>(path.join(dataDir, 'ayi.sock'), 'health');
    expect(told).toMatchObject({ epoch: newEpoch, wentBackInTime: health.wentBackInTime });
    expect(told.problems).toContain('went_back_in_time');
    // Durable: store.json names the new epoch, where it starts and what was noticed.
    const identity = readIdentity(dataDir);
    expect(identity).toMatchObject({ epoch: newEpoch, epochStartSeq: copySeq + 1 });
    expect(identity.wentBackInTime).toHaveLength(1);

    // Sales from now on carry the epoch's code: no sale id can name one of the old box's sales.
    const soldAfter = await sellSome(hub, 2);
    for (const saleId of soldAfter) expect(saleId.endsWith(`-${newEpoch.slice(-6)}`)).toBe(true);
    await delivered(hub);

    const status = hq.last('/status')!;
    expect(status).toMatchObject({ state: 'online', epoch: newEpoch, epochStartSeq: copySeq + 1 });
    expect(status.problems).toContain('went_back_in_time');
    expect(status.wentBackInTime).toMatchObject({ previousEpoch: oldEpoch, epoch: newEpoch });

    // No two different events under one (epoch, seq), across both boxes' publishing.
    expect(hq.seqConflicts()).toEqual([]);
    // This run's events start the new epoch, those sold before it noticed included.
    expect(hq.seqsOf(newEpoch)[0]).toBe(copySeq + 1);

    // HQ's own ingest: no conflict, every stream whole, nothing to ask for, every sale there.
    const db = await ingestAtHq();
    try {
      expect(await db.query('SELECT * FROM seq_conflicts WHERE store_id = $1', [STORE])).toEqual([]);
      const streams = await db.query<{ epoch: string; contiguous_seq: string; max_seq: string }>(
        'SELECT epoch, contiguous_seq, max_seq FROM store_streams WHERE store_id = $1 ORDER BY epoch',
        [STORE],
      );
      expect(streams.map((s) => s.epoch).sort()).toEqual([oldEpoch, newEpoch].sort());
      for (const stream of streams) expect(Number(stream.contiguous_seq)).toBe(Number(stream.max_seq));
      expect(Number(streams.find((s) => s.epoch === oldEpoch)!.max_seq)).toBe(brokerSeq);
      const healer = new GapHealer(db, () => Promise.resolve(), quiet, { graceMs: 0 });
      await healer.check();
      expect(healer.sent).toEqual([]);
      const sales = new Set(
        (await db.query<{ sale_id: string }>('SELECT sale_id FROM sales WHERE store_id = $1', [STORE])).map(
          (row) => row.sale_id,
        ),
      );
      const everySale = [...soldBeforeCopy, ...soldAfterCopy, ...soldOffline, ...soldAfter];
      expect(new Set(everySale).size).toBe(everySale.length);
      for (const saleId of everySale) expect(sales, saleId).toContain(saleId);
    } finally {
      await db.close();
    }

    // A restart changes nothing more: the retained status is of the new epoch now.
    await stopHub(hub);
    const beforeAgain = hq.messages.length;
    const again = await startHub(dataDir);
    await onlineStatusAfter(beforeAgain);
    const after = await delivered(again);
    expect(after.epoch).toBe(newEpoch);
    expect(readIdentity(dataDir).wentBackInTime).toHaveLength(1);
    await stopHub(again);
  }, 120_000);
});

describe('what does not mean the hub went back in time', () => {
  it('a broker that forgot the store, a status of another epoch, the hub’s own status of this run', async () => {
    const dataDir = path.join(dirs.make('ayi-box-'), 'data');
    // Nothing retained: a store the broker has never heard of (or a broker that lost its data).
    const hub = await startHub(dataDir);
    await sellSome(hub, 1);
    const first = await delivered(hub);
    expect(first.wentBackInTime).toBeNull();
    await stopHub(hub);

    // A retained status of another epoch, far ahead (the store's earlier life, before a restore).
    const other = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    await other.publishAsync(
      STATUS_TOPIC,
      JSON.stringify({
        state: 'offline',
        chainId: CHAIN,
        storeId: STORE,
        epoch: '01900000-0000-7000-8000-000000000000',
        lastSeq: first.lastSeq + 1000,
        deliveredSeq: first.lastSeq + 1000,
        version: '0.1.0',
        at: new Date().toISOString(),
      }),
      { qos: 1, retain: true },
    );
    await other.endAsync();
    const beforeRestart = hq.messages.length;
    const restarted = await startHub(dataDir);
    await onlineStatusAfter(beforeRestart);
    const afterOther = await delivered(restarted);
    expect(afterOther.epoch).toBe(first.epoch);
    expect(afterOther.wentBackInTime).toBeNull();

    // Its own status of this run, retained ahead of where it started: another client takes over its
    // connection (the broker publishes that connection's last will), twice, so the retained will is
    // of a connection made after the sales; the hub comes back each time and reads it.
    await sellSome(restarted, 2);
    const sold = await delivered(restarted);
    expect(sold.lastSeq).toBeGreaterThan(afterOther.lastSeq);
    for (let takeover = 0; takeover < 2; takeover++) {
      const before = hq.messages.length;
      const intruder = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `ayi-${CHAIN}-${STORE}` });
      await intruder.endAsync();
      await onlineStatusAfter(before);
    }
    const wills = hq.messages
      .filter((m) => m.topic === STATUS_TOPIC && m.payload !== '')
      .map((m) => JSON.parse(m.payload) as Record<string, unknown>)
      .filter((status) => status.reason === 'connection-lost');
    expect(wills.at(-1)).toMatchObject({ epoch: first.epoch, lastSeq: sold.lastSeq });
    const afterReconnect = await poll(
      () => healthOf(restarted),
      (view) => view.hq.link === 'connected' && view.hq.backlog === 0,
      'the hub to reconnect',
      30_000,
    );
    expect(afterReconnect.epoch).toBe(first.epoch);
    expect(afterReconnect.wentBackInTime).toBeNull();
    expect(afterReconnect.problems).toEqual([]);
    expect(readIdentity(dataDir).epochStartSeq).toBeUndefined();
    await stopHub(restarted);
  }, 120_000);
});
