/**
 * Schema migrations: numbered SQL files in hq/migrations, each applied once, in order, in its own
 * transaction, and recorded in schema_migrations. The same files run on PGlite and on a server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { refreshRollupsIn } from '../analytics/rollups.js';
import { rebuildAnalyticsIn } from '../ingest/analytics-projections.js';
import type { Database, Queryable } from './database.js';

// hq/src/db → hq/migrations; the build copies the folder beside the compiled code the same way.
export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '..', '..', 'migrations');

/** The advisory lock HQ's processes take while creating the migrations table. */
const MIGRATIONS_LOCK = 0x41_59_49_48; // "AYIH"

const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => MIGRATION_FILE.test(name))
    .sort()
    .map((name) => ({
      version: Number(MIGRATION_FILE.exec(name)![1]),
      name,
      sql: readFileSync(path.join(dir, name), 'utf8'),
    }));
}

/**
 * Work a migration needs beyond its SQL, by version, run in the migration's transaction: new tables
 * projected from the events an HQ upgraded in place already holds.
 */
export const MIGRATION_STEPS: Partial<Record<number, (tx: Queryable) => Promise<unknown>>> = {
  5: rebuildAnalyticsIn,
  // 010's days are worked out by 011's step: the refresh fills product_days too, which 010 does
  // not have yet. What 010 marks stays marked until then (or until a report reads the rollups).
  11: refreshRollupsIn,
};

/** Applies what is missing; returns the names applied now. */
export async function migrate(db: Database, migrations = readMigrations(), steps = MIGRATION_STEPS): Promise<string[]> {
  // Workers starting together on an empty database: CREATE TABLE IF NOT EXISTS is not safe against
  // itself (the second can fail on the catalog's unique index), so they take turns.
  await db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATIONS_LOCK})`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
  });
  const applied = new Set(
    (await db.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
  );
  const done: string[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    await db.transaction(async (tx) => {
      // Two HQ processes starting together: the second waits here, then finds the version applied.
      await tx.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
      const again = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
      if (again.length > 0) return;
      await tx.exec(migration.sql);
      await steps[migration.version]?.(tx);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      done.push(migration.name);
    });
  }
  return done;
}
