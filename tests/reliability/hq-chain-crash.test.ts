/**
 * HQ holds exactly the stores' journals, whatever happens on the way: two built hubs (two stores of
 * one chain) ring up sales while each is killed with SIGKILL at random moments and restarted on its
 * data directory, again and again; HQ's ingest (PGlite, in-process) stores what a real mosquitto
 * carries. In between, the broker goes away while the stores sell (they keep selling; their backlog
 * drains when it is back), and once HQ itself is down while the broker restarts. The broker runs
 * without persistence: a broker that forgets. What it had queued for HQ's session is gone, events
 * the stores were told it had taken included, and nothing later in the stream shows the hole; HQ
 * must notice it from what the stores say they delivered (their status) and ask them to resend.
 *
 * At the end, with selling stopped, HQ's events table for each store must be the store's journal:
 * the same eventIds with the same seqs and content, nothing more; its sales table one row per sale
 * in the journal; every sale a tablet was told was recorded among them; no seq conflict and nothing
 * quarantined.
 *
 * Needs the built hub: `npm run build -w hub`. AYI_HQ_CHAIN_CRASH_CYCLES (default 4) sets the number
 * of kill/restart cycles, AYI_HQ_CHAIN_CRASH_SEED the random seed (printed, so a failing run can be
 * repeated).
 */
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../hq/src/config.ts';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { startIngest, type RunningIngest } from '../../hq/src/ingest/run-ingest.ts';
import type { ProductView, SaleView } from '../../hub/src/protocol/api.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { pairTablets, reconnect, send, sleep, SalesLedger } from '../support/crash-sales.ts';
import { freePort } from '../support/free-port.ts';
import { HUB_ENTRY, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { salesInJournal, scanJournal } from '../support/journal-files.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import type { TabletClient } from '../support/test-hub.ts';

const CYCLES = Number(process.env.AYI_HQ_CHAIN_CRASH_CYCLES ?? 4);
const SEED = Number(process.env.AYI_HQ_CHAIN_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CHAIN = 'chaos-chain';
const STORES = ['store-north', 'store-south'] as const;
/** Longest time the tablets sell before a store's hub is killed. */
const MAX_RUN_MS = 1_500;
/** HQ asks for a hole, or for what a store delivered that it lacks, after this long. */
const GRACE_S = 2;
const SETTLE_TIMEOUT_MS = 120_000;

const rng = seededRng(SEED);
const began = Date.now();
/** Progress on stderr, so a run that hangs shows where. */
const step = (what: string) => console.error(`[${((Date.now() - began) / 1000).toFixed(1)} s] ${what}`);
const randomInt = (min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
const quiet = pino({ level: 'silent' });
const temp = new TempDirs();

interface Store {
  storeId: string;
  dataDir: string;
  port: number;
  hub: HubProcess | null;
  tablets: TabletClient[];
  ledger: SalesLedger;
}

let broker: Mosquitto;
let db: Database;
let migrations: string[];
let ingest: RunningIngest | null = null;
const hqDataDir = temp.make('ayi-hq-chain-crash-db-');
const stores: Store[] = [];

const startHq = async () => {
  ingest = await startIngest(
    db,
    loadConfig({
      AYI_HQ_MQTT_URL: broker.url,
      AYI_HQ_CHAIN: CHAIN,
      AYI_HQ_DATA_DIR: hqDataDir,
      AYI_HQ_WORKER: 'hq-chain-crash',
      AYI_HQ_LANES: '2',
      AYI_HQ_GAP_GRACE_S: String(GRACE_S),
      AYI_HQ_PING_AFTER_S: '3',
    }),
    quiet,
    migrations,
  );
};

const startHub = async (store: Store) => {
  store.hub = await startHubProcess({
    dataDir: store.dataDir,
    port: store.port,
    env: {
      AYI_MQTT_URL: broker.url,
      AYI_CHAIN_ID: CHAIN,
      AYI_STORE_ID: store.storeId,
      AYI_MQTT_RECONNECT_MAX_MS: '500',
    },
  });
};

/** Sells on every tablet of the store for a random while, then kills its hub under them. */
async function sellThenKill(store: Store, cycle: number): Promise<void> {
  const stop = { now: false };
  const selling = store.tablets.map((tablet, index) => store.ledger.checkoutStream(tablet, index, cycle, stop));
  await sleep(randomInt(200, MAX_RUN_MS));
  await store.hub!.kill('SIGKILL');
  stop.now = true;
  await Promise.all(selling);
}

/** Restarts the store's hub and settles the checkouts whose outcome the kill left unknown. */
async function restartAndSettle(store: Store): Promise<void> {
  await startHub(store);
  store.tablets = reconnect(store.tablets, store.hub!.url);
  const recorded = salesInJournal(scanJournal(store.dataDir).events).byKey;
  for (const attempt of [...store.ledger.unknown.values()]) {
    const retry = await send(store.tablets[attempt.tablet]!, 'POST', '/api/sales', {
      idempotencyKey: attempt.key,
      ...attempt.basket,
    });
    if (retry.kind !== 'answered' || (retry.status !== 200 && retry.status !== 201)) {
      throw new Error(`retry of ${attempt.key} at ${store.storeId}: ${JSON.stringify(retry)}`);
    }
    store.ledger.settleRetry(attempt, retry.body as unknown as SaleView, recorded.get(attempt.key));
  }
}

/** An event as HQ holds it, comparable with the journal's line. */
interface HeldEvent {
  eventId: string;
  seq: number;
  epoch: string;
  type: string;
  at: string;
  data: unknown;
}

async function heldAtHq(storeId: string): Promise<HeldEvent[]> {
  const rows = await db.query<{ event_id: string; seq: string; epoch: string; type: string; at: Date; data: unknown }>(
    'SELECT event_id, seq, epoch, type, at, data FROM events WHERE store_id = $1 ORDER BY seq, event_id',
    [storeId],
  );
  return rows.map((row) => ({
    eventId: row.event_id,
    seq: Number(row.seq),
    epoch: row.epoch,
    type: row.type,
    at: new Date(row.at).toISOString(),
    data: row.data,
  }));
}

const asHeld = (event: HubEvent): HeldEvent => ({
  eventId: event.eventId,
  seq: event.seq,
  epoch: event.epoch,
  type: event.type,
  at: event.at,
  data: event.data,
});

const keyOf = (event: { eventId: string; seq: number }) => `${event.seq}:${event.eventId}`;

beforeAll(async () => {
  console.log(`HQ chain crash test: seed ${SEED}, ${CYCLES} cycles`);
  broker = await startMosquitto({ persistence: false });
  db = await openDatabase({ dataDir: hqDataDir });
  migrations = await migrate(db);
  await startHq();
  for (const storeId of STORES) {
    const store: Store = {
      storeId,
      dataDir: temp.make(`ayi-hq-chain-crash-${storeId}-`),
      port: await freePort(),
      hub: null,
      tablets: [],
      ledger: null as unknown as SalesLedger,
    };
    await startHub(store);
    const pins = store.hub!.demoPins;
    store.tablets = await pairTablets(
      store.hub!,
      2,
      (i) => `${storeId} tablet ${i + 1}`,
      () => pins.cashier,
    );
    const products = (await store.tablets[0]!.request('GET', '/api/products')).body.products as ProductView[];
    store.ledger = new SalesLedger(`chaos-${storeId}-s${SEED}`, products, rng);
    stores.push(store);
  }
}, 120_000);

afterAll(async () => {
  for (const store of stores) await store.hub?.kill('SIGKILL');
  await ingest?.stop();
  await db?.close();
  await broker?.kill();
  temp.removeAll();
});

describe('a chain through hub crashes and a broker that forgets', () => {
  it('leaves HQ holding exactly what every store journaled', async () => {
    expect(existsSync(HUB_ENTRY), `${HUB_ENTRY} is missing: run npm run build -w hub`).toBe(true);
    const brokerOutageCycle = 1;
    // HQ away across a broker restart twice: once with selling going on before it is back (the
    // events after the lost ones show a hole), and at the very end, where nothing comes after the
    // lost events and only what the stores say they delivered shows them missing.
    const hqAwayCycles = new Set([Math.min(3, CYCLES - 2), CYCLES - 1]);

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const hqAway = hqAwayCycles.has(cycle);
      step(`cycle ${cycle}${hqAway ? ' (HQ away)' : ''}${cycle === brokerOutageCycle ? ' (broker outage)' : ''}`);
      const lastCycle = cycle === CYCLES - 1;
      if (hqAway) {
        // HQ is down; the broker queues for its session what the stores deliver, then restarts and
        // forgets it all, the stores having been told it took it.
        await ingest!.stop();
        ingest = null;
        step('HQ stopped');
      }
      await Promise.all(stores.map((store) => sellThenKill(store, cycle)));
      if (cycle === brokerOutageCycle) {
        // The broker goes away; the stores come back and sell into their backlog without it.
        await broker.stop();
        await Promise.all(stores.map(restartAndSettle));
        await Promise.all(stores.map((store) => sellThenKill(store, cycle)));
        await broker.start();
      }
      if (hqAway) {
        await Promise.all(stores.map(restartAndSettle));
        await broker.stop();
        await broker.start();
        step('broker restarted (forgot everything)');
        if (!lastCycle) {
          // Selling goes on before HQ is back: published to no session, lost too.
          await Promise.all(stores.map((store) => sellThenKill(store, cycle)));
          await Promise.all(stores.map(restartAndSettle));
        }
        await startHq();
        step('HQ started');
      } else {
        await Promise.all(stores.map(restartAndSettle));
      }
    }

    for (const store of stores) {
      expect(store.ledger.unexpected, `${store.storeId} (seed ${SEED})`).toEqual([]);
      expect(store.ledger.unknown.size).toBe(0);
      const journal = scanJournal(store.dataDir);
      expect(journal.problems, `${store.storeId} journal (seed ${SEED})`).toEqual([]);
      const expected = journal.events.map(asHeld);

      step(`${store.storeId}: ${expected.length} events journaled; waiting for HQ`);
      // HQ fills what it lacks by itself: wait until it holds every journaled event.
      const deadline = Date.now() + SETTLE_TIMEOUT_MS;
      let held = await heldAtHq(store.storeId);
      while (held.length < expected.length && Date.now() < deadline) {
        await sleep(250);
        held = await heldAtHq(store.storeId);
      }
      const heldKeys = new Set(held.map(keyOf));
      const missing = expected.filter((event) => !heldKeys.has(keyOf(event))).map((event) => event.seq);
      expect(missing, `${store.storeId}: journaled seqs HQ lacks (seed ${SEED})`).toEqual([]);
      // Nothing more than the journal, and each event as the store wrote it.
      expect(held, `${store.storeId} (seed ${SEED})`).toEqual(expected);

      const [sales] = await db.query<{ n: string }>('SELECT count(*) AS n FROM sales WHERE store_id = $1', [
        store.storeId,
      ]);
      const journalSales = salesInJournal(journal.events).bySaleId;
      expect(Number(sales!.n)).toBe(journalSales.size);
      for (const { saleId } of store.ledger.acked.values()) {
        expect(journalSales.has(saleId), `acknowledged sale ${saleId} at ${store.storeId}`).toBe(true);
      }
      expect(store.ledger.acked.size).toBeGreaterThan(0);
    }
    const [conflicts] = await db.query<{ n: string }>('SELECT count(*) AS n FROM seq_conflicts');
    expect(Number(conflicts!.n)).toBe(0);
    const [quarantined] = await db.query<{ n: string }>('SELECT count(*) AS n FROM quarantine');
    expect(Number(quarantined!.n)).toBe(0);
  }, 600_000);
});
