/**
 * HQ's catalog at the store: what makes a version unusable (a SKU twice, a barcode on two SKUs, a
 * store price for a SKU it lacks), the catalog one store sells (its own prices), and the projection:
 * an HQ version replaces the whole catalog and is the version the store runs, a local import after
 * it is a local change until the next version, and both survive a snapshot.
 */
import { describe, expect, it } from 'vitest';
import { chainCatalogProblems, storeCatalog } from '../../../hub/src/domain/catalog.ts';
import { StoreState } from '../../../hub/src/domain/store-state.ts';
import type { ProductData } from '../../../hub/src/protocol/events.ts';
import { EventSequence, sealFor, unseal } from '../../support/member-events.ts';

const product = (sku: string, price: number, barcodes: string[] = []): ProductData => ({
  sku,
  barcodes,
  name: `商品 ${sku}`,
  category: '類別',
  price,
  repurchaseDays: null,
});
const AT = '2026-12-07T02:00:00.000Z';

describe("a chain's catalog version", () => {
  it('names each problem that makes it unusable, and none for a good one', () => {
    const good = { products: [product('A', 10, ['1']), product('B', 20, ['2'])], storePrices: { s1: { A: 9 } } };
    expect(chainCatalogProblems(good)).toEqual([]);
    expect(
      chainCatalogProblems({
        products: [product('A', 10, ['1']), product('A', 11), product('C', 5, ['1'])],
        storePrices: { s1: { Z: 1 } },
      }),
    ).toEqual([
      'products/1: sku A appears twice',
      'products/2: barcode 1 already belongs to A',
      'storePrices/s1: Z is not a product of this catalog',
    ]);
  });

  it("gives each store its own prices and the chain's for the rest", () => {
    const catalog = { products: [product('A', 10), product('B', 20)], storePrices: { s1: { A: 9 } } };
    expect(storeCatalog(catalog, 's1').map((p) => [p.sku, p.price])).toEqual([
      ['A', 9],
      ['B', 20],
    ]);
    expect(storeCatalog(catalog, 's2').map((p) => [p.sku, p.price])).toEqual([
      ['A', 10],
      ['B', 20],
    ]);
  });
});

describe("StoreState: HQ's catalog", () => {
  it('replaces the whole catalog with a version, marks a later local import, and keeps both in a snapshot', () => {
    const { ev } = new EventSequence();
    const state = new StoreState(35, unseal);
    state.apply(ev('catalog.imported', { source: 'demo', products: [product('OLD', 5, ['9'])] }, AT));
    expect(state.catalogVersion).toBeNull();
    const revision = state.catalogRevision;
    state.apply(ev('catalog.imported', { source: 'hq', version: 4, products: [product('A', 10, ['1'])] }, AT));
    expect([...state.products.keys()]).toEqual(['A']);
    expect(state.findByBarcode('9')).toBeUndefined();
    expect(state.findByBarcode('1')?.sku).toBe('A');
    expect(state.catalogVersion).toBe(4);
    expect(state.catalogLocalChanges).toBe(false);
    // The tablets' cached list is stale: the revision moved.
    expect(state.catalogRevision).toBeGreaterThan(revision);

    state.apply(ev('catalog.imported', { source: 'csv', products: [product('LOCAL', 7)] }, AT));
    expect([...state.products.keys()].sort()).toEqual(['A', 'LOCAL']);
    expect(state.catalogVersion).toBe(4);
    expect(state.catalogLocalChanges).toBe(true);

    const restored = StoreState.fromData(state.toData(sealFor), 35, unseal);
    expect(restored.catalogVersion).toBe(4);
    expect(restored.catalogLocalChanges).toBe(true);
    expect([...restored.products.keys()].sort()).toEqual(['A', 'LOCAL']);

    state.apply(ev('catalog.imported', { source: 'hq', version: 5, products: [product('B', 20)] }, AT));
    expect([...state.products.keys()]).toEqual(['B']);
    expect(state.catalogVersion).toBe(5);
    expect(state.catalogLocalChanges).toBe(false);
  });
});
