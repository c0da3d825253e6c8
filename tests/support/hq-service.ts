/**
 * HQ as the tests run it: ingest from a real broker into PGlite and the dashboard's server with the
 * analytics, operations and catalog routes (publishing through the same broker), on a free port, serving the tests' build of the dashboard
 * (hq/ui/build-test, made by `npm run build:test`).
 */
import path from 'node:path';
import { pino } from 'pino';
import { addUser } from '../../hq/src/auth/users.ts';
import { loadConfig, loadServerConfig } from '../../hq/src/config.ts';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { startCatalogPublisher } from '../../hq/src/catalog/catalog-publisher.ts';
import { analyticsRoutes } from '../../hq/src/http/analytics.routes.ts';
import { catalogRoutes } from '../../hq/src/http/catalog.routes.ts';
import { operationsRoutes } from '../../hq/src/http/operations.routes.ts';
import type { HqRole } from '../../hq/src/http/route-deps.ts';
import { buildHqServer } from '../../hq/src/http/server.ts';
import { startIngest } from '../../hq/src/ingest/run-ingest.ts';
import { REPO_ROOT } from './hub-process.ts';

export const HQ_TEST_DASHBOARD = path.join(REPO_ROOT, 'hq', 'ui', 'build-test');

/**
 * For tests about something else than the first sign-in: the user counts as having chosen their own
 * password (what POST /api/session/password does), so their sessions may use the API at once.
 */
export async function passwordChosen(db: Database, username: string): Promise<void> {
  await db.query('UPDATE hq_users SET must_change_password = false WHERE username = $1', [username]);
}

export interface HqService {
  url: string;
  db: Database;
  /** A dashboard user with a generated password; `chosen`: as if they had already made it their own. */
  addUser(username: string, role: HqRole, chosen?: boolean): Promise<string>;
  stop(): Promise<void>;
}

export async function startHqService(opts: {
  brokerUrl: string;
  chainId: string;
  dataDir: string;
}): Promise<HqService> {
  const env = {
    AYI_HQ_MQTT_URL: opts.brokerUrl,
    AYI_HQ_CHAIN: opts.chainId,
    AYI_HQ_DATA_DIR: opts.dataDir,
    AYI_HQ_WORKER: 'hq-test',
    AYI_HQ_LANES: '4',
    AYI_HQ_HOST: '127.0.0.1',
    AYI_HQ_PORT: '0',
  };
  const quiet = pino({ level: 'silent' });
  const db = await openDatabase({ dataDir: opts.dataDir });
  const migrations = await migrate(db);
  const ingest = await startIngest(db, loadConfig(env), quiet, migrations);
  const publisher = await startCatalogPublisher(
    db,
    { brokerUrl: opts.brokerUrl, workerId: env.AYI_HQ_WORKER, chainId: opts.chainId },
    quiet,
  );
  const server = await buildHqServer({
    db,
    config: loadServerConfig(env),
    log: quiet,
    dashboardDir: HQ_TEST_DASHBOARD,
    routes: [analyticsRoutes, operationsRoutes, catalogRoutes({ chainId: opts.chainId, publisher })],
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    db,
    addUser: async (username, role, chosen = false) => {
      const { password } = await addUser(db, username, role);
      if (chosen) await passwordChosen(db, username);
      return password;
    },
    stop: async () => {
      await server.close();
      await publisher.stop();
      await ingest.stop();
      await db.close();
    },
  };
}
