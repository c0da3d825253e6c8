/**
 * HQ's consumer takes many of a connection's messages at once and acknowledges each only once the
 * transaction holding it has committed: a real mosquitto, PGlite, one lane. What it had taken but
 * not stored when it stopped comes again, all of it; what it stored does not.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase, type Database, type Queryable } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { EventConsumer } from '../../hq/src/ingest/consumer.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { simulatedStore, storePublisher } from '../support/hq-stores.ts';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';

const CHAIN = 'acks-chain';
const quiet = pino({ level: 'silent' });
let broker: Mosquitto;
let db: Database;

beforeAll(async () => {
  broker = await startMosquitto();
  db = await openDatabase({ dataDir: 'memory://' });
  await migrate(db);
}, 60_000);

afterAll(async () => {
  await db?.close();
  await broker?.kill();
});

/** The database until `fail()`: every transaction waits for that, then is refused (a disk full). */
function failingLater(real: Database): Database & { fail(): void } {
  let fail = () => {};
  const failed = new Promise<void>((resolve) => (fail = resolve));
  return {
    kind: real.kind,
    query: (sql, params) => real.query(sql, params),
    exec: (sql) => real.exec(sql),
    close: () => real.close(),
    async transaction<T>(_work: (tx: Queryable) => Promise<T>): Promise<T> {
      await failed;
      throw new Error('could not extend file: No space left on device');
    },
    fail: () => fail(),
  };
}

const heldEvents = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events'))[0]!.n);

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

it('acknowledges nothing it has not stored, though it takes a whole stream at once on one connection', async () => {
  const store = simulatedStore(CHAIN, 'store-acks', 21, seededRng(7));
  const [last] = store.events.splice(20, 1);
  const options = { brokerUrl: broker.url, clientId: 'hq-acks', chainId: CHAIN, lanes: 1 };
  const failing = failingLater(db);
  const first = new EventConsumer(failing, options, quiet);
  await first.start();
  const publisher = await storePublisher(broker.url, store);
  for (const event of store.events) await publisher.publishAsync(store.topic, JSON.stringify(event), { qos: 1 });

  // All 20 taken at once on its one connection, none stored yet; then the database fails and it stops.
  await until(() => first.storing === 20, 'the 20 events taken');
  const stopped = first.stop();
  failing.fail();
  await stopped;
  expect(await heldEvents()).toBe(0);

  // The broker gives the same session all 20 again: none was acknowledged.
  const second = new EventConsumer(db, options, quiet);
  await second.start();
  await until(async () => (await heldEvents()) === 20, 'the 20 events stored');
  await second.stop();
  expect(second.counts).toMatchObject({ stored: 20, duplicates: 0 });

  // Those it stored were acknowledged: the next run gets only what came since, no copy.
  await publisher.publishAsync(store.topic, JSON.stringify(last), { qos: 1 });
  const third = new EventConsumer(db, options, quiet);
  await third.start();
  await until(async () => (await heldEvents()) === 21, 'the 21st event stored');
  await third.stop();
  await publisher.endAsync();
  expect(third.counts).toMatchObject({ stored: 1, duplicates: 0 });
  const [stream] = await db.query<{ contiguous_seq: string }>('SELECT contiguous_seq FROM store_streams');
  expect(Number(stream!.contiguous_seq)).toBe(21);
}, 60_000);
