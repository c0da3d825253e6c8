/**
 * HQ's command line. Without arguments: ingest and the dashboard server in one process, until
 * stopped (SIGTERM / Ctrl-C). `ingest` or `serve` runs one of them (several ingest workers, one
 * server); `users …` manages the dashboard's users.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { runUsersCommand, USERS_USAGE } from './cli/users.js';
import { loadConfig, loadDatabaseConfig, loadServerConfig, type HqDatabaseConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { migrate } from './db/migrations.js';
import { HqError } from './errors.js';
import { buildHqServer } from './http/server.js';
import { startIngest } from './ingest/run-ingest.js';

const USAGE = `usage:
  npm run hq                           ingest and the dashboard server (see hq/README.md)
  npm run hq -- ingest                 ingest only (one of several workers)
  npm run hq -- serve                  the dashboard server only
${USERS_USAGE}
  npm run hq -- --help                 this text`;

/** hq/src → hq/ui/build; the build puts the compiled code two folders deeper, hence the search. */
const DASHBOARD_DIR = [
  path.resolve(import.meta.dirname, '..', 'ui', 'build'),
  path.resolve(import.meta.dirname, '..', '..', '..', 'ui', 'build'),
];

const log = pino({ name: 'ayi-hq' });

async function open(config: HqDatabaseConfig) {
  const db = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    onIdleError: (err) => log.warn({ err: err.message }, 'the database dropped an idle connection'),
  });
  return { db, migrations: await migrate(db) };
}

async function run(mode: 'both' | 'ingest' | 'serve'): Promise<void> {
  // Every setting is checked before anything starts.
  const ingestConfig = mode === 'serve' ? undefined : loadConfig();
  const serverConfig = mode === 'ingest' ? undefined : loadServerConfig();
  const { db, migrations } = await open(ingestConfig ?? loadDatabaseConfig());
  const ingest = ingestConfig ? await startIngest(db, ingestConfig, log, migrations) : undefined;
  const server = serverConfig
    ? await buildHqServer({
        db,
        config: serverConfig,
        log: log.child({ component: 'http' }),
        dashboardDir: DASHBOARD_DIR.find((dir) => existsSync(path.join(dir, 'index.html'))),
      })
    : undefined;
  if (server && serverConfig) {
    const address = await server.listen({ host: serverConfig.host, port: serverConfig.port });
    log.info({ listening: address, dashboard: serverConfig.publicOrigin ?? address }, 'HQ dashboard at this address');
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // The server first: no new request reaches a database that is closing.
    await server?.close();
    await ingest?.stop();
    await db.close();
    log.info('HQ stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
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
  if (command === 'ingest' || command === 'serve') return run(command);
  if (command === 'users') return users(rest);
  throw new HqError('usage', `unknown command: ${command}\n${USAGE}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(err instanceof HqError ? 2 : 1);
});
