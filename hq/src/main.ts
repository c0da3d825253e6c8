/** HQ's ingest worker: stores every store's events into PostgreSQL until stopped (SIGTERM / Ctrl-C). */
import { pino } from 'pino';
import { loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { migrate } from './db/migrations.js';
import { EventConsumer, eventsFilter } from './ingest/consumer.js';
import { GapHealer } from './ingest/gap-healer.js';
import { startStoreHealer } from './ingest/store-healer.js';

const log = pino({ name: 'ayi-hq' });

async function main(): Promise<void> {
  const config = loadConfig();
  const db = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    onIdleError: (err) => log.warn({ err: err.message }, 'the database dropped an idle connection'),
  });
  const applied = await migrate(db);
  const consumer = new EventConsumer(
    db,
    {
      brokerUrl: config.mqttUrl,
      clientId: config.workerId,
      chainId: config.chainId,
      shareGroup: config.shareGroup,
      lanes: config.lanes,
      username: config.mqttUsername,
      password: config.mqttPassword,
    },
    log.child({ component: 'ingest' }),
  );
  await consumer.start();
  // Every worker looks for holes; the requests are kept in the database, so one hole is asked for
  // once whichever worker sees it first.
  const healer = new GapHealer(
    db,
    (topic, payload) => consumer.publish(topic, payload),
    log.child({ component: 'heal' }),
    {
      graceMs: config.gapGraceSeconds * 1000,
    },
  );
  healer.start();
  // A store's damaged journal lines are sent back from HQ's copy (cmd/restore).
  const storeHealer = await startStoreHealer(
    db,
    {
      brokerUrl: config.mqttUrl,
      workerId: config.workerId,
      chainId: config.chainId,
      username: config.mqttUsername,
      password: config.mqttPassword,
    },
    log.child({ component: 'store-heal' }),
  );
  log.info(
    {
      database: db.kind,
      migrations: applied,
      filter: eventsFilter({ ...config, clientId: config.workerId }),
      worker: config.workerId,
      lanes: config.lanes,
    },
    'HQ ingest running',
  );
  const stop = async () => {
    healer.stop();
    await storeHealer.stop();
    await consumer.stop();
    await db.close();
    log.info({ ...consumer.counts, ...consumer.batcher.stats }, 'HQ ingest stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
