/**
 * HQ's slow movers and products not sold for N days, per store and chain-wide, over the catalog HQ
 * knows: each store's catalog as its imports left it (a version from HQ replaces the whole catalog,
 * a store's own CSV adds to it) and the chain's latest published version. Five months of three
 * stores' sales (voids, sales after the range, a product sold only before it left a catalog, one
 * no catalog has), stored in shuffled order; every figure checked against a count made from the
 * events. On PGlite always and on the PostgreSQL server at 127.0.0.1:5432 where one answers.
 */
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyticsParamError, daysFrom } from '../../hq/src/analytics/params.ts';
import { notSold, slowMovers } from '../../hq/src/analytics/products.ts';
import { createCatalogVersion } from '../../hq/src/catalog/catalogs.ts';
import type { Database } from '../../hq/src/db/database.ts';
import { readEventMessage } from '../../hq/src/ingest/event-message.ts';
import { storeEvents } from '../../hq/src/ingest/store-event.ts';
import type { HubEvent, ProductData, SaleCompletedData } from '../../hub/src/protocol/events.ts';
import { seededRng, type Rng } from '../../scripts/lib/baskets.ts';
import { completedSale, saleLine } from '../support/member-events.ts';
import { hqTestDatabases } from '../support/postgres-server.ts';

const CHAIN = 'shelf-chain';
const STORES = ['shop-a', 'shop-b', 'shop-c'] as const;

const product = (sku: string, name: string, price: number): ProductData => ({
  sku,
  barcodes: [],
  name,
  category: ['tea', 'snack'][Number(sku.slice(1)) % 2]!,
  price,
  repurchaseDays: null,
});
const BASE = Array.from({ length: 8 }, (_, i) => product(`K0${i + 1}`, `Item ${i + 1}`, 20 + i * 15));
const K09 = product('K09', 'Item 9', 99);
const K10 = product('K10', 'Item 10', 120);
const K11 = product('K11', 'Item 11', 45);
const K12 = product('K12', 'Item 12', 300);
/** HQ's version 1: K08 and K09 leave, K10 comes, K01 is renamed. */
const HQ_VERSION = [{ ...BASE[0]!, name: 'Item 1 (new label)' }, ...BASE.slice(1, 7), K10];

interface Action {
  storeId: string;
  at: string;
  type: string;
  data: unknown;
}

const dayOf = (index: number) => new Date(Date.UTC(2026, 0, 1) + index * 86_400_000).toISOString().slice(0, 10);
const timeOn = (date: string, minute: number) =>
  new Date(Date.parse(`${date}T02:00:00.000Z`) + minute * 60_000).toISOString();

/** What each product sells like: the chance a line is it, and where and until when. */
function pickSku(rng: Rng, storeId: string, date: string): string {
  const roll = rng();
  if (roll < 0.7) return BASE[Math.floor(rng() * 5)]!.sku;
  if (roll < 0.74) return 'K06';
  if (roll < 0.8) return storeId === 'shop-a' && date < '2026-03-10' ? 'K07' : 'K02';
  if (roll < 0.86) return storeId === 'shop-a' ? 'K08' : 'K03';
  if (roll < 0.9) return storeId === 'shop-b' && date < '2026-02-01' ? 'K09' : 'K04';
  if (roll < 0.92) return storeId === 'shop-b' && date >= '2026-02-01' ? 'K10' : 'K05';
  if (roll < 0.93) return 'X99'; // in no catalog
  return BASE[Math.floor(rng() * 3)]!.sku;
}

function shelfYear(rng: Rng): HubEvent[] {
  const actions: Action[] = STORES.map((storeId) => ({
    storeId,
    at: '2026-01-01T00:00:00.000Z',
    type: 'catalog.imported',
    data: { source: 'csv', products: storeId === 'shop-b' ? [...BASE, K09] : BASE },
  }));
  actions.push({
    storeId: 'shop-b',
    at: '2026-02-01T00:00:00.000Z',
    type: 'catalog.imported',
    data: { source: 'hq', version: 1, products: HQ_VERSION },
  });
  actions.push({
    storeId: 'shop-c',
    at: '2026-03-01T00:00:00.000Z',
    type: 'catalog.imported',
    data: { source: 'csv', products: [K11] },
  });
  let saleNo = 0;
  for (let day = 0; day < 151; day++) {
    const date = dayOf(day);
    for (const storeId of STORES) {
      if (rng() > 0.6) continue;
      const lines = Array.from({ length: 1 + Math.floor(rng() * 3) }, (_, i) => {
        const qty = 1 + Math.floor(rng() * 3);
        return saleLine(i + 1, pickSku(rng, storeId, date), qty * 50, {
          qty,
          unitPrice: 50,
          orderDiscountShare: rng() < 0.2 ? 5 : 0,
        });
      });
      const saleId = `${storeId}-${++saleNo}`;
      const minute = Math.floor(rng() * 400);
      actions.push({
        storeId,
        at: timeOn(date, minute),
        type: 'sale.completed',
        data: completedSale({
          saleId,
          businessDate: date,
          memberId: null,
          lines,
          orderDiscount: lines.reduce((sum, line) => sum + line.orderDiscountShare, 0),
        }),
      });
      if (rng() < 0.05) {
        actions.push({
          storeId,
          at: timeOn(date, minute + 3),
          type: 'sale.voided',
          data: { saleId, reason: 'mistake', staffId: 'staff-1', deviceId: 'dev-1', loyalty: null },
        });
      }
    }
  }
  // The last sale of K06 at shop-c in the range, voided: it must not count as sold.
  const voidedId = 'shop-c-voided-k06';
  actions.push(
    {
      storeId: 'shop-c',
      at: timeOn('2026-04-29', 1),
      type: 'sale.completed',
      data: completedSale({
        saleId: voidedId,
        businessDate: '2026-04-29',
        memberId: null,
        lines: [saleLine(1, 'K06', 95)],
      }),
    },
    {
      storeId: 'shop-c',
      at: timeOn('2026-04-29', 2),
      type: 'sale.voided',
      data: { saleId: voidedId, reason: 'mistake', staffId: 'staff-1', deviceId: 'dev-1', loyalty: null },
    },
  );
  actions.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const seqs = new Map<string, number>();
  const epochs = new Map<string, string>(STORES.map((s) => [s, uuidv7()]));
  return actions.map((action) => {
    const seq = (seqs.get(action.storeId) ?? 0) + 1;
    seqs.set(action.storeId, seq);
    return {
      schema: 'ayi.event/1',
      eventId: uuidv7(),
      chainId: CHAIN,
      storeId: action.storeId,
      epoch: epochs.get(action.storeId)!,
      seq,
      type: action.type,
      at: action.at,
      data: action.data,
    } as HubEvent;
  });
}

/** The shelf worked out from the events alone: catalogs, names and the counted sales. */
function shelfTruth(events: HubEvent[], published: ProductData[]) {
  const ordered = [...events].sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
  const catalogs = new Map<string, Set<string>>(STORES.map((s) => [s, new Set<string>()]));
  const names: { sku: string; name: string; category: string; storeId: string }[] = [];
  const completed = new Map<string, { storeId: string; data: SaleCompletedData }>();
  const voided = new Set<string>();
  for (const event of ordered) {
    const data = event.data as unknown as Record<string, unknown>;
    if (event.type === 'catalog.imported') {
      const catalog = catalogs.get(event.storeId)!;
      if (data.source === 'hq') catalog.clear();
      for (const p of data.products as ProductData[]) {
        catalog.add(p.sku);
        names.push({ sku: p.sku, name: p.name, category: p.category, storeId: event.storeId });
      }
    } else if (event.type === 'sale.completed') {
      completed.set(`${event.storeId} ${data.saleId as string}`, {
        storeId: event.storeId,
        data: data as unknown as SaleCompletedData,
      });
    } else if (event.type === 'sale.voided') voided.add(`${event.storeId} ${data.saleId as string}`);
  }
  const sales = [...completed].filter(([key]) => !voided.has(key)).map(([, sale]) => sale);

  return (from: string, to: string, storeId: string | null, days: number) => {
    const skus = new Set(storeId ? catalogs.get(storeId) : [...[...catalogs.values()].flatMap((c) => [...c])]);
    if (!storeId) for (const p of published) skus.add(p.sku);
    const rows = [...skus].map((sku) => {
      let qty = 0;
      let revenue = 0;
      let lastSold: string | null = null;
      const lastAt = new Map<string, string>();
      for (const { storeId: at, data } of sales) {
        if ((storeId && at !== storeId) || data.businessDate > to) continue;
        for (const line of data.lines.filter((l) => l.sku === sku)) {
          if (data.businessDate >= from) {
            qty += line.qty;
            revenue += line.lineTotal - line.orderDiscountShare;
          }
          if (!lastSold || data.businessDate > lastSold) lastSold = data.businessDate;
          if ((lastAt.get(at) ?? '') < data.businessDate) lastAt.set(at, data.businessDate);
        }
      }
      const carrying = STORES.filter((s) => (!storeId || s === storeId) && catalogs.get(s)!.has(sku));
      const own = names.filter((n) => n.sku === sku && n.storeId === storeId);
      const named = own.at(-1) ?? names.filter((n) => n.sku === sku).at(-1) ?? published.find((p) => p.sku === sku)!;
      const stale = (day: string | null | undefined) => !day || daysFrom(day, to) > days;
      return {
        sku,
        name: named.name,
        category: named.category,
        qty,
        revenue,
        lastSold,
        daysSinceSale: lastSold === null ? null : daysFrom(lastSold, to),
        stores: carrying.length,
        storesNotSelling: carrying.filter((s) => stale(lastAt.get(s))).length,
        stale: stale(lastSold),
      };
    });
    const slow = [...rows].sort((a, b) => a.qty - b.qty || a.revenue - b.revenue || (a.sku < b.sku ? -1 : 1));
    const unsold = rows
      .filter((r) => r.stale)
      .sort((a, b) =>
        a.lastSold === b.lastSold
          ? a.sku < b.sku
            ? -1
            : 1
          : !a.lastSold
            ? -1
            : !b.lastSold
              ? 1
              : a.lastSold < b.lastSold
                ? -1
                : 1,
      );
    const shown = ({ stale: _stale, storesNotSelling: _n, ...row }: (typeof rows)[number]) => row;
    return {
      slow: slow.map(shown),
      unsold: unsold.map(({ stale: _stale, ...row }) => row),
    };
  };
}

const events = shelfYear(seededRng(20261207));
const PUBLISHED = [...HQ_VERSION, K12];
const truth = shelfTruth(events, PUBLISHED);

/** Every event, shuffled (catalog imports among them), in batches as the workers store them. */
async function ingestShuffled(db: Database, seed: number): Promise<void> {
  const rng = seededRng(seed);
  const arriving = [...events];
  for (let i = arriving.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [arriving[i], arriving[j]] = [arriving[j]!, arriving[i]!];
  }
  for (let i = 0; i < arriving.length; i += 25) {
    await storeEvents(
      db,
      arriving.slice(i, i + 25).map((event) => {
        const verdict = readEventMessage(`ayi/v1/${CHAIN}/${event.storeId}/events`, JSON.stringify(event));
        if (!verdict.ok) throw new Error(`refused: ${verdict.reason} ${verdict.detail}`);
        return { event: verdict.event, knownType: verdict.knownType };
      }),
    );
  }
}

const backends = hqTestDatabases();

describe.each(backends)('HQ slow movers and unsold products on $name', ({ open }) => {
  let db: Database | null = null;
  beforeAll(async () => {
    db = await open();
    if (!db) return;
    await ingestShuffled(db, 7);
    await createCatalogVersion(db, CHAIN, { products: PUBLISHED, storePrices: {} }, 'olivia');
  }, 120_000);
  afterAll(async () => {
    await db?.close();
  });

  const FROM = '2026-04-01';
  const TO = '2026-04-30';

  it.each([null, 'shop-a', 'shop-b', 'shop-c'])(
    'ranks the slow movers of %s as the events count them',
    async (storeId) => {
      if (!db) return;
      const result = await slowMovers(db, { from: FROM, to: TO, ...(storeId ? { storeId } : {}), limit: 100 });
      const expected = truth(FROM, TO, storeId, 30).slow;
      expect(result.products).toEqual(expected);
      expect(result.catalogProducts).toBe(expected.length);
      expect(result.stores).toEqual([...STORES]);
      const few = await slowMovers(db, { from: FROM, to: TO, ...(storeId ? { storeId } : {}), limit: 3 });
      expect(few.products).toEqual(expected.slice(0, 3));
    },
  );

  it('counts a store’s catalog as its imports left it and the chain’s with HQ’s latest version', async () => {
    if (!db) return;
    const skus = async (storeId?: string) =>
      (await slowMovers(db!, { from: FROM, to: TO, ...(storeId ? { storeId } : {}), limit: 100 })).products
        .map((p) => p.sku)
        .sort();
    // HQ's version replaced shop-b's catalog: K08 and K09, sold there before, are no longer its.
    expect(await skus('shop-b')).toEqual(['K01', 'K02', 'K03', 'K04', 'K05', 'K06', 'K07', 'K10']);
    // shop-c's own CSV added K11 to the catalog it had.
    expect(await skus('shop-c')).toContain('K11');
    // Chain-wide: K12 is only in HQ's version, X99 in no catalog, K09 in no store's catalog any more.
    const chain = await slowMovers(db, { from: FROM, to: TO, limit: 100 });
    expect(chain.products.find((p) => p.sku === 'K12')).toMatchObject({ stores: 0, qty: 0, lastSold: null });
    expect(chain.products.map((p) => p.sku)).not.toContain('X99');
    expect(chain.products.map((p) => p.sku)).not.toContain('K09');
    expect(chain.products.find((p) => p.sku === 'K01')?.name).toBe('Item 1 (new label)');
  });

  it.each([
    [null, 30],
    ['shop-a', 30],
    ['shop-b', 7],
    ['shop-c', 1],
    [null, 60],
  ])('lists the products %s has not sold for more than %i days, with the last sale', async (storeId, days) => {
    if (!db) return;
    const result = await notSold(db, { from: FROM, to: TO, ...(storeId ? { storeId } : {}), days, limit: 100 });
    const expected = truth(FROM, TO, storeId, days).unsold;
    expect(result.products).toEqual(expected);
    expect(result.total).toBe(expected.length);
    expect(result.soldBefore).toBe(new Date(Date.parse(TO) - days * 86_400_000).toISOString().slice(0, 10));
  });

  it('sees what the figures must: never sold, sold only before the range, a voided last sale', async () => {
    if (!db) return;
    const chain = await notSold(db, { from: FROM, to: TO, limit: 100 });
    // Nobody sold K11 or K12; K07 sold at shop-a until 9 March.
    expect(chain.products.slice(0, 2).map((p) => [p.sku, p.lastSold])).toEqual([
      ['K11', null],
      ['K12', null],
    ]);
    const k07 = chain.products.find((p) => p.sku === 'K07')!;
    expect(k07.lastSold! < '2026-03-10').toBe(true);
    expect(k07).toMatchObject({ stores: 3, storesNotSelling: 3 });
    const shopC = await slowMovers(db, { from: FROM, to: TO, storeId: 'shop-c', limit: 100 });
    const k06 = shopC.products.find((p) => p.sku === 'K06')!;
    expect(k06.lastSold === null || k06.lastSold < '2026-04-29').toBe(true);
    // Sales after the range do not count: as of March's end, April's sales are not there yet.
    const march = await slowMovers(db, { from: '2026-03-01', to: '2026-03-31', limit: 100 });
    expect(march.products.every((p) => p.lastSold === null || p.lastSold <= '2026-03-31')).toBe(true);
  });

  it('refuses a count of days or a limit out of bounds, saying which', async () => {
    if (!db) return;
    await expect(notSold(db, { from: FROM, to: TO, days: 0 })).rejects.toThrow(/days/);
    await expect(notSold(db, { from: FROM, to: TO, days: 4000 })).rejects.toThrow(AnalyticsParamError);
    await expect(slowMovers(db, { from: FROM, to: TO, limit: 0 })).rejects.toThrow(/limit/);
    await expect(slowMovers(db, { from: TO, to: FROM })).rejects.toThrow(/before/);
  });
});
