/**
 * HQ scales out without a cluster of its own: three ingest worker processes (`hq/src/main.ts`)
 * share one MQTT shared subscription on a real mosquitto with persistence and store into the
 * PostgreSQL server at 127.0.0.1:5432, while 50 simulated stores publish their events (QoS 1, seq
 * 1..N each, some sent twice as a hub's resend would) and a random worker is SIGKILLed now and then
 * and restarted under the same id (once all three at once). Which worker (and which of its lanes)
 * gets which event must not matter: in the end the database holds exactly the published events,
 * every store's stream is contiguous up to N, and the sales tables equal a recomputation from the
 * events table; no batch was refused on the way (a deadlock between workers would be one).
 *
 * Needs the server (skipped with a message without one). AYI_HQ_WORKERS_SEED repeats a run (the
 * seed is printed); AYI_HQ_WORKERS_EVENTS sets N (default 40 per store).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { simulatedStore, storePublisher, type SimulatedStore } from '../support/hq-stores.ts';
import { HqWorker } from '../support/hq-worker.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { postgresServer, type ServerDatabase } from '../support/postgres-server.ts';

const STORES = 50;
const EVENTS_PER_STORE = Number(process.env.AYI_HQ_WORKERS_EVENTS ?? 40);
const WORKER_IDS = ['w1', 'w2', 'w3'];
const CHAIN = 'scale-chain';
const SEED = Number(process.env.AYI_HQ_WORKERS_SEED ?? Date.now() % 1_000_000);

const server: ServerDatabase | null = await postgresServer();
if (!server) console.warn('hq-workers: no PostgreSQL server at 127.0.0.1:5432; skipped (the workers need one)');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.skipIf(!server)('HQ with three workers on one shared subscription', () => {
  let broker: Mosquitto;
  let db: Database;
  let workers: HqWorker[] = [];
  const stores: SimulatedStore[] = [];

  beforeAll(async () => {
    broker = await startMosquitto({ persistence: true });
    const url = await server!.createDatabase();
    db = await openDatabase({ url });
    const env = {
      AYI_HQ_MQTT_URL: broker.url,
      AYI_HQ_DATABASE_URL: url,
      AYI_HQ_SHARE_GROUP: 'hq-ingest',
      AYI_HQ_CHAIN: CHAIN,
    };
    workers = WORKER_IDS.map((id) => new HqWorker(id, env));
    // All three at once: they migrate the fresh database together too.
    await Promise.all(workers.map((w) => w.start()));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await db?.close();
    await server?.dropAll();
    await broker?.kill();
  });

  it('holds exactly the published events, contiguous per store, with sales equal to a recomputation', async () => {
    console.info(`hq-workers: seed ${SEED} (AYI_HQ_WORKERS_SEED repeats this run)`);
    const rng = seededRng(SEED);
    for (let i = 1; i <= STORES; i++) stores.push(simulatedStore(CHAIN, `store-${i}`, EVENTS_PER_STORE, rng));

    // Each store publishes its stream in order, one event at a time; now and then an earlier event
    // again (a hub's resend, or its retry after a lost PUBACK).
    const publishing = Promise.all(
      stores.map(async (store) => {
        const client = await storePublisher(broker.url, store);
        for (const event of store.events) {
          await client.publishAsync(store.topic, JSON.stringify(event), { qos: 1 });
          if (rng() < 0.05) {
            const again = store.events[Math.floor(rng() * event.seq)]!;
            await client.publishAsync(store.topic, JSON.stringify(again), { qos: 1 });
          }
          if (rng() < 0.3) await sleep(rng() * 20);
        }
        await client.endAsync();
      }),
    );

    // Meanwhile a random worker is killed now and then and comes back under the same id.
    let published = false;
    void publishing.then(() => (published = true));
    const expected = STORES * EVENTS_PER_STORE;
    let kills = 0;
    while (!published || kills < 6) {
      await sleep(200 + rng() * 900);
      // Once, all three at the same moment: every lane comes back to a backlog, and the workers'
      // batches share stores (their stream locks are taken in one order, or they would deadlock).
      const victims = kills === 3 ? workers : [workers[Math.floor(rng() * workers.length)]!];
      await Promise.all(victims.map((victim) => victim.kill()));
      kills += 1;
      await sleep(victims.length > 1 ? 1500 : rng() * 600);
      await Promise.all(victims.map((victim) => victim.start()));
    }
    await publishing;

    const deadline = Date.now() + 120_000;
    const complete = async () => {
      const [row] = await db.query<{ held: string; done: string }>(
        `SELECT (SELECT count(*) FROM events) AS held,
                (SELECT count(*) FROM store_streams WHERE contiguous_seq = $1) AS done`,
        [EVENTS_PER_STORE],
      );
      return Number(row!.held) >= expected && Number(row!.done) === STORES;
    };
    while (!(await complete()) && Date.now() < deadline) await sleep(200);

    // Exactly the published events: the same ids, each once.
    const publishedEvents = new Map<string, HubEvent>(
      stores.flatMap((s) => s.events.map((e) => [`${e.storeId}/${e.eventId}`, e] as const)),
    );
    const held = await db.query<{ store_id: string; event_id: string; seq: string; type: string }>(
      'SELECT store_id, event_id, seq, type FROM events',
    );
    expect(held.length).toBe(expected);
    const heldKeys = new Set(held.map((e) => `${e.store_id}/${e.event_id}`));
    expect([...publishedEvents.keys()].filter((key) => !heldKeys.has(key))).toEqual([]);
    for (const row of held) {
      const event = publishedEvents.get(`${row.store_id}/${row.event_id}`);
      expect({ seq: Number(row.seq), type: row.type }).toEqual({ seq: event?.seq, type: event?.type });
    }

    // Every stream complete, no hole, no conflict, nothing refused.
    const streams = await db.query<Record<string, unknown>>(
      `SELECT store_id, contiguous_seq::int AS contiguous, max_seq::int AS max, event_count::int AS count,
              gap_since IS NULL AS no_gap
       FROM store_streams ORDER BY store_id`,
    );
    expect(streams).toEqual(
      stores
        .map((s) => ({
          store_id: s.storeId,
          contiguous: EVENTS_PER_STORE,
          max: EVENTS_PER_STORE,
          count: EVENTS_PER_STORE,
          no_gap: true,
        }))
        .sort((a, b) => a.store_id.localeCompare(b.store_id)),
    );
    expect(await db.query('SELECT * FROM seq_conflicts')).toEqual([]);
    // No batch refused (a deadlock between workers' batches would be one) and nothing retried.
    expect(workers.flatMap((w) => w.warnings).filter((line) => !line.includes('broker connection error'))).toEqual([]);
    expect(await db.query('SELECT reason, detail FROM quarantine')).toEqual([]);

    // The projections, recomputed from the events table alone.
    const differences = await db.query(`
      WITH completed AS (
        SELECT store_id, data->>'saleId' AS sale_id, data FROM events WHERE type = 'sale.completed'),
      voided AS (
        SELECT DISTINCT store_id, data->>'saleId' AS sale_id FROM events WHERE type = 'sale.voided'),
      refunded AS (
        SELECT store_id, data->>'saleId' AS sale_id, sum((data->>'amount')::bigint) AS amount
        FROM events WHERE type = 'sale.refunded' GROUP BY 1, 2),
      keys AS (
        SELECT store_id, sale_id FROM completed UNION SELECT store_id, sale_id FROM voided
        UNION SELECT store_id, sale_id FROM refunded),
      recomputed AS (
        SELECT k.store_id, k.sale_id, c.data IS NOT NULL AS completed,
               (c.data->>'businessDate')::date AS business_date,
               COALESCE((c.data->>'total')::bigint, 0) AS total, COALESCE(r.amount, 0) AS refunded,
               v.sale_id IS NOT NULL AS voided, COALESCE(jsonb_array_length(c.data->'lines'), 0) AS line_count
        FROM keys k
        LEFT JOIN completed c USING (store_id, sale_id)
        LEFT JOIN voided v USING (store_id, sale_id)
        LEFT JOIN refunded r USING (store_id, sale_id)),
      projected AS (
        SELECT store_id, sale_id, completed, business_date, total, refunded, voided, line_count FROM sales)
      (SELECT 'missing' AS side, * FROM (SELECT * FROM recomputed EXCEPT SELECT * FROM projected) m)
      UNION ALL
      (SELECT 'extra' AS side, * FROM (SELECT * FROM projected EXCEPT SELECT * FROM recomputed) x)`);
    expect(differences).toEqual([]);
    const lineDifferences = await db.query(`
      WITH recomputed AS (
        SELECT store_id, data->>'saleId' AS sale_id, (line->>'lineNo')::int AS line_no, line->>'sku' AS sku,
               (line->>'qty')::int AS qty,
               (line->>'lineTotal')::bigint - (line->>'orderDiscountShare')::bigint AS amount
        FROM events, jsonb_array_elements(data->'lines') AS line WHERE type = 'sale.completed'),
      projected AS (SELECT store_id, sale_id, line_no, sku, qty, amount FROM sale_lines)
      (SELECT * FROM recomputed EXCEPT SELECT * FROM projected)
      UNION ALL (SELECT * FROM projected EXCEPT SELECT * FROM recomputed)`);
    expect(lineDifferences).toEqual([]);
    // And the chain's figures are those of the published streams.
    const sold = stores.flatMap((s) => s.events);
    const voidedIds = new Set(
      sold.filter((e) => e.type === 'sale.voided').map((e) => `${e.storeId}/${(e.data as { saleId: string }).saleId}`),
    );
    const revenue =
      sold
        .filter((e) => e.type === 'sale.completed')
        .filter((e) => !voidedIds.has(`${e.storeId}/${(e.data as { saleId: string }).saleId}`))
        .reduce((sum, e) => sum + (e.data as { total: number }).total, 0) -
      sold
        .filter((e) => e.type === 'sale.refunded')
        .filter((e) => !voidedIds.has(`${e.storeId}/${(e.data as { saleId: string }).saleId}`))
        .reduce((sum, e) => sum + (e.data as { amount: number }).amount, 0);
    const [figures] = await db.query<{ revenue: string }>(
      'SELECT COALESCE(sum(total - refunded), 0) AS revenue FROM sales WHERE completed AND NOT voided',
    );
    expect(Number(figures!.revenue)).toBe(revenue);
    console.info(
      `hq-workers: ${expected} events, ${kills} kills (${workers.map((w) => `${w.id} ${w.kills}`).join(', ')})`,
    );
  });
});
