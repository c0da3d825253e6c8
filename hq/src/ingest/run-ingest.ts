/** Starts ingest on an open, migrated database: the consumer's lanes, the gap healer and the store healer (with the
 * stores' link: statuses kept, quiet stores pinged). */
import type { Logger } from 'pino';
import type { HqConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { EventConsumer, eventsFilter } from './consumer.js';
import { GapHealer } from './gap-healer.js';
import { startStoreHealer } from './store-healer.js';

export interface RunningIngest {
  /** Stops taking messages and lets the last batch commit; the database stays open. */
  stop(): Promise<void>;
}

export async function startIngest(
  db: Database,
  config: HqConfig,
  log: Logger,
  migrations: string[],
): Promise<RunningIngest> {
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
    { graceMs: config.gapGraceSeconds * 1000 },
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
    // The same connection keeps each store's status and pings the quiet ones.
    { link: { pingAfterMs: config.pingAfterSeconds * 1000 } },
  );
  log.info(
    {
      database: db.kind,
      migrations,
      filter: eventsFilter({ ...config, clientId: config.workerId }),
      worker: config.workerId,
      lanes: config.lanes,
    },
    'HQ ingest running',
  );
  return {
    async stop() {
      healer.stop();
      await storeHealer.stop();
      await consumer.stop();
      log.info({ ...consumer.counts, ...consumer.batcher.stats }, 'HQ ingest stopped');
    },
  };
}
