/**
 * The PostgreSQL server at 127.0.0.1:5432, where one answers: a fresh database per test, dropped
 * afterwards. On a machine without one, `postgresServer()` is null and the tests run on PGlite only.
 */
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';

export const POSTGRES_ADMIN_URL = process.env.AYI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ServerDatabase {
  /** A new, empty database; its URL. */
  createDatabase(): Promise<string>;
  /** Drops every database this made. */
  dropAll(): Promise<void>;
}

export async function postgresServer(): Promise<ServerDatabase | null> {
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch {
    return null;
  }
  const made: string[] = [];
  const base = new URL(POSTGRES_ADMIN_URL);
  return {
    async createDatabase() {
      const name = `ayi_hq_test_${process.pid}_${made.length + 1}_${Math.random().toString(36).slice(2, 8)}`;
      await admin.query(`CREATE DATABASE ${name}`);
      made.push(name);
      const url = new URL(base);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async dropAll() {
      for (const name of made.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/**
 * The databases an HQ test file runs on: PGlite always, and a fresh database on the PostgreSQL
 * server where one answers. `open` gives a new database with HQ's migrations applied, or null
 * (said once) without a server. Call at the top of the file: it starts and drops the server's
 * databases around the file's tests.
 */
export function hqTestDatabases(): { name: string; open: () => Promise<Database | null> }[] {
  let server: ServerDatabase | null = null;
  let absenceSaid = false;
  beforeAll(async () => {
    server = await postgresServer();
  });
  afterAll(async () => {
    await server?.dropAll();
  });
  const migrated = async (db: Database) => {
    await migrate(db);
    return db;
  };
  return [
    { name: 'PGlite', open: async () => migrated(await openDatabase({ dataDir: 'memory://' })) },
    {
      name: 'PostgreSQL server',
      open: async () => {
        if (server) return migrated(await openDatabase({ url: await server.createDatabase() }));
        if (!absenceSaid) console.warn('no PostgreSQL server at 127.0.0.1:5432: these tests ran on PGlite only');
        absenceSaid = true;
        return null;
      },
    },
  ];
}
