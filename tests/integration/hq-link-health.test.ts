/**
 * Link health as operations see it: a real hub process, a real mosquitto and HQ's ingest in-process
 * (PGlite). HQ keeps the store's retained status (online with its version and health; offline by the
 * broker's last will when the hub is killed; online again after a restart), pings the store once it
 * has been quiet for AYI_HQ_PING_AFTER_S and records the answer's live figures, flags it silent
 * after the limit with the hub stopped, keeps the box's own checks (ayi doctor) that fail or warn, and shows the backlog the hub itself reports: the events it
 * sold while the broker was out of reach.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeLinks, type StoreLink } from '../../hq/src/analytics/link-health.ts';
import { loadConfig, loadServerConfig } from '../../hq/src/config.ts';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { startIngest, type RunningIngest } from '../../hq/src/ingest/run-ingest.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { freePort } from '../support/free-port.ts';
import { startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { poll } from '../support/poll.ts';

const temp = new TempDirs();
const CHAIN = 'link-chain';
const STORE = 'store-link';
const PING_AFTER_S = 2;
const quiet = pino({ level: 'silent' });
const hubDir = temp.make('ayi-hq-link-hub-');

let broker: Mosquitto;
let db: Database;
let ingest: RunningIngest;
let watcher: HqSubscriber;
let hub: HubProcess | null = null;
let hubPort: number;

const startHub = async (mqttUrl: string) =>
  (hub = await startHubProcess({
    dataDir: hubDir,
    port: hubPort,
    env: {
      AYI_MQTT_URL: mqttUrl,
      AYI_CHAIN_ID: CHAIN,
      AYI_STORE_ID: STORE,
      AYI_MQTT_RECONNECT_MAX_MS: '1000',
    },
  }));

async function health(): Promise<HealthView> {
  return (await (await fetch(`${hub!.url}/api/health`)).json()) as HealthView;
}

async function link(silentAfterSeconds?: number): Promise<StoreLink | undefined> {
  return (await storeLinks(db, { silentAfterSeconds })).stores.find((store) => store.storeId === STORE);
}

/** The pings HQ published to the store, as the broker carried them. */
const pingsSeen = () =>
  watcher.messages
    .filter((m) => m.topic === `ayi/v1/${CHAIN}/${STORE}/cmd/ping`)
    .map((m) => (JSON.parse(m.payload) as { requestId: string }).requestId);

/** The newest retained status the broker carried for the store. */
const lastStatus = () => watcher.last(`${STORE}/status`);

beforeAll(async () => {
  broker = await startMosquitto();
  hubPort = await freePort();
  watcher = await hqSubscriber(broker.url, `ayi/v1/${CHAIN}/#`);
  const dataDir = temp.make('ayi-hq-link-db-');
  db = await openDatabase({ dataDir });
  const migrations = await migrate(db);
  ingest = await startIngest(
    db,
    loadConfig({
      AYI_HQ_MQTT_URL: broker.url,
      AYI_HQ_CHAIN: CHAIN,
      AYI_HQ_DATA_DIR: dataDir,
      AYI_HQ_WORKER: 'hq-link-test',
      AYI_HQ_LANES: '2',
      AYI_HQ_PING_AFTER_S: String(PING_AFTER_S),
    }),
    quiet,
    migrations,
  );
}, 60_000);

afterAll(async () => {
  await hub?.kill();
  await ingest?.stop();
  await watcher?.close();
  await db?.close();
  await broker?.kill();
  temp.removeAll();
});

describe('link health at HQ', () => {
  it('reads its two limits from the environment, refusing nonsense', () => {
    const base = { AYI_HQ_MQTT_URL: 'mqtt://broker:1883' };
    expect(loadConfig(base).pingAfterSeconds).toBe(300);
    expect(loadConfig({ ...base, AYI_HQ_PING_AFTER_S: '45' }).pingAfterSeconds).toBe(45);
    expect(() => loadConfig({ ...base, AYI_HQ_PING_AFTER_S: 'soon' })).toThrow(/AYI_HQ_PING_AFTER_S/);
    expect(loadServerConfig({}).silentAfterSeconds).toBe(900);
    expect(loadServerConfig({ AYI_HQ_SILENT_AFTER_S: '120' }).silentAfterSeconds).toBe(120);
    expect(() => loadServerConfig({ AYI_HQ_SILENT_AFTER_S: '0' })).toThrow(/AYI_HQ_SILENT_AFTER_S/);
  });

  it('shows a started store online, with its version and health as the hub reports them', async () => {
    await startHub(broker.url);
    const shown = await poll(
      () => link(),
      (l) => l?.online === true,
      'the store online at HQ',
    );
    const own = await health();
    const status = lastStatus()!;
    expect(status.state).toBe('online');
    expect(shown!.version).toBe(own.version);
    expect(shown!.problems).toEqual(status.problems);
    expect(shown!.health).toBe((status.problems as string[]).length === 0 ? 'ok' : 'degraded');
    expect(shown!.statusAt).toBe(status.at);
    expect(shown!.silent).toBe(false);
    // The box's own checks (ayi doctor): this demo box prints on the virtual printer only and has no
    // chain member key and no backups set up.
    expect(status.checks).toEqual({ failing: [], warning: ['printers', 'member-key', 'backups'] });
    expect(shown!.checks).toEqual(status.checks);
    // The status as the hub sent it is kept.
    const [row] = await db.query<{ status: Record<string, unknown> }>(
      'SELECT status FROM store_status WHERE store_id = $1',
      [STORE],
    );
    expect(row!.status).toEqual(status);
  });

  it('pings the store once it is quiet and records the live figures it answers', async () => {
    const answered = await poll(
      () => link(),
      (l) => l?.pingAnsweredAt != null && l.lastPingAt != null,
      'a ping answered',
      30_000,
    );
    const [row] = await db.query<{ ping_answer: Record<string, unknown>; ping_request_id: string }>(
      'SELECT ping_answer, ping_request_id FROM store_status WHERE store_id = $1',
      [STORE],
    );
    // The answer is to a ping HQ published on the store's command topic.
    expect(pingsSeen()).toContain(row!.ping_answer.requestId);
    expect(row!.ping_answer.pong).toBe(true);
    const own = await health();
    expect(answered!.lastSeq).toBe(own.lastSeq);
    expect(answered!.deliveredSeq).toBe(own.hq.deliveredSeq);
    expect(answered!.backlog).toBe(own.hq.backlog);
    // Quiet goes on: pinged again, one ping at a time, each PING_AFTER_S apart or more.
    const before = pingsSeen().length;
    await new Promise((resolve) => setTimeout(resolve, PING_AFTER_S * 2500));
    const more = pingsSeen().length - before;
    expect(more).toBeGreaterThanOrEqual(1);
    expect(more).toBeLessThanOrEqual(3);
  });

  it('shows a killed hub offline by its last will, and silent once the limit has passed', async () => {
    await hub!.kill('SIGKILL');
    const offline = await poll(
      () => link(),
      (l) => l?.online === false,
      'the store offline at HQ',
      30_000,
    );
    expect(offline!.offlineReason).toBe('connection-lost');
    expect(offline!.health).toBeNull();
    expect(lastStatus()!.state).toBe('offline');
    // Just heard (the will): not silent yet with a limit of 3 s; silent after it.
    expect((await link(3))!.silent).toBe(false);
    await poll(
      () => link(3),
      (l) => l?.silent === true,
      'the store silent',
      30_000,
    );
    expect((await link())!.silent).toBe(false);
    // An offline store is not pinged: its pings would wait for nobody.
    const before = pingsSeen().length;
    await new Promise((resolve) => setTimeout(resolve, PING_AFTER_S * 2000));
    expect(pingsSeen().length).toBe(before);
  });

  it('shows the backlog the hub reports: sales rung up while the broker was out of reach', async () => {
    const deadBroker = `mqtt://127.0.0.1:${await freePort()}`;
    await startHub(deadBroker);
    const tablet = new TabletClient(hub!.url);
    await tablet.pair(hub!.pairingCode, 'Till');
    await tablet.login(hub!.demoPins.cashier);
    for (let i = 0; i < 3; i += 1)
      await sell(tablet, checkoutRequest([{ sku: 'DRK-002', qty: 1 }], [{ type: 'cash', amount: 100 }]));
    const waiting = (await health()).hq.backlog;
    expect(waiting).toBeGreaterThanOrEqual(3);
    await hub!.stop();

    // Back with the broker: the online status carries the backlog of the moment it connected.
    await startHub(broker.url);
    const back = await poll(
      () => link(),
      (l) => l?.online === true && (l.backlog ?? 0) > 0,
      'the store online again with its backlog',
      30_000,
    );
    const status = lastStatus()!;
    expect(status.state).toBe('online');
    expect(back!.backlog).toBe((status.lastSeq as number) - (status.deliveredSeq as number));
    expect(back!.backlog).toBe(waiting);
    expect(back!.silent).toBe(false);
    // Once drained, the next ping's answer shows what the hub's own health says: nothing waiting.
    const drained = await poll(
      () => link(),
      (l) => l?.backlog === 0 && l.lastSeq === status.lastSeq,
      'the backlog drained, from a ping answer',
      30_000,
    );
    const own = await health();
    expect(own.hq.backlog).toBe(0);
    expect(drained!.lastSeq).toBe(own.lastSeq);
    expect(drained!.deliveredSeq).toBe(own.hq.deliveredSeq);
    // HQ holds every event the hub delivered.
    const [held] = await db.query<{ n: string }>(
      'SELECT sum(event_count) AS n FROM store_streams WHERE store_id = $1',
      [STORE],
    );
    expect(Number(held!.n)).toBe(own.lastSeq);
  });
});
