/**
 * HQ's one way to PostgreSQL: the embedded PGlite (a data directory, nothing to install) or a
 * PostgreSQL server (`AYI_HQ_DATABASE_URL`). The same SQL runs on both; nothing above this file
 * knows which one it talks to.
 */
import type { PGlite } from '@electric-sql/pglite';
import type { Pool, PoolClient } from 'pg';

/** Something SQL can be sent to: the database, or one transaction of it. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Several statements without parameters (a migration file). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** `pglite` or `postgres`, for health and logs. */
  readonly kind: 'pglite' | 'postgres';
}

class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  constructor(private readonly db: PGlite) {}

  async query<Row>(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.db.query<Row>(sql, params)).rows;
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      work({
        query: async <Row>(sql: string, params: unknown[] = []) => (await tx.query<Row>(sql, params)).rows,
        exec: async (sql: string) => void (await tx.exec(sql)),
      }),
    );
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

class ServerDatabase implements Database {
  readonly kind = 'postgres';
  constructor(private readonly pool: Pool) {}

  async query<Row>(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, params)).rows as Row[];
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work({
        query: async <Row>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as Row[],
        exec: async (sql: string) => void (await client.query(sql)),
      });
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export interface DatabaseOptions {
  /** A PostgreSQL URL (`postgres://…`): use that server. */
  url?: string | undefined;
  /** Otherwise PGlite keeps its files here; `memory://` for a database that lives in memory only. */
  dataDir?: string | undefined;
  /** Told when the server drops an idle connection (it is replaced at the next query). */
  onIdleError?: (err: Error) => void;
}

/** Opens the database; the heavy drivers are loaded only for the one in use. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) {
    const { default: pg } = await import('pg');
    // Timestamps and big integers stay strings: exact, and the same as PGlite gives them.
    const pool = new pg.Pool({ connectionString: options.url, max: 8 });
    // An idle connection the server drops (a restart, an administrator) is only replaced; without
    // a listener the pool's error would end the process.
    pool.on('error', (err) => options.onIdleError?.(err));
    await pool.query('SELECT 1');
    return new ServerDatabase(pool);
  }
  if (!options.dataDir) throw new Error('HQ needs a database: AYI_HQ_DATABASE_URL or a data directory');
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(options.dataDir);
  return new PgliteDatabase(db);
}
