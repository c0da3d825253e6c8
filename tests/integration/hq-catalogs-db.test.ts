/**
 * HQ's catalog tables on both databases (PGlite and the PostgreSQL server where one answers): each
 * chain numbers its versions 1, 2, 3 (two published at once get two numbers), a bad catalog makes no
 * version, and the version each store runs follows its statuses, newest status first whatever order
 * they arrive in (several workers read them), as the dashboard's catalog page shows it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  catalogView,
  createCatalogVersion,
  latestCatalogMessage,
  noteStoreCatalog,
} from '../../hq/src/catalog/catalogs.ts';
import type { Database } from '../../hq/src/db/database.ts';
import { HqError } from '../../hq/src/errors.ts';
import type { ProductData } from '../../hub/src/protocol/events.ts';
import { hqTestDatabases } from '../support/postgres-server.ts';

const product = (sku: string, price: number): ProductData => ({
  sku,
  barcodes: [`code-${sku}`],
  name: `商品 ${sku}`,
  category: '類別',
  price,
  repurchaseDays: null,
});

const backends = hqTestDatabases();

describe.each(backends)("HQ's catalogs on $name", ({ open }) => {
  let db: Database | null = null;
  beforeAll(async () => {
    db = await open();
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it('numbers each chain’s versions, one number each even when published at once; refuses a bad one', async () => {
    if (!db) return;
    const catalog = { products: [product('A', 10), product('B', 20)], storePrices: { 's-2': { A: 9 } } };
    const first = await createCatalogVersion(db, 'chain-x', catalog, 'olivia');
    expect(first).toMatchObject({ schema: 'ayi.catalog/1', chainId: 'chain-x', version: 1 });
    const together = await Promise.all([
      createCatalogVersion(db, 'chain-x', catalog, 'olivia'),
      createCatalogVersion(db, 'chain-x', catalog, 'oscar'),
      createCatalogVersion(db, 'chain-y', catalog, 'oscar'),
    ]);
    expect(together.map((v) => `${v.chainId}:${v.version}`).sort()).toEqual(['chain-x:2', 'chain-x:3', 'chain-y:1']);
    await expect(
      createCatalogVersion(db, 'chain-x', { products: catalog.products, storePrices: { 's-2': { Z: 1 } } }, 'olivia'),
    ).rejects.toThrow(HqError);
    const latest = await latestCatalogMessage(db, 'chain-x');
    expect(latest?.version).toBe(3);
    expect(latest?.storePrices).toEqual({ 's-2': { A: 9 } });
    expect(latest?.products).toEqual(catalog.products);
  });

  it('keeps the version each store runs from its newest status, whatever order statuses arrive in', async () => {
    if (!db) return;
    const at = (minute: number) => `2026-12-07T08:${String(minute).padStart(2, '0')}:00.000Z`;
    await noteStoreCatalog(db, 'chain-x', 's-1', { state: 'online', at: at(5), catalogVersion: 3 });
    // An older status arriving late (another worker, a redelivery) changes nothing.
    await noteStoreCatalog(db, 'chain-x', 's-1', { state: 'online', at: at(1), catalogVersion: 1 });
    await noteStoreCatalog(db, 'chain-x', 's-2', {
      state: 'online',
      at: at(2),
      catalogVersion: 2,
      catalogLocalChanges: true,
      catalogRefused: { version: 1, reason: 'older than version 2, which this store runs', at: at(2) },
    });
    // A store's last will (offline) without catalog fields keeps what it ran.
    await noteStoreCatalog(db, 'chain-x', 's-2', { state: 'offline', at: at(3) });
    // A hub older than catalogs: no catalogVersion at all.
    await noteStoreCatalog(db, 'chain-x', 's-3', { state: 'online', at: at(4) });
    const [chain] = await catalogView(db, 'chain-x');
    expect(chain!.latest).toMatchObject({
      version: 3,
      products: 2,
      publishedBy: expect.any(String),
      storesWithOwnPrices: 1,
    });
    expect(chain!.stores).toEqual([
      expect.objectContaining({ storeId: 's-1', catalogVersion: 3, behind: false, linkState: 'online' }),
      expect.objectContaining({
        storeId: 's-2',
        catalogVersion: 2,
        behind: true,
        localChanges: true,
        refused: { version: 1, reason: 'older than version 2, which this store runs' },
        linkState: 'offline',
      }),
      expect.objectContaining({ storeId: 's-3', catalogVersion: null, behind: true }),
    ]);
    const all = await catalogView(db);
    expect(all.map((c) => c.chainId)).toEqual(['chain-x', 'chain-y']);
    expect(all[1]!.stores).toEqual([]);
  });
});
