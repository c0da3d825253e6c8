/**
 * The HQ link's outbox against a real mosquitto, composed the way the hub composes it (journal,
 * event store, link) but without the rest of the hub: order, outages, a backlog bigger than the
 * in-memory tail, the persisted watermark across restarts, the in-flight window, status, commands,
 * credentials and TLS file errors.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type IClientOptions } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HqLinkService, type HqLinkSettings } from '../../hub/src/services/hq-link.service.ts';
import { EventStore } from '../../hub/src/storage/event-store.ts';
import { Journal } from '../../hub/src/storage/journal.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { WATERMARK_FILE } from '../../hub/src/transport/mqtt/watermark-file.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const identity = { chainId: 'test-chain', storeId: 'store-7', epoch: '0190c2d4-0000-7000-8000-000000000001' };
const topics = storeTopics(identity.chainId, identity.storeId);
const log = pino({ level: 'silent' });

let broker: Mosquitto;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  broker = await startMosquitto({ persistence: true });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  if (broker) await broker.start(); // a test that stopped it leaves it running for the next
});
afterAll(async () => {
  await broker?.kill();
  temp.removeAll();
});

function settings(overrides: Partial<HqLinkSettings> = {}): HqLinkSettings {
  return {
    url: broker.url,
    username: null,
    password: null,
    caFile: null,
    certFile: null,
    keyFile: null,
    keepaliveSeconds: 10,
    inflightWindow: 64,
    reconnectMinMs: 100,
    reconnectMaxMs: 500,
    backlogAlertSeconds: 900,
    tailSize: 4096,
    ...overrides,
  };
}

interface Store {
  dataDir: string;
  journal: Journal;
  events: EventStore;
  link: HqLinkService;
  record(n: number, parallel?: number): Promise<void>;
  close(): Promise<void>;
}

/** A journal, an event store and a link on `dataDir`, wired as hub.ts wires them. */
async function openStore(
  dataDir: string,
  linkSettings: Partial<HqLinkSettings> = {},
  extra: { connect?: (url: string, options: IClientOptions) => ReturnType<typeof connect> } = {},
): Promise<Store> {
  const { journal, lastEvent } = await Journal.open(path.join(dataDir, 'journal'), 'Asia/Taipei');
  const events = new EventStore(
    journal,
    identity,
    lastEvent?.seq ?? 0,
    () => new Date(),
    (err) => {
      throw err;
    },
    (err) => {
      throw err;
    },
  );
  const link = new HqLinkService({
    settings: settings(linkSettings),
    identity,
    version: '0.0.0-test',
    timeZone: 'Asia/Taipei',
    dataDir,
    journal,
    lastSeq: () => events.lastSeq,
    log,
    devices: () => [{ id: 'printer-1', state: 'ready' }],
    ...(extra.connect ? { connect: extra.connect } : {}),
  });
  events.onCommitted((event) => link.noteCommitted(event));
  let counter = 0;
  const store: Store = {
    dataDir,
    journal,
    events,
    link,
    // `parallel` callers at a time, like several tablets ringing up sales at once.
    record: async (n, parallel = 4) => {
      let left = n;
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (left > 0) {
            left -= 1;
            await events.record('device.revoked', { deviceId: `tablet-${++counter}` });
          }
        }),
      );
    },
    close: async () => {
      await link.stop();
      await journal.close();
    },
  };
  cleanups.push(() => store.close());
  return store;
}

async function subscriber(persistent = false): Promise<HqSubscriber> {
  const sub = await hqSubscriber(broker.url, `${topics.root}/#`, persistent);
  cleanups.push(() => sub.close());
  return sub;
}

/** Every seq from `from` to `to` exactly once, in order, after dedupe by eventId. */
function expectInOrder(events: HubEvent[], from: number, to: number): void {
  const seqs = events.map((e) => e.seq);
  expect(seqs.length).toBe(to - from + 1);
  expect(seqs[0]).toBe(from);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
}

/** Arrival order is seq order, re-publishes (after a reconnect) starting again from a lower seq. */
function expectNoSkips(events: HubEvent[]): void {
  let highest = 0;
  for (const event of events) {
    expect(event.seq).toBeLessThanOrEqual(highest + 1);
    highest = Math.max(highest, event.seq);
  }
}

async function waitUntil(check: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('HQ link outbox', () => {
  it('publishes events recorded before and after start, in seq order, with complete envelopes', async () => {
    const sub = await subscriber();
    const store = await openStore(temp.make('ayi-mqtt-'));
    await store.record(300); // before the link starts: read from the journal
    await store.link.start();
    await store.record(1200); // while it runs: from the tail
    await sub.waitFor(() => sub.unique().length === 1500, 20_000, '1,500 events');
    expectInOrder(sub.unique(), 1, 1500);
    expect(sub.events.length).toBe(1500);
    const event = sub.events[1400]!;
    expect(event).toMatchObject({ schema: 'ayi.event/1', ...identity, seq: 1401, type: 'device.revoked' });
    expect(event.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(event.at)).not.toBeNaN();
    await waitUntil(() => store.link.state().deliveredSeq === 1500, 5000, 'the watermark');
    expect(store.link.state()).toMatchObject({
      link: 'connected',
      lastSeq: 1500,
      backlog: 0,
      oldestUndeliveredAt: null,
      backlogAlert: false,
    });
    await store.link.stop();
    const watermark = JSON.parse(readFileSync(path.join(store.dataDir, WATERMARK_FILE), 'utf8')) as {
      deliveredSeq: number;
      epoch: string;
    };
    expect(watermark).toMatchObject({ deliveredSeq: 1500, epoch: identity.epoch });
  });

  it('keeps at most the window of publishes unacknowledged', async () => {
    let inFlight = 0;
    let highest = 0;
    const counting = (url: string, options: IClientOptions) => {
      const client = connect(url, options);
      type Publish = (topic: unknown, payload: unknown, opts: unknown, cb: (err?: Error) => void) => unknown;
      const publish = client.publish.bind(client) as Publish;
      (client as unknown as { publish: Publish }).publish = (topic, payload, opts, cb) => {
        if (typeof topic === 'string' && topic.endsWith('/events')) {
          inFlight += 1;
          highest = Math.max(highest, inFlight);
          return publish(topic, payload, opts, (err?: Error) => {
            inFlight -= 1;
            cb(err);
          });
        }
        return publish(topic, payload, opts, cb);
      };
      return client;
    };
    const sub = await subscriber();
    const store = await openStore(temp.make('ayi-mqtt-'), { inflightWindow: 8 }, { connect: counting });
    await store.record(2000);
    await store.link.start();
    await sub.waitFor(() => sub.unique().length === 2000, 20_000, '2,000 events');
    expectInOrder(sub.unique(), 1, 2000);
    expect(highest).toBeLessThanOrEqual(8);
    expect(highest).toBeGreaterThan(1);
  });

  it('grows a backlog while the broker is down and drains it in order when it is back', async () => {
    const sub = await subscriber(true);
    const store = await openStore(temp.make('ayi-mqtt-'), { tailSize: 100 });
    await store.link.start();
    await store.record(50);
    await sub.waitFor(() => sub.unique().length === 50, 10_000, 'the first 50');

    await broker.stop();
    await waitUntil(() => store.link.state().link !== 'connected', 10_000, 'the link to notice');
    await store.record(500); // more than the tail: the older part comes from the journal
    const down = store.link.state();
    expect(down.link === 'disconnected' || down.link === 'connecting').toBe(true);
    expect(down.backlog).toBe(500);
    expect(down.oldestUndeliveredAt).not.toBeNull();
    expect(Date.parse(down.oldestUndeliveredAt!)).toBeLessThanOrEqual(Date.now());
    expect(down.lastError).not.toBeNull();

    await broker.start();
    await sub.waitFor(() => sub.unique().length === 550, 20_000, 'all 550 events');
    expectInOrder(sub.unique(), 1, 550);
    expectNoSkips(sub.events);
    await waitUntil(() => store.link.state().backlog === 0, 5000, 'the backlog to drain');
    expect(store.link.state().link).toBe('connected');
  });

  it('starts again from the persisted watermark after a restart', async () => {
    const dataDir = temp.make('ayi-mqtt-');
    const sub = await subscriber();
    const first = await openStore(dataDir);
    await first.link.start();
    await first.record(400);
    await sub.waitFor(() => sub.unique().length === 400, 10_000, '400 events');
    await waitUntil(() => first.link.state().deliveredSeq === 400, 5000, 'the watermark');
    await first.close();

    // Events recorded while the link is down (no broker configured) wait in the journal.
    const offline = await openStore(dataDir, { url: null });
    await offline.link.start();
    await offline.record(100);
    expect(offline.link.state()).toMatchObject({ link: 'disabled', deliveredSeq: 400, backlog: 100 });
    expect(offline.link.state().oldestUndeliveredAt).not.toBeNull();
    await offline.close();

    const before = sub.events.length;
    const second = await openStore(dataDir);
    await second.link.start();
    expect(second.link.state().deliveredSeq).toBe(400);
    await second.record(100);
    await sub.waitFor(() => sub.unique().length === 600, 10_000, '600 events');
    const again = sub.events.slice(before);
    expect(again[0]!.seq).toBe(401); // nothing delivered before is published again after a clean stop
    expectInOrder(sub.unique(), 1, 600);
  });

  it('keeps a retained online status, and offline after a clean stop', async () => {
    const store = await openStore(temp.make('ayi-mqtt-'));
    await store.record(5);
    await store.link.start();
    await waitUntil(() => store.link.state().link === 'connected', 10_000, 'connected');
    await waitUntil(() => store.link.state().deliveredSeq === 5, 5000, 'delivered');

    const late = await subscriber(); // subscribes after the birth: gets it retained
    await late.waitFor(() => late.last('/status') !== null, 5000, 'the retained status');
    const retained = late.messages.find((m) => m.topic === topics.status)!;
    expect(retained.retain).toBe(true);
    expect(JSON.parse(retained.payload)).toMatchObject({
      state: 'online',
      epoch: identity.epoch,
      lastSeq: 5,
      version: '0.0.0-test',
      devices: [{ id: 'printer-1', state: 'ready' }],
    });

    await store.link.stop();
    await late.waitFor(() => late.last('/status')?.state === 'offline', 5000, 'offline');
    expect(late.last('/status')).toMatchObject({ state: 'offline', reason: 'stopped', deliveredSeq: 5 });
    const after = await subscriber();
    await after.waitFor(() => after.last('/status') !== null, 5000, 'the retained status');
    expect(after.last('/status')).toMatchObject({ state: 'offline' });
  });

  it('answers ping, and resend publishes again from a seq', async () => {
    const sub = await subscriber();
    const store = await openStore(temp.make('ayi-mqtt-'), { tailSize: 50 });
    await store.record(300);
    await store.link.start();
    await sub.waitFor(() => sub.unique().length === 300, 10_000, '300 events');
    await waitUntil(() => store.link.state().deliveredSeq === 300, 5000, 'delivered');

    const pong = await sub.command(topics.root, 'ping');
    expect(pong).toMatchObject({ command: 'ping', ok: true, lastSeq: 300, deliveredSeq: 300, backlog: 0 });

    const before = sub.events.length;
    const resend = await sub.command(topics.root, 'resend', { fromSeq: 120 });
    expect(resend).toMatchObject({ command: 'resend', ok: true, fromSeq: 120, toSeq: 300 });
    await sub.waitFor(() => sub.events.length === before + 181, 10_000, 'the resent events');
    expectInOrder(sub.events.slice(before), 120, 300);
    expect(sub.unique().length).toBe(300);

    expect(await sub.command(topics.root, 'resend', { fromSeq: 999 })).toMatchObject({ ok: false });
    expect(await sub.command(topics.root, 'resend', { fromSeq: 'x' })).toMatchObject({ ok: false });
    expect(await sub.command(topics.root, 'reboot')).toMatchObject({ command: 'reboot', ok: false });
  });
});

describe('HQ link credentials and TLS settings', () => {
  it('connects with a user name and password and reports a refusal', async () => {
    const secured = await startMosquitto({ users: { 'store-7': 's3cret' } });
    cleanups.push(() => secured.kill());
    const wrong = await openStore(temp.make('ayi-mqtt-'), {
      url: secured.url,
      username: 'store-7',
      password: 'wrong',
    });
    await wrong.link.start();
    await waitUntil(() => wrong.link.state().lastError !== null, 10_000, 'a refusal');
    expect(wrong.link.state().link).not.toBe('connected');
    expect(wrong.link.state().lastError).toMatch(/not authori[sz]ed|bad user name or password/i);
    await wrong.link.stop();

    const right = await openStore(temp.make('ayi-mqtt-'), {
      url: secured.url,
      username: 'store-7',
      password: 's3cret',
    });
    await right.link.start();
    await waitUntil(() => right.link.state().link === 'connected', 10_000, 'connected');
  });

  it('refuses to start with a CA file it cannot read, naming the setting', async () => {
    const store = await openStore(temp.make('ayi-mqtt-'), {
      url: 'mqtts://127.0.0.1:8883',
      caFile: '/nonexistent/ca.pem',
    });
    await expect(store.link.start()).rejects.toThrow(/CA file \(AYI_MQTT_CA_FILE\) at \/nonexistent\/ca\.pem: ENOENT/);
  });
});
