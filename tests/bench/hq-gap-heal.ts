/**
 * How long a hole in a store's stream stays open at HQ. One JSON line per metric on stdout,
 * {"metric","value","unit","baseline","ratio"}; run with `node --import tsx tests/bench/hq-gap-heal.ts`.
 *
 *   hq_gap_heal_s   a simulated store publishes seqs 1..N but one (lost on the way), and answers
 *                   HQ's cmd/resend as a hub does (its events again from fromSeq, then the answer);
 *                   HQ's consumer and gap healer run against PGlite with a real mosquitto. Seconds
 *                   from the event after the hole being published to HQ's contiguous seq reaching
 *                   N, averaged over AYI_BENCH_GAP_ROUNDS stores one after the other. Baseline: the
 *                   configured grace (AYI_BENCH_GAP_GRACE_S), which HQ waits on purpose (most holes
 *                   are late events after a reconnect); ratio = value / grace (1 is the floor).
 *
 * Environment: AYI_BENCH_GAP_GRACE_S (2), AYI_BENCH_GAP_ROUNDS (3), AYI_BENCH_SEED.
 */
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { openDatabase } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { EventConsumer } from '../../hq/src/ingest/consumer.ts';
import { GapHealer } from '../../hq/src/ingest/gap-healer.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { simulatedStore } from '../support/hq-stores.ts';
import { startMosquitto } from '../support/mosquitto.ts';
import { emit, progress, runBench } from './report.ts';

const env = process.env;
const GRACE_S = Number(env.AYI_BENCH_GAP_GRACE_S ?? 2);
const ROUNDS = Number(env.AYI_BENCH_GAP_ROUNDS ?? 3);
const SEED = Number(env.AYI_BENCH_SEED ?? 20_261_207);
const EVENTS = 40;
const CHAIN = 'bench-chain';
const TIMEOUT_MS = 120_000 + GRACE_S * 4000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

runBench(async () => {
  const broker = await startMosquitto();
  const db = await openDatabase({ dataDir: 'memory://' });
  await migrate(db);
  const quiet = pino({ level: 'silent' });
  const consumer = new EventConsumer(db, { brokerUrl: broker.url, clientId: 'bench-gap-heal', chainId: CHAIN }, quiet);
  await consumer.start();
  const healer = new GapHealer(db, (topic, payload) => consumer.publish(topic, payload), quiet, {
    graceMs: GRACE_S * 1000,
    checkEveryMs: 100,
  });
  healer.start();
  const rng = seededRng(SEED);
  const times: number[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const store = simulatedStore(CHAIN, `bench-gap-${round}`, EVENTS, rng);
      const root = `ayi/v1/${CHAIN}/${store.storeId}`;
      const hole = Math.floor(EVENTS / 2);
      const client = await connectAsync(broker.url, { protocolVersion: 5, clean: true });
      // The store answers a resend as its hub does: every event from fromSeq again, then the answer.
      client.on('message', (topic, payload) => {
        if (topic !== `${root}/cmd/resend`) return;
        const { requestId, fromSeq } = JSON.parse(payload.toString()) as { requestId: string; fromSeq: number };
        void (async () => {
          for (const event of store.events.slice(fromSeq - 1)) {
            await client.publishAsync(store.topic, JSON.stringify(event), { qos: 1 });
          }
          await client.publishAsync(
            `${root}/cmd-result`,
            JSON.stringify({ command: 'resend', requestId, ok: true, fromSeq, toSeq: EVENTS }),
            { qos: 1 },
          );
          // A resend still being answered when the round ends is cut short with the connection.
        })().catch(() => undefined);
      });
      await client.subscribeAsync(`${root}/cmd/+`, { qos: 1 });
      let holeAt = 0;
      for (const event of store.events) {
        if (event.seq === hole) continue;
        await client.publishAsync(store.topic, JSON.stringify(event), { qos: 1 });
        if (event.seq === hole + 1) holeAt = performance.now();
      }
      const deadline = Date.now() + TIMEOUT_MS;
      for (;;) {
        const [row] = await db.query<{ contiguous_seq: string }>(
          'SELECT contiguous_seq FROM store_streams WHERE store_id = $1',
          [store.storeId],
        );
        if (row && Number(row.contiguous_seq) >= EVENTS) break;
        if (Date.now() > deadline) throw new Error(`the hole in ${store.storeId} stayed open`);
        await sleep(20);
      }
      const seconds = (performance.now() - holeAt) / 1000;
      times.push(seconds);
      progress(`round ${round}: hole at seq ${hole} closed after ${seconds.toFixed(2)} s (grace ${GRACE_S} s)`);
      await client.endAsync();
    }
    const mean = times.reduce((sum, t) => sum + t, 0) / times.length;
    emit('hq_gap_heal_s', mean, 's', GRACE_S, mean / GRACE_S);
  } finally {
    healer.stop();
    await consumer.stop();
    await db.close();
    await broker.kill();
  }
});
