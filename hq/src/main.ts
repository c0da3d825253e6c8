/**
 * HQ's command line. Without arguments: ingest and the dashboard server in one process, until
 * stopped (SIGTERM / Ctrl-C). `ingest` or `serve` runs one of them (several ingest workers, one
 * server); `users …` manages the dashboard's users; `--demo` runs a live demo chain with HQ.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { addUser, changeUser, findUser } from './auth/users.js';
import { runUsersCommand, USERS_USAGE } from './cli/users.js';
import { loadConfig, loadDatabaseConfig, loadServerConfig, type HqDatabaseConfig } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { migrate } from './db/migrations.js';
import { DEMO_CHAIN_ID, publishDemoCatalog, startDemoChain, type DemoChain } from './demo/demo-chain.js';
import { HqError } from './errors.js';
import { startCatalogPublisher } from './catalog/catalog-publisher.js';
import { analyticsRoutes } from './http/analytics.routes.js';
import { catalogRoutes } from './http/catalog.routes.js';
import { operationsRoutes } from './http/operations.routes.js';
import { buildHqServer } from './http/server.js';
import { startIngest } from './ingest/run-ingest.js';

const USAGE = `usage:
  npm run hq                           ingest and the dashboard server (see hq/README.md)
  npm run hq -- ingest                 ingest only (one of several workers)
  npm run hq -- serve                  the dashboard server only
  npm run hq -- --demo                 a live demo chain: a broker, three demo stores that keep
                                       selling, and HQ with its dashboard (data in data/hq-demo)
${USERS_USAGE}
  npm run hq -- --help                 this text`;

/** hq/src → hq/ui/build; the build puts the compiled code two folders deeper, hence the search. */
const DASHBOARD_DIR = process.env.AYI_HQ_DASHBOARD_DIR
  ? [path.resolve(process.env.AYI_HQ_DASHBOARD_DIR)]
  : [
      path.resolve(import.meta.dirname, '..', 'ui', 'build'),
      path.resolve(import.meta.dirname, '..', '..', '..', 'ui', 'build'),
    ];

// The demo prints what a newcomer needs; its HQ logs only what goes wrong.
const log = pino({
  name: 'ayi-hq',
  level: process.env.AYI_HQ_LOG_LEVEL ?? (process.argv.includes('--demo') ? 'warn' : 'info'),
});

async function open(config: HqDatabaseConfig) {
  const db = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    onIdleError: (err) => log.warn({ err: err.message }, 'the database dropped an idle connection'),
  });
  return { db, migrations: await migrate(db) };
}

async function run(
  mode: 'both' | 'ingest' | 'serve',
  env: NodeJS.ProcessEnv = process.env,
  demo?: DemoChain,
): Promise<void> {
  // Every setting is checked before anything starts.
  const ingestConfig = mode === 'serve' ? undefined : loadConfig(env);
  const serverConfig = mode === 'ingest' ? undefined : loadServerConfig(env);
  const { db, migrations } = await open(ingestConfig ?? loadDatabaseConfig(env));
  const ingest = ingestConfig ? await startIngest(db, ingestConfig, log, migrations) : undefined;
  // The dashboard publishes catalog versions through the broker when it knows one (serve alone may not).
  const broker = ingestConfig ?? (serverConfig && env.AYI_HQ_MQTT_URL ? loadConfig(env) : undefined);
  const catalogPublisher =
    serverConfig && broker
      ? await startCatalogPublisher(
          db,
          {
            brokerUrl: broker.mqttUrl,
            workerId: broker.workerId,
            chainId: broker.chainId,
            username: broker.mqttUsername,
            password: broker.mqttPassword,
          },
          log.child({ component: 'catalog' }),
        )
      : null;
  const server = serverConfig
    ? await buildHqServer({
        db,
        config: serverConfig,
        log: log.child({ component: 'http' }),
        dashboardDir: DASHBOARD_DIR.find((dir) => existsSync(path.join(dir, 'index.html'))),
        routes: [
          analyticsRoutes,
          operationsRoutes,
          catalogRoutes({ chainId: broker?.chainId ?? env.AYI_HQ_CHAIN, publisher: catalogPublisher }),
        ],
      })
    : undefined;
  let dashboardAddress: string | undefined;
  if (server && serverConfig) {
    const address = await server.listen({ host: serverConfig.host, port: serverConfig.port });
    dashboardAddress = serverConfig.publicOrigin ?? address;
    log.info({ listening: address, dashboard: dashboardAddress }, 'HQ dashboard at this address');
  }
  if (demo && dashboardAddress) {
    const catalogVersion = catalogPublisher ? await publishDemoCatalog(db, catalogPublisher, demo.history) : null;
    await announceDemo(db, demo, dashboardAddress, catalogVersion);
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // The server first: no new request reaches a database that is closing.
    // The demo's broker and stores are stopped whatever else fails.
    try {
      await server?.close();
      await catalogPublisher?.stop();
      await ingest?.stop();
      await db.close();
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'HQ did not stop cleanly');
    } finally {
      await demo?.stop();
    }
    log.info('HQ stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

/**
 * `--demo`: Debian's mosquitto, three demo stores and HQ (ingest and dashboard) on PGlite, all in
 * one directory (AYI_HQ_DATA_DIR, default data/hq-demo) that a second start reuses.
 */
async function runDemo(): Promise<void> {
  const demoDir = path.resolve(process.env.AYI_HQ_DATA_DIR ?? path.join('data', 'hq-demo'));
  ensureDashboardBuilt();
  const say = (line: string) => console.log(line);
  const chain = await startDemoChain({
    dataDir: demoDir,
    // Tests start the chain without the year of history (AYI_DEMO_HISTORY=off), as they do a hub.
    history: !['off', 'false', '0'].includes(process.env.AYI_DEMO_HISTORY ?? ''),
    saleEverySeconds: Number(process.env.AYI_HQ_DEMO_SALE_EVERY_S ?? 5),
    log: say,
  });
  try {
    await run(
      'both',
      {
        ...process.env,
        AYI_HQ_MQTT_URL: chain.brokerUrl,
        AYI_HQ_CHAIN: DEMO_CHAIN_ID,
        AYI_HQ_WORKER: 'hq-demo',
        AYI_HQ_DATA_DIR: path.join(demoDir, 'hq-db'),
        AYI_HQ_DATABASE_URL: '',
      },
      chain,
    );
  } catch (err) {
    await chain.stop();
    throw err;
  }
}

/** The dashboard is served built; a fresh checkout builds it once. */
function ensureDashboardBuilt(): void {
  if (DASHBOARD_DIR.some((dir) => existsSync(path.join(dir, 'index.html')))) return;
  console.log('Building the HQ dashboard (once) …');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const build = spawnSync(npm, ['run', 'build', '-w', '@ayi/hq-ui'], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`The dashboard's build failed:\n${build.stdout}${build.stderr}`);
}

/** The demo's sign-in: the admin user, made on the first start and given a new password at every start. */
async function announceDemo(
  db: Database,
  chain: DemoChain,
  dashboard: string,
  catalogVersion: number | null,
): Promise<void> {
  const { password } = (await findUser(db, 'admin'))
    ? await changeUser(db, 'admin', { resetPassword: true })
    : await addUser(db, 'admin', 'admin');
  const lines = [
    '',
    'Ayi HQ demo chain is running.',
    `  Dashboard:  ${dashboard}`,
    `  Sign in:    admin / ${password}  (new at every start; the dashboard asks you to choose your own)`,
    ...(catalogVersion === null
      ? []
      : [`  Catalog:    version ${catalogVersion} from HQ; the 商品目錄 page shows which store runs which version`]),
    '  Stores (tablet UI; demo PINs: cashier 1111, manager 222222, owner 333333):',
    ...chain.stores.map(
      (store) => `    ${store.name.padEnd(6, '　')} ${store.url}  pairing code ${store.pairingCode} (10 minutes)`,
    ),
    "  More pairing codes: AYI_DATA_DIR=<the store's directory> npm run ayi -- pair; the stores' directories:",
    ...chain.stores.map((store) => `    ${store.dataDir}`),
    '  Stop with Ctrl-C.',
    '',
  ];
  console.log(lines.join('\n'));
}

async function users(args: string[]): Promise<void> {
  const { db } = await open(loadDatabaseConfig());
  try {
    await runUsersCommand(db, args, (line) => console.log(line));
  } finally {
    await db.close();
  }
}

async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (command === '--help' || command === '-h' || command === 'help') return void console.log(USAGE);
  if (command === undefined) return run('both');
  if (command === '--demo') return runDemo();
  if (command === 'ingest' || command === 'serve') return run(command);
  if (command === 'users') return users(rest);
  throw new HqError('usage', `unknown command: ${command}\n${USAGE}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(err instanceof HqError ? 2 : 1);
});
