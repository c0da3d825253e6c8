/**
 * The chain's catalog versions: a new version is the next number of its chain, stored with the
 * ayi.catalog/1 message stores receive; and what each store says it runs (from its status).
 */
import { CATALOG_SCHEMA, type CatalogVersion } from '../../../hub/src/protocol/event-schemas.js';
import { chainCatalogProblems, type ChainCatalog } from '../../../hub/src/domain/catalog.js';
import type { Database, Queryable } from '../db/database.js';
import { HqError } from '../errors.js';

export interface CatalogSummary {
  version: number;
  publishedAt: string;
  publishedBy: string;
  products: number;
  /** Stores with prices of their own. */
  storesWithOwnPrices: number;
}

export interface StoreCatalog {
  storeId: string;
  /** The version the store runs (null: none yet, or a hub older than catalogs). */
  catalogVersion: number | null;
  /** Runs an older version than the chain's latest (or none): it gets the latest when it connects. */
  behind: boolean;
  localChanges: boolean;
  refused: { version: number | null; reason: string } | null;
  linkState: string;
  reportedAt: string;
}

export interface ChainCatalogView {
  chainId: string;
  latest: CatalogSummary | null;
  stores: StoreCatalog[];
}

interface VersionRow {
  chain_id: string;
  version: number;
  published_at: Date | string;
  published_by: string;
  product_count: number;
  stores_with_prices: number;
}

const iso = (value: Date | string) => (value instanceof Date ? value : new Date(value)).toISOString();

/**
 * Stores the chain's next catalog version and returns its message (what the stores receive).
 * Refused with a 400 naming the problem when a SKU appears twice, a barcode is on two SKUs, or a
 * store price names a SKU the catalog lacks.
 */
export async function createCatalogVersion(
  db: Database,
  chainId: string,
  catalog: ChainCatalog,
  publishedBy: string,
  now: Date = new Date(),
): Promise<CatalogVersion> {
  const problems = chainCatalogProblems(catalog);
  if (problems.length > 0) throw new HqError('invalid_catalog', problems[0]!, 400, { problems });
  // Two versions published at once: the second takes the next number (the key refuses a tie).
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction(async (tx) => {
        const [row] = await tx.query<{ next: number }>(
          'SELECT COALESCE(MAX(version), 0) + 1 AS next FROM catalog_versions WHERE chain_id = $1',
          [chainId],
        );
        const message: CatalogVersion = {
          schema: CATALOG_SCHEMA,
          chainId,
          version: Number(row!.next),
          publishedAt: now.toISOString(),
          products: catalog.products,
          storePrices: catalog.storePrices,
        };
        await tx.query(
          `INSERT INTO catalog_versions (chain_id, version, published_at, published_by, product_count, message)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [chainId, message.version, now, publishedBy, catalog.products.length, JSON.stringify(message)],
        );
        return message;
      });
    } catch (err) {
      if ((err as { code?: string }).code !== '23505' || attempt >= 3) throw err;
    }
  }
}

/** The chain's latest version as stores receive it (null: none published). */
export async function latestCatalogMessage(db: Queryable, chainId: string): Promise<CatalogVersion | null> {
  const [row] = await db.query<{ message: CatalogVersion | string }>(
    'SELECT message FROM catalog_versions WHERE chain_id = $1 ORDER BY version DESC LIMIT 1',
    [chainId],
  );
  if (!row) return null;
  return typeof row.message === 'string' ? (JSON.parse(row.message) as CatalogVersion) : row.message;
}

/** Chains with a published catalog. */
export async function catalogChains(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ chain_id: string }>('SELECT DISTINCT chain_id FROM catalog_versions ORDER BY 1');
  return rows.map((row) => row.chain_id);
}

/** What a store's retained status says of its catalog (statuses without catalogVersion are of older hubs). */
export async function noteStoreCatalog(
  db: Queryable,
  chainId: string,
  storeId: string,
  status: Record<string, unknown>,
): Promise<void> {
  const at =
    typeof status.at === 'string' && !Number.isNaN(Date.parse(status.at)) ? status.at : new Date().toISOString();
  const state = status.state === 'online' || status.state === 'offline' ? status.state : 'unknown';
  const known = 'catalogVersion' in status;
  const version = Number.isInteger(status.catalogVersion) ? (status.catalogVersion as number) : null;
  const refused = status.catalogRefused as { version?: unknown; reason?: unknown } | null | undefined;
  const hasRefused = refused !== undefined;
  await db.query(
    `INSERT INTO store_catalogs (store_id, chain_id, catalog_version, local_changes, refused_version, refused_reason,
                                 link_state, reported_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (store_id, chain_id) DO UPDATE SET
       catalog_version = CASE WHEN $9 THEN EXCLUDED.catalog_version ELSE store_catalogs.catalog_version END,
       local_changes = CASE WHEN $9 THEN EXCLUDED.local_changes ELSE store_catalogs.local_changes END,
       refused_version = CASE WHEN $10 THEN EXCLUDED.refused_version ELSE store_catalogs.refused_version END,
       refused_reason = CASE WHEN $10 THEN EXCLUDED.refused_reason ELSE store_catalogs.refused_reason END,
       link_state = EXCLUDED.link_state,
       reported_at = EXCLUDED.reported_at
     WHERE store_catalogs.reported_at <= EXCLUDED.reported_at`,
    [
      storeId,
      chainId,
      version,
      status.catalogLocalChanges === true,
      Number.isInteger(refused?.version) ? refused!.version : null,
      typeof refused?.reason === 'string' ? refused.reason.slice(0, 500) : null,
      state,
      at,
      known,
      hasRefused,
    ],
  );
}

/** Each chain's latest version and the version each of its stores runs (one chain, or every one). */
export async function catalogView(db: Queryable, chainId?: string): Promise<ChainCatalogView[]> {
  const versions = await db.query<VersionRow>(
    `SELECT DISTINCT ON (v.chain_id) v.chain_id, v.version, v.published_at, v.published_by, v.product_count,
            (SELECT count(*) FROM jsonb_object_keys(v.message -> 'storePrices'))::int AS stores_with_prices
     FROM catalog_versions v
     WHERE $1::text IS NULL OR v.chain_id = $1
     ORDER BY v.chain_id, v.version DESC`,
    [chainId ?? null],
  );
  const stores = await db.query<{
    store_id: string;
    chain_id: string;
    catalog_version: number | null;
    local_changes: boolean;
    refused_version: number | null;
    refused_reason: string | null;
    link_state: string;
    reported_at: Date | string;
  }>(
    `SELECT store_id, chain_id, catalog_version, local_changes, refused_version, refused_reason, link_state, reported_at
     FROM store_catalogs WHERE $1::text IS NULL OR chain_id = $1 ORDER BY chain_id, store_id`,
    [chainId ?? null],
  );
  const chains = new Set([...versions.map((v) => v.chain_id), ...stores.map((s) => s.chain_id)]);
  if (chainId) chains.add(chainId);
  return [...chains].sort().map((chain) => {
    const latest = versions.find((v) => v.chain_id === chain);
    return {
      chainId: chain,
      latest: latest
        ? {
            version: Number(latest.version),
            publishedAt: iso(latest.published_at),
            publishedBy: latest.published_by,
            products: Number(latest.product_count),
            storesWithOwnPrices: Number(latest.stores_with_prices),
          }
        : null,
      stores: stores
        .filter((s) => s.chain_id === chain)
        .map((s) => ({
          storeId: s.store_id,
          catalogVersion: s.catalog_version === null ? null : Number(s.catalog_version),
          behind:
            latest !== undefined && (s.catalog_version === null || Number(s.catalog_version) < Number(latest.version)),
          localChanges: s.local_changes,
          refused:
            s.refused_reason === null
              ? null
              : { version: s.refused_version === null ? null : Number(s.refused_version), reason: s.refused_reason },
          linkState: s.link_state,
          reportedAt: iso(s.reported_at),
        })),
    };
  });
}
