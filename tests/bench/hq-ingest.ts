/**
 * HQ's ingest throughput against the PostgreSQL server at 127.0.0.1:5432 (skipped, with a message on
 * stderr, without one). `npm run bench` runs it; one JSON line per metric on stdout,
 * {"metric","value","unit","baseline","ratio"}.
 *
 *   hq_ingest_events_per_s_1_worker    a backlog of AYI_BENCH_HQ_EVENTS events from 50 simulated
 *   hq_ingest_events_per_s_3_workers   stores waits at a real mosquitto for HQ's sessions; then 1 (or
 *                                      3) worker processes (`hq/src/main.ts`, default lanes) drain it
 *                                      into a fresh database. Events per second from the first
 *                                      transaction's start to the last one's (their `received_at`,
 *                                      which is the transaction's start), counting the events of
 *                                      every transaction but the last: the span leaves the last
 *                                      one's time out, so its events are left out too (counting
 *                                      them, as this bench once did, overstated the rate by a
 *                                      batch). Baseline: the same envelopes as rows of the events
 *                                      table, INSERTed into a fresh database of the same server in
 *                                      batches of 256 rows (one transaction each) by one
 *                                      connection: what storing costs with nothing else to do.
 *                                      ratio = HQ / bare (target: at least 0.5 with one worker;
 *                                      three above one).
 *
 * The machine is shared, so its load moves between measurements: each round measures the bare
 * INSERT right before each HQ run and takes the ratio against that one; the figures printed are the
 * medians over AYI_BENCH_HQ_ROUNDS rounds (value, baseline and ratio each).
 *
 * Environment: AYI_BENCH_HQ_EVENTS (10000), AYI_BENCH_HQ_ROUNDS (3), AYI_BENCH_HQ_LANES (the workers'
 * default), AYI_BENCH_SEED.
 */
import { connectAsync } from 'mqtt';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { percentile } from '../../scripts/lib/stats.ts';
import { simulatedStore, type SimulatedStore } from '../support/hq-stores.ts';
import { HqWorker } from '../support/hq-worker.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { postgresServer, type ServerDatabase } from '../support/postgres-server.ts';
import { emit, progress, runBench } from './report.ts';

const env = process.env;
const STORES = 50;
const EVENTS = Number(env.AYI_BENCH_HQ_EVENTS ?? 10_000);
const ROUNDS = Number(env.AYI_BENCH_HQ_ROUNDS ?? 3);
const SEED = Number(env.AYI_BENCH_SEED ?? 20_261_207);
const BARE_BATCH = 256;
const CHAIN = 'bench-chain';
const DRAIN_TIMEOUT_MS = 300_000;

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every store publishes its stream (QoS 1), all stores at once. */
async function publishAll(broker: Mosquitto, stores: SimulatedStore[]): Promise<void> {
  await Promise.all(
    stores.map(async (store) => {
      const client = await connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-${store.storeId}` });
      for (const event of store.events) await client.publishAsync(store.topic, JSON.stringify(event), { qos: 1 });
      await client.endAsync();
    }),
  );
}

/** Events per second HQ's `workers` stored a waiting backlog at. */
async function hqRate(
  server: ServerDatabase,
  broker: Mosquitto,
  stores: SimulatedStore[],
  workers: number,
  round: number,
): Promise<number> {
  const url = await server.createDatabase();
  const db = await openDatabase({ url });
  await migrate(db);
  const group = `bench${round}x${workers}`;
  const ids = Array.from({ length: workers }, (_, i) => `${group}-w${i + 1}`);
  const workerEnv = {
    AYI_HQ_MQTT_URL: broker.url,
    AYI_HQ_DATABASE_URL: url,
    AYI_HQ_SHARE_GROUP: group,
    AYI_HQ_CHAIN: CHAIN,
    ...(env.AYI_BENCH_HQ_LANES ? { AYI_HQ_LANES: env.AYI_BENCH_HQ_LANES } : {}),
  };
  const running = ids.map((id) => new HqWorker(id, workerEnv));
  // The workers' sessions first (the broker keeps what comes for them), then the backlog.
  await Promise.all(running.map((w) => w.start()));
  await Promise.all(running.map((w) => w.stop()));
  await publishAll(broker, stores);
  progress(`${workers} worker(s): backlog of ${EVENTS} events waiting; draining`);
  await Promise.all(running.map((w) => w.start()));
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  const held = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events'))[0]!.n);
  while ((await held()) < EVENTS) {
    if (Date.now() > deadline) throw new Error(`${workers} worker(s) stored ${await held()} of ${EVENTS}`);
    await sleep(100);
  }
  await Promise.all(running.map((w) => w.stop()));
  const [span] = await db.query<{ seconds: string; before_last: string }>(
    `SELECT extract(epoch FROM max(received_at) - min(received_at)) AS seconds,
            count(*) FILTER (WHERE received_at < (SELECT max(received_at) FROM events)) AS before_last
     FROM events`,
  );
  await db.close();
  return Number(span!.before_last) / Number(span!.seconds);
}

/** Rows per second one connection INSERTs the same events at, BARE_BATCH rows a transaction. */
async function bareRate(server: ServerDatabase, events: HubEvent[]): Promise<number> {
  const db: Database = await openDatabase({ url: await server.createDatabase() });
  await migrate(db);
  const started = performance.now();
  for (let i = 0; i < events.length; i += BARE_BATCH) {
    const batch = events.slice(i, i + BARE_BATCH);
    await db.query(
      `INSERT INTO events (store_id, event_id, chain_id, epoch, seq, type, at, data)
       SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::bigint[], $6::text[],
                            $7::timestamptz[], $8::jsonb[])`,
      [
        batch.map((e) => e.storeId),
        batch.map((e) => e.eventId),
        batch.map((e) => e.chainId),
        batch.map((e) => e.epoch),
        batch.map((e) => e.seq),
        batch.map((e) => e.type),
        batch.map((e) => e.at),
        batch.map((e) => JSON.stringify(e.data)),
      ],
    );
  }
  const seconds = (performance.now() - started) / 1000;
  await db.close();
  return events.length / seconds;
}

async function main(): Promise<void> {
  const server = await postgresServer();
  if (!server) {
    progress('hq-ingest: no PostgreSQL server at 127.0.0.1:5432; skipped');
    return;
  }
  const broker = await startMosquitto();
  try {
    const rng = seededRng(SEED);
    const stores = Array.from({ length: STORES }, (_, i) =>
      simulatedStore(CHAIN, `store-${i + 1}`, Math.ceil(EVENTS / STORES), rng),
    );
    const events = stores.flatMap((s) => s.events).slice(0, EVENTS);
    for (const store of stores) store.events = store.events.filter((e) => events.includes(e));

    const measured = new Map<number, { rate: number; bare: number }[]>([
      [1, []],
      [3, []],
    ]);
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const [workers, runs] of measured) {
        const bare = await bareRate(server, events);
        const rate = await hqRate(server, broker, stores, workers, round);
        progress(`round ${round}, ${workers} worker(s): ${Math.round(rate)} events/s; bare ${Math.round(bare)} rows/s`);
        runs.push({ rate, bare });
      }
    }
    for (const [workers, runs] of measured) {
      emit(
        `hq_ingest_events_per_s_${workers}_worker${workers > 1 ? 's' : ''}`,
        median(runs.map((r) => r.rate)),
        'events/s',
        median(runs.map((r) => r.bare)),
        median(runs.map((r) => r.rate / r.bare)),
      );
    }
  } finally {
    await broker.kill();
    await server.dropAll();
  }
}

runBench(main);
