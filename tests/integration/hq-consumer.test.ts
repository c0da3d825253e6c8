/**
 * HQ's consumer end to end: a real hub selling, a real mosquitto with persistence, and HQ's
 * consumer storing into PGlite. HQ's database must hold exactly the store's journal, whatever the
 * consumer misses while it is away and whatever the hub sends twice.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { EventConsumer } from '../../hq/src/ingest/consumer.ts';
import { GapHealer } from '../../hq/src/ingest/gap-healer.ts';
import type { Hub } from '../../hub/src/hub.ts';
import type { SaleCompletedData, SaleRefundedData } from '../../hub/src/protocol/events.ts';
import { storeTopics } from '../../hub/src/transport/mqtt/topics.ts';
import { scanJournal } from '../support/journal-files.ts';
import { hqSubscriber, startMosquitto, type HqSubscriber, type Mosquitto } from '../support/mosquitto.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { demoPin, pairedTablet, signUpMember, startTestHub, type TabletClient } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { simulatedStore } from '../support/hq-stores.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';

const temp = new TempDirs();
const CHAIN = 'test-chain';
const STORE = 'store-hq';
const quiet = pino({ level: 'silent' });

let broker: Mosquitto;
let db: Database;
let hub: Hub;
let counter: TabletClient;
let manager: TabletClient;
let consumer: EventConsumer;
let hqCommands: HqSubscriber;

const newConsumer = () =>
  new EventConsumer(db, { brokerUrl: broker.url, clientId: 'hq-ingest-test', chainId: CHAIN }, quiet);

async function sellSome(count: number, cashier: TabletClient = counter): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const sale = await sell(
      cashier,
      checkoutRequest([{ sku: i % 2 ? 'DRK-001' : 'FOD-001', qty: 1 + (i % 3) }], [{ type: 'cash', amount: 5000 }]),
    );
    ids.push(sale.saleId);
  }
  return ids;
}

async function contiguousSeq(db: Database): Promise<number> {
  const rows = await db.query<{ contiguous_seq: string }>(
    'SELECT contiguous_seq FROM store_streams WHERE store_id = $1',
    [STORE],
  );
  return rows.length === 0 ? 0 : Number(rows[0]!.contiguous_seq);
}

async function waitForHq(db: Database, seq: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await contiguousSeq(db)) < seq) {
    if (Date.now() > deadline) throw new Error(`HQ holds up to seq ${await contiguousSeq(db)}, not ${seq}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** HQ's events table equals the store's journal, event for event; the sales add up the same. */
async function expectHqHoldsTheJournal(db: Database, hub: Hub): Promise<void> {
  const journal = scanJournal(hub.config.dataDir).events;
  const held = await db.query<{ event_id: string; seq: string; type: string }>(
    'SELECT event_id, seq, type FROM events WHERE store_id = $1 ORDER BY seq',
    [STORE],
  );
  expect(held.map((e) => ({ eventId: e.event_id, seq: Number(e.seq), type: e.type }))).toEqual(
    journal.map((e) => ({ eventId: e.eventId, seq: e.seq, type: e.type })),
  );

  // A count made from the events themselves, against HQ's sales table.
  const voided = new Set(
    journal.filter((e) => e.type === 'sale.voided').map((e) => (e.data as { saleId: string }).saleId),
  );
  const completed = journal.filter((e) => e.type === 'sale.completed').map((e) => e.data as SaleCompletedData);
  const refunds = journal.filter((e) => e.type === 'sale.refunded').map((e) => e.data as SaleRefundedData);
  const kept = completed.filter((s) => !voided.has(s.saleId));
  const expected = {
    sales: kept.length,
    revenue:
      kept.reduce((sum, s) => sum + s.total, 0) -
      refunds.filter((r) => !voided.has(r.saleId)).reduce((sum, r) => sum + r.amount, 0),
  };
  const [figures] = await db.query<{ sales: string; revenue: string }>(
    `SELECT count(*) AS sales, COALESCE(sum(total - refunded), 0) AS revenue
     FROM sales WHERE store_id = $1 AND completed AND NOT voided`,
    [STORE],
  );
  expect({ sales: Number(figures!.sales), revenue: Number(figures!.revenue) }).toEqual(expected);
}

beforeAll(async () => {
  broker = await startMosquitto({ persistence: true });
  db = await openDatabase({ dataDir: 'memory://' });
  await migrate(db);
  consumer = newConsumer();
  await consumer.start();
  hub = await startTestHub({
    dataDir: temp.make('ayi-hq-consumer-'),
    config: { chainId: CHAIN, storeId: STORE, mqttUrl: broker.url, mqttReconnectMaxMs: 1000 },
  });
  counter = await pairedTablet(hub, demoPin('cashier'), 'Counter 1');
  manager = await pairedTablet(hub, demoPin('manager'), 'Office');
  hqCommands = await hqSubscriber(broker.url, `${storeTopics(CHAIN, STORE).root}/cmd-result`);
}, 60_000);

afterAll(async () => {
  await hqCommands?.close();
  await consumer?.stop();
  await hub?.stop();
  await db?.close();
  await broker?.kill();
  temp.removeAll();
});

describe('HQ consumer', () => {
  it('stores every event of a selling store once, with sales, a refund and a void that add up', async () => {
    const ids = await sellSome(12);
    const refund = await manager.request('POST', `/api/sales/${ids[3]}/refund`, {
      idempotencyKey: 'hq-refund-0001',
      lines: [{ lineNo: 1, qty: 1 }],
      reason: '退貨',
    });
    expect(refund.status).toBe(200);
    const voided = await manager.request('POST', `/api/sales/${ids[5]}/void`, { reason: '打錯' });
    expect(voided.status).toBe(200);
    await waitForHq(db, hub.events.lastSeq);
    await expectHqHoldsTheJournal(db, hub);
    expect(consumer.counts.quarantined).toBe(0);
  });

  it('misses nothing sold while it was away: the broker kept its session', async () => {
    await consumer.stop();
    await sellSome(15);
    consumer = newConsumer();
    await consumer.start();
    await waitForHq(db, hub.events.lastSeq);
    await expectHqHoldsTheJournal(db, hub);
  });

  it('changes nothing when the store sends everything again (resend from seq 1)', async () => {
    const before = consumer.counts.duplicates;
    const answer = await hqCommands.command(storeTopics(CHAIN, STORE).root, 'resend', { fromSeq: 1 }, 20_000);
    expect(answer).toMatchObject({ ok: true, fromSeq: 1 });
    const lastSeq = hub.events.lastSeq;
    const deadline = Date.now() + 30_000;
    while (consumer.counts.duplicates - before < lastSeq && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(consumer.counts.duplicates - before).toBe(lastSeq);
    await expectHqHoldsTheJournal(db, hub);
  });
});

/** Every row of every table HQ has, as text. */
async function everythingHqHolds(db: Database): Promise<string> {
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  const dump: string[] = [];
  for (const { table_name: table } of tables) {
    const rows = await db.query(`SELECT * FROM ${table}`);
    dump.push(`${table}: ${JSON.stringify(rows)}`);
  }
  return dump.join('\n');
}

describe('an event the database cannot take', () => {
  it("goes to quarantine with the reason, and the store's next events are stored", async () => {
    const store = simulatedStore(CHAIN, 'store-poison', 3, seededRng(7));
    // Valid JSON and valid by the contract, but PostgreSQL's jsonb cannot hold a NUL character.
    const poisoned = structuredClone(store.events[1]!) as { data: { reason?: string; lines?: { name: string }[] } };
    if (poisoned.data.lines) poisoned.data.lines[0]!.name = 'bad\u0000name';
    else poisoned.data.reason = 'bad\u0000reason';
    const publish = (event: unknown) => hqCommands.client.publishAsync(store.topic, JSON.stringify(event), { qos: 1 });
    await publish(store.events[0]);
    await publish(poisoned);
    await publish(store.events[2]);
    const deadline = Date.now() + 20_000;
    let stored: { seq: string }[] = [];
    while (Date.now() < deadline) {
      stored = await db.query<{ seq: string }>('SELECT seq FROM events WHERE store_id = $1 ORDER BY seq', [
        'store-poison',
      ]);
      if (stored.length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(stored.map((e) => Number(e.seq))).toEqual([1, 3]);
    const kept = await db.query<{ reason: string; detail: string }>(
      `SELECT reason, detail FROM quarantine WHERE store_id = 'store-poison'`,
    );
    expect(kept).toEqual([{ reason: 'refused_by_database', detail: expect.stringMatching(/^22/) }]);
  });
});

describe('HQ and a PDPA erasure', () => {
  it('keeps no trace of an erased member or a record merged into them; their sales still add up', async () => {
    const signUp = await counter.request('POST', '/api/members', { phone: '0912000111' });
    const { memberId: kept, memberCode } = (signUp.body as { member: { memberId: string; memberCode: string } }).member;
    const merged = await signUpMember(counter, '0912000222');
    const other = await signUpMember(counter, '0912000333');
    for (const memberId of [kept, merged, other]) {
      await sell(
        counter,
        checkoutRequest([{ sku: 'FOD-001', qty: 2 }], [{ type: 'cash', amount: 5000 }], { memberId }),
      );
    }
    await manager.request('POST', '/api/members/merge', { fromMemberId: merged, intoMemberId: kept });
    await waitForHq(db, hub.events.lastSeq);

    // What HQ held about the two records before: ids, card codes, sealed profiles, cross-store hashes.
    const traces = new Set<string>([kept, merged]);
    const theirEvents = await db.query<{ data: Record<string, unknown>; link: { phoneHash?: string } | null }>(
      `SELECT data, link FROM events WHERE data->>'memberId' = ANY($1)`,
      [[kept, merged]],
    );
    for (const { data, link } of theirEvents) {
      if (typeof data.memberCode === 'string') traces.add(data.memberCode);
      const sealed = data.sealed as { data?: string } | undefined;
      if (sealed?.data) traces.add(sealed.data);
      if (link?.phoneHash) traces.add(link.phoneHash);
    }
    expect(traces.size).toBeGreaterThan(5);
    const before = await everythingHqHolds(db);
    for (const trace of traces) expect(before).toContain(trace);

    const erased = await manager.request('POST', `/api/members/${kept}/erase`, { confirmMemberCode: memberCode });
    expect(erased.status).toBe(204);
    await waitForHq(db, hub.events.lastSeq);

    const after = await everythingHqHolds(db);
    for (const trace of traces) expect(after, `HQ still holds ${trace.slice(0, 16)}…`).not.toContain(trace);
    expect(after).toContain(other); // nobody else is touched
    await expectHqHoldsTheJournal(db, hub);

    // The store sends everything again (a resend after the erasure): still no trace.
    const resentUpTo = consumer.counts.duplicates + hub.events.lastSeq;
    const answer = await hqCommands.command(storeTopics(CHAIN, STORE).root, 'resend', { fromSeq: 1 }, 20_000);
    expect(answer).toMatchObject({ ok: true });
    for (let i = 0; i < 400 && consumer.counts.duplicates < resentUpTo; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(consumer.counts.duplicates).toBe(resentUpTo);
    const afterResend = await everythingHqHolds(db);
    for (const trace of traces) expect(afterResend).not.toContain(trace);
  });
});

describe('HQ heals a hole by itself', () => {
  // A broker without persistence: restarted, it forgets what it queued for HQ's session while the
  // hub already counts those events as delivered. Only HQ can see the hole.
  let forgetful: Mosquitto;
  let healDb: Database;
  let store: Hub;
  let till: TabletClient;
  let worker: EventConsumer;
  let healer: GapHealer;
  const GRACE_MS = 1000;
  const startWorker = async () => {
    worker = new EventConsumer(healDb, { brokerUrl: forgetful.url, clientId: 'hq-heal-test', chainId: CHAIN }, quiet);
    await worker.start();
  };

  beforeAll(async () => {
    forgetful = await startMosquitto({ persistence: false });
    healDb = await openDatabase({ dataDir: 'memory://' });
    await migrate(healDb);
    await startWorker();
    healer = new GapHealer(healDb, (topic, payload) => worker.publish(topic, payload), quiet, {
      graceMs: GRACE_MS,
      checkEveryMs: 200,
    });
    healer.start();
    store = await startTestHub({
      dataDir: temp.make('ayi-hq-heal-'),
      config: { chainId: CHAIN, storeId: STORE, mqttUrl: forgetful.url, mqttReconnectMaxMs: 500 },
    });
    till = await pairedTablet(store, demoPin('cashier'), 'Counter 1');
  }, 60_000);

  afterAll(async () => {
    healer?.stop();
    await worker?.stop();
    await store?.stop();
    await healDb?.close();
    await forgetful?.kill();
  });

  it('asks the store to resend what a forgetful broker lost, and then holds exactly the journal', async () => {
    await sellSome(3, till);
    await waitForHq(healDb, store.events.lastSeq);
    const firstLost = store.events.lastSeq + 1;

    await worker.stop();
    await sellSome(4, till);
    // The hub hands these to the broker (PUBACK), which queues them for HQ's session...
    const delivered = async () =>
      ((await (await fetch(`${store.url}/api/health`)).json()) as { hq?: { deliveredSeq?: number } }).hq
        ?.deliveredSeq ?? 0;
    for (let i = 0; i < 200 && (await delivered()) < store.events.lastSeq; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await delivered()).toBe(store.events.lastSeq);
    // ...and forgets them in a restart.
    await forgetful.stop();
    await forgetful.start();
    await startWorker();
    await sellSome(2, till);

    const holeSeenAt = Date.now();
    await waitForHq(healDb, store.events.lastSeq, GRACE_MS + 10_000);
    expect(Date.now() - holeSeenAt).toBeLessThan(GRACE_MS + 10_000);
    expect(healer.sent.map((s) => s.fromSeq)).toContain(firstLost);
    await expectHqHoldsTheJournal(healDb, store);
  });
});
