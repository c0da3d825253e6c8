/**
 * HQ's chain analytics: a seeded year of three stores (members shared by phone hash, refunds, voids,
 * a merge, erasures) ingested twice over, in shuffled order, in batches and one by one; every
 * figure checked against a count made from the events themselves. On PGlite always and on the
 * PostgreSQL server at 127.0.0.1:5432 where one answers.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cohorts } from '../../hq/src/analytics/cohorts.ts';
import { customers } from '../../hq/src/analytics/customers.ts';
import { quarantined, seqConflicts, storeLinks } from '../../hq/src/analytics/link-health.ts';
import { overview } from '../../hq/src/analytics/overview.ts';
import { AnalyticsParamError } from '../../hq/src/analytics/params.ts';
import { notSold, productPairs, products, slowMovers } from '../../hq/src/analytics/products.ts';
import { MEDIAN_FIGURES, storesCompare } from '../../hq/src/analytics/stores-compare.ts';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { addUser } from '../../hq/src/auth/users.ts';
import { loadServerConfig } from '../../hq/src/config.ts';
import { analyticsRoutes } from '../../hq/src/http/analytics.routes.ts';
import { buildHqServer } from '../../hq/src/http/server.ts';
import { operationsRoutes } from '../../hq/src/http/operations.routes.ts';
import type { HqRole } from '../../hq/src/http/route-deps.ts';
import { personOfPhoneHash, rebuildAnalytics } from '../../hq/src/ingest/analytics-projections.ts';
import { readEventMessage } from '../../hq/src/ingest/event-message.ts';
import { LinkWatch } from '../../hq/src/ingest/link-watch.ts';
import { quarantine, storeEvent, storeEvents, type ValidEvent } from '../../hq/src/ingest/store-event.ts';
import { quintiles, rfmSegment } from '../../hub/src/domain/rfm.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import { DEFAULT_ACTIVE_DAYS, DEFAULT_CHURNED_DAYS } from '../../hub/src/services/analytics.service.ts';
import { seededRng } from '../../scripts/lib/baskets.ts';
import { CHAIN_ID, chainTruth, chainYear, type ChainTruth, type CountedSale } from '../support/hq-chain.ts';
import { completedSale, saleLine } from '../support/member-events.ts';
import { passwordChosen } from '../support/hq-service.ts';
import { hqTestDatabases } from '../support/postgres-server.ts';

const year = chainYear(seededRng(20261207));
const truth = chainTruth(year.events);

function validEvent(event: HubEvent): ValidEvent {
  const verdict = readEventMessage(`ayi/v1/${event.chainId}/${event.storeId}/events`, JSON.stringify(event));
  if (!verdict.ok) throw new Error(`refused: ${verdict.reason} ${verdict.detail}`);
  return { event: verdict.event, knownType: verdict.knownType };
}

/** Every event, a tenth of them twice, shuffled; stored in batches of 1 to 20 or one at a time. */
async function ingestShuffled(db: Database, events: HubEvent[], seed: number): Promise<void> {
  const rng = seededRng(seed);
  const arriving = [...events, ...events.filter(() => rng() < 0.1)];
  for (let i = arriving.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [arriving[i], arriving[j]] = [arriving[j]!, arriving[i]!];
  }
  for (let i = 0; i < arriving.length;) {
    const size = rng() < 0.3 ? 1 : 1 + Math.floor(rng() * 20);
    const batch = arriving.slice(i, i + size).map(validEvent);
    if (batch.length === 1) await storeEvent(db, batch[0]!.event, batch[0]!.knownType);
    else await storeEvents(db, batch);
    i += size;
  }
}

/** Each sale's business day, by `{storeId} {saleId}`. */
const saleDay = new Map(
  year.events
    .filter((e) => e.type === 'sale.completed')
    .map((e) => {
      const sale = e.data as { saleId: string; businessDate: string };
      return [`${e.storeId} ${sale.saleId}`, sale.businessDate] as const;
    }),
);

const inRange = (from: string, to: string) => (s: CountedSale) => s.date >= from && s.date <= to;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const share = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1000) / 1000 : 0);
const daysBetween = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000;

function expectedOverview(t: ChainTruth, from: string, to: string) {
  const sales = t.counted.filter(inRange(from, to));
  const revenue = sum(sales.map((s) => s.net));
  const memberRevenue = sum(sales.filter((s) => s.memberId !== null).map((s) => s.net));
  const active = new Set(sales.flatMap((s) => (s.person ? [s.person] : [])));
  const before = new Set(t.counted.filter((s) => s.date < from && s.person).map((s) => s.person));
  const returning = [...active].filter((p) => before.has(p)).length;
  const days: { date: string; revenue: number; sales: number }[] = [];
  for (let d = 0; d <= daysBetween(from, to); d++) {
    const date = new Date(Date.parse(from) + d * 86_400_000).toISOString().slice(0, 10);
    const ofDay = sales.filter((s) => s.date === date);
    days.push({ date, revenue: sum(ofDay.map((s) => s.net)), sales: ofDay.length });
  }
  const storeIds = [...new Set(sales.map((s) => s.storeId))].sort();
  return {
    from,
    to,
    revenue,
    sales: sales.length,
    averageBasket: sales.length ? Math.round(revenue / sales.length) : 0,
    memberRevenue,
    memberShare: share(memberRevenue, revenue),
    membersActive: active.size,
    newMembers: [...t.firstRegistered.values()].filter((d) => d >= from && d <= to).length,
    returningMembers: returning,
    returningShare: share(returning, active.size),
    days,
    stores: storeIds.map((storeId) => {
      const ofStore = sales.filter((s) => s.storeId === storeId);
      return { storeId, revenue: sum(ofStore.map((s) => s.net)), sales: ofStore.length };
    }),
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * The store comparison from the events: each store's sales, its buyers' repeat share and its
 * members' activity at the range's end by the hub member report's own thresholds.
 */
function expectedStores(t: ChainTruth, from: string, to: string) {
  const sales = t.counted.filter(inRange(from, to));
  const storeIds = [...new Set([...t.counted.map((s) => s.storeId), ...t.lastEventAt.keys()])].sort();
  const stores = storeIds.map((storeId) => {
    const ofStore = sales.filter((s) => s.storeId === storeId);
    const revenue = sum(ofStore.map((s) => s.net));
    const buyers = new Map<string, number>();
    for (const s of ofStore) if (s.person) buyers.set(s.person, (buyers.get(s.person) ?? 0) + 1);
    const activity = { active: 0, dormant: 0, churned: 0, never: 0 };
    for (const record of t.registeredRecords.filter((r) => r.storeId === storeId && r.date <= to)) {
      const days = t.counted
        .filter((s) => s.storeId === storeId && s.person === record.person && s.date <= to)
        .map((s) => daysBetween(s.date, to));
      const sinceLast = days.length > 0 ? Math.min(...days) : null;
      if (sinceLast === null) activity.never += 1;
      else if (sinceLast <= DEFAULT_ACTIVE_DAYS) activity.active += 1;
      else if (sinceLast <= DEFAULT_CHURNED_DAYS) activity.dormant += 1;
      else activity.churned += 1;
    }
    return {
      storeId,
      revenue,
      sales: ofStore.length,
      averageBasket: ofStore.length ? Math.round(revenue / ofStore.length) : 0,
      memberShare: share(sum(ofStore.filter((s) => s.memberId).map((s) => s.net)), revenue),
      repeatShare: share([...buyers.values()].filter((n) => n > 1).length, buyers.size),
      newMembers: t.registeredRecords.filter((r) => r.storeId === storeId && r.date >= from && r.date <= to).length,
      refunds: sum(ofStore.map((s) => s.refunded)),
      refundedSales: ofStore.filter((s) => s.refunded > 0).length,
      activeMembers: activity.active,
      dormantMembers: activity.dormant,
      churnedMembers: activity.churned,
      neverBoughtMembers: activity.never,
      lastEventAt: t.lastEventAt.get(storeId) ?? null,
    };
  });
  const medianOf = (figure: keyof (typeof stores)[number]) => median(stores.map((s) => s[figure] as number));
  return {
    from,
    to,
    activeDays: DEFAULT_ACTIVE_DAYS,
    churnedDays: DEFAULT_CHURNED_DAYS,
    stores,
    median: Object.fromEntries(MEDIAN_FIGURES.map((figure) => [figure, medianOf(figure)])),
  };
}

/** Per person: last day, purchases and spend in the range, and the stores they bought in. */
function personsIn(t: ChainTruth, from: string, to: string) {
  const persons = new Map<string, { last: string; purchases: number; spend: number; stores: Set<string> }>();
  for (const s of t.counted.filter(inRange(from, to))) {
    if (!s.person) continue;
    const p = persons.get(s.person) ?? { last: s.date, purchases: 0, spend: 0, stores: new Set<string>() };
    if (s.date > p.last) p.last = s.date;
    p.purchases += 1;
    p.spend += s.net;
    p.stores.add(s.storeId);
    persons.set(s.person, p);
  }
  return persons;
}

/** The name a product goes by: the newest catalog's (the store's own first, when one store is asked). */
/** Each product's units, NT$ and sales with it in the range (at one store, or the chain), from the events. */
function expectedProducts(t: ChainTruth, from: string, to: string, storeId?: string) {
  const bySku = new Map<string, { revenue: number; qty: number; baskets: number }>();
  for (const s of t.counted) {
    if ((storeId && s.storeId !== storeId) || s.date < from || s.date > to) continue;
    const skus = new Set<string>();
    for (const line of s.lines) {
      const p = bySku.get(line.sku) ?? { revenue: 0, qty: 0, baskets: 0 };
      p.revenue += line.lineTotal - line.orderDiscountShare;
      p.qty += line.qty;
      if (!skus.has(line.sku)) p.baskets += 1;
      skus.add(line.sku);
      bySku.set(line.sku, p);
    }
  }
  return [...bySku].map(([sku, p]) => ({ sku, ...nameOf(t, sku, storeId), ...p }));
}

function nameOf(t: ChainTruth, sku: string, storeId?: string) {
  const entries = [...(t.catalogNames.get(sku) ?? [])].sort((a, b) => (a.eventId < b.eventId ? 1 : -1));
  const chosen = entries.find((e) => e.storeId === storeId) ?? entries[0];
  return chosen ? { name: chosen.name, category: chosen.category } : { name: sku, category: '(uncategorised)' };
}

const backends = hqTestDatabases();

async function analyticsRows(db: Database) {
  return {
    members: await db.query('SELECT * FROM members ORDER BY store_id, member_id'),
    products: await db.query('SELECT * FROM products ORDER BY store_id, sku'),
  };
}

describe.each(backends)('HQ analytics on $name', ({ open }) => {
  let db: Database | null = null;
  beforeAll(async () => {
    db = await open();
    if (db) await ingestShuffled(db, year.events, 1);
  }, 240_000);
  afterAll(async () => {
    await db?.close();
  });

  it('holds every event once, whatever the order and the copies', async () => {
    if (!db) return;
    const [row] = await db.query<{ n: string }>('SELECT count(*) AS n FROM events');
    expect(Number(row!.n)).toBe(year.events.length);
  });

  it.each([
    ['the whole year', '2026-01-01', '2026-12-31'],
    ['spring to autumn', '2026-03-15', '2026-09-30'],
    ['one week', '2026-07-06', '2026-07-12'],
  ])('gives the chain overview for %s as the events count it', async (_label, from, to) => {
    if (!db) return;
    expect(await overview(db, { from, to })).toEqual(expectedOverview(truth, from, to));
  });

  it('compares the stores as the events count them', async () => {
    if (!db) return;
    const result = await storesCompare(db, { from: '2026-02-01', to: '2026-10-31' });
    expect(result.stores.map((s) => s.storeId)).toEqual(['store-a', 'store-b', 'store-c']);
    expect(result).toEqual(expectedStores(truth, '2026-02-01', '2026-10-31'));
    // Every class of member activity occurs, so each is checked.
    for (const figure of ['activeMembers', 'dormantMembers', 'churnedMembers', 'neverBoughtMembers'] as const) {
      expect(sum(result.stores.map((s) => s[figure]))).toBeGreaterThan(0);
    }
  });

  it('scores RFM over persons across stores and counts the cross-store shoppers', async () => {
    if (!db) return;
    const from = '2026-01-01';
    const to = '2026-11-30';
    const result = await customers(db, { from, to });
    const persons = [...personsIn(truth, from, to).values()];
    const sales = truth.counted.filter(inRange(from, to));
    const revenue = sum(sales.map((s) => s.net));
    const r = quintiles(Float64Array.from(persons.map((p) => -daysBetween(p.last, to))));
    const f = quintiles(Float64Array.from(persons.map((p) => p.purchases)));
    const m = quintiles(Float64Array.from(persons.map((p) => p.spend)));
    const segments = new Map<string, { persons: number; revenue: number }>();
    persons.forEach((p, i) => {
      const segment = rfmSegment({ r: r.scores[i]!, f: f.scores[i]!, m: m.scores[i]! }, p.purchases);
      const entry = segments.get(segment) ?? { persons: 0, revenue: 0 };
      entry.persons += 1;
      entry.revenue += p.spend;
      segments.set(segment, entry);
    });
    const cross = persons.filter((p) => p.stores.size >= 2);
    const spends = persons.map((p) => p.spend).sort((a, b) => b - a);
    expect(cross.length).toBeGreaterThan(3); // the chain has shoppers in several stores to find
    expect(result.persons).toBe(persons.length);
    expect(result.revenue).toBe(revenue);
    expect(result.memberRevenue).toBe(sum(sales.filter((s) => s.memberId).map((s) => s.net)));
    expect(result.walkInRevenue).toBe(sum(sales.filter((s) => !s.memberId).map((s) => s.net)));
    for (const segment of result.segments) {
      const expected = segments.get(segment.segment) ?? { persons: 0, revenue: 0 };
      expect(segment, segment.segment).toEqual({
        segment: segment.segment,
        ...expected,
        share: share(expected.persons, persons.length),
      });
    }
    expect(result.crossStore).toEqual({
      persons: cross.length,
      revenue: sum(cross.map((p) => p.spend)),
      revenueShare: share(sum(cross.map((p) => p.spend)), revenue),
    });
    expect(result.top20Share).toBe(share(sum(spends.slice(0, Math.ceil(spends.length * 0.2))), sum(spends)));
  });

  it('follows monthly cohorts of persons from their first purchase', async () => {
    if (!db) return;
    const to = '2026-11-30';
    const result = await cohorts(db, { months: 6, to });
    const firstMonth = new Map<string, string>();
    const activeMonths = new Map<string, Set<string>>();
    for (const s of truth.counted) {
      if (!s.person || s.date > to) continue;
      const month = s.date.slice(0, 7);
      if (!firstMonth.has(s.person) || firstMonth.get(s.person)! > month) firstMonth.set(s.person, month);
      const months = activeMonths.get(s.person) ?? new Set<string>();
      months.add(month);
      activeMonths.set(s.person, months);
    }
    const monthsList = ['2026-06', '2026-07', '2026-08', '2026-09', '2026-10', '2026-11'];
    expect(result.cohorts.map((c) => c.month)).toEqual(monthsList);
    monthsList.forEach((month, i) => {
      const members = [...firstMonth].filter(([, first]) => first === month).map(([person]) => person);
      const retained = monthsList
        .slice(i)
        .map((later) => members.filter((p) => activeMonths.get(p)!.has(later)).length);
      expect(result.cohorts[i]).toEqual({
        month,
        persons: members.length,
        retained,
        retention: retained.map((n) => share(n, members.length)),
      });
    });
  });

  it.each([undefined, 'store-a', 'store-c'])('ranks products with their names (store %s)', async (storeId) => {
    if (!db) return;
    const from = '2026-01-01';
    const to = '2026-12-31';
    const result = await products(db, { from, to, ...(storeId ? { storeId } : {}), limit: 50 });
    const expected = expectedProducts(truth, from, to, storeId);
    expect(new Set(result.byRevenue)).toEqual(new Set(expected));
    expect(result.byRevenue.map((p) => p.revenue)).toEqual(expected.map((p) => p.revenue).sort((a, b) => b - a));
    expect(result.byQty.map((p) => p.qty)).toEqual(expected.map((p) => p.qty).sort((a, b) => b - a));
    const categories = new Map<string, number>();
    for (const p of expected) categories.set(p.category, (categories.get(p.category) ?? 0) + p.revenue);
    expect(Object.fromEntries(result.categories.map((c) => [c.category, c.revenue]))).toEqual(
      Object.fromEntries(categories),
    );
    if (!storeId || storeId === 'store-c') {
      expect(result.byRevenue.find((p) => p.sku === 'P01')?.name).toBe('Product 1 (new label)');
    } else expect(result.byRevenue.find((p) => p.sku === 'P01')?.name).toBe('Product 1');
  });

  it('finds the products bought together, with their lift', async () => {
    if (!db) return;
    const from = '2026-01-01';
    const to = '2026-12-31';
    const result = await productPairs(db, { from, to, limit: 200, minBaskets: 1 });
    const baskets = truth.counted.map((s) => [...new Set(s.lines.map((l) => l.sku))].sort());
    const single = new Map<string, number>();
    const pairs = new Map<string, number>();
    for (const skus of baskets) {
      for (const a of skus) single.set(a, (single.get(a) ?? 0) + 1);
      for (let i = 0; i < skus.length; i++)
        for (let j = i + 1; j < skus.length; j++)
          pairs.set(`${skus[i]} ${skus[j]}`, (pairs.get(`${skus[i]} ${skus[j]}`) ?? 0) + 1);
    }
    expect(result.baskets).toBe(baskets.length);
    expect(result.pairs.length).toBe(Math.min(200, pairs.size));
    for (const pair of result.pairs) {
      const n = pairs.get(`${pair.a.sku} ${pair.b.sku}`)!;
      expect(pair.baskets).toBe(n);
      expect(pair.lift).toBeCloseTo((n * baskets.length) / (single.get(pair.a.sku)! * single.get(pair.b.sku)!), 2);
      expect(pair.a.name).toBe(nameOf(truth, pair.a.sku).name);
    }
  });

  it("keeps each member's newest tier and consent, whatever order their events came in", async () => {
    if (!db) return;
    const rows = await db.query<{
      store_id: string;
      member_id: string;
      tier: string | null;
      consent_sms: boolean | null;
      consent_line: boolean | null;
      consent_email: boolean | null;
    }>('SELECT store_id, member_id, tier, consent_sms, consent_line, consent_email FROM members WHERE NOT erased');
    const held = new Map(
      rows.map((r) => [
        `${r.store_id}/${r.member_id}`,
        {
          tier: r.tier,
          consent: Object.fromEntries(
            (['sms', 'line', 'email'] as const).flatMap((c) =>
              r[`consent_${c}`] === null ? [] : [[c, r[`consent_${c}`]]],
            ),
          ),
        },
      ]),
    );
    expect(held).toEqual(truth.standing);
  });

  it('keeps no trace of erased members in the analytics tables; their sales still add up', async () => {
    if (!db) return;
    const dump = JSON.stringify(await analyticsRows(db)) + JSON.stringify(await db.query('SELECT * FROM persons'));
    for (const id of year.erasedIds) expect(dump).not.toContain(id);
    for (const hash of year.erasedOnlyHashes) {
      expect(dump).not.toContain(hash);
      expect(dump).not.toContain(personOfPhoneHash(hash));
    }
    const tombstones = await db.query<Record<string, unknown>>('SELECT * FROM members WHERE erased');
    expect(tombstones.length).toBeGreaterThan(0);
    for (const row of tombstones) {
      expect(row).toMatchObject({ phone_hash: null, tier: null, consent_sms: null, registered_at: null });
      expect(row.person_id).toBe(row.member_id);
    }
    // The erased members' sales are still in the revenue, under nobody.
    const erasedSales = truth.counted.filter((s) => s.memberId && year.erasedIds.includes(s.memberId));
    expect(erasedSales.length).toBeGreaterThan(0);
    const whole = await overview(db, { from: '2026-01-01', to: '2026-12-31' });
    expect(whole.revenue).toBe(sum(truth.counted.map((s) => s.net)));
  });

  it('rebuilds the analytics tables from the events: the same rows as live projection', async () => {
    if (!db) return;
    const live = await analyticsRows(db);
    await rebuildAnalytics(db);
    expect(await analyticsRows(db)).toEqual(live);
  });

  it('projects the events an HQ upgraded in place held before the analytics existed', async () => {
    if (!db) return;
    const live = await analyticsRows(db);
    const figures = await overview(db, { from: '2026-01-01', to: '2026-12-31' });
    // The database as it was before 005: no analytics tables, the events and sales already there.
    await db.exec(`DROP VIEW counted_sales; DROP VIEW persons; DROP TABLE members; DROP TABLE products;
                   DROP INDEX sales_by_member; DELETE FROM schema_migrations WHERE version = 5;`);
    expect(await migrate(db)).toEqual(['005_analytics.sql']);
    expect(await analyticsRows(db)).toEqual(live);
    expect(await overview(db, { from: '2026-01-01', to: '2026-12-31' })).toEqual(figures);
  });

  it('refuses a range backwards, too long, or not a date, saying why', async () => {
    if (!db) return;
    await expect(overview(db, { from: '2026-05-01', to: '2026-04-01' })).rejects.toThrow(/before/);
    await expect(overview(db, { from: '2025-01-01', to: '2026-04-01' })).rejects.toThrow(/at most 400/);
    await expect(customers(db, { from: '2026-02-30', to: '2026-04-01' })).rejects.toThrow(AnalyticsParamError);
  });
});

describe.each(backends)('HQ rollups on $name', ({ open }) => {
  // The events held back to arrive last: refunds, voids and sales of the year's first months (late, for
  // days the rollups already hold), then the erasures.
  const late = year.events.filter(
    (e, i) =>
      (e.type === 'sale.refunded' || e.type === 'sale.voided' || (e.type === 'sale.completed' && i % 7 === 0)) &&
      saleDay.get(`${e.storeId} ${(e.data as { saleId: string }).saleId}`)! < '2026-04-01',
  );
  const erasures: HubEvent[] = year.events.filter((e) => e.type === 'member.erased');
  const first = year.events.filter((e) => !late.includes(e) && !erasures.includes(e));
  const ranges = [
    ['2026-01-01', '2026-12-31'],
    ['2026-02-10', '2026-05-20'],
    ['2026-03-03', '2026-03-09'],
  ] as const;

  async function expectFiguresOf(db: Database, published: HubEvent[]) {
    const t = chainTruth(published);
    for (const [from, to] of ranges) {
      expect(await overview(db, { from, to })).toEqual(expectedOverview(t, from, to));
      expect(await storesCompare(db, { from, to })).toEqual(expectedStores(t, from, to));
      for (const storeId of [undefined, 'store-b']) {
        const sold = await products(db, { from, to, ...(storeId ? { storeId } : {}), limit: 200 });
        expect(new Set(sold.byRevenue)).toEqual(new Set(expectedProducts(t, from, to, storeId)));
      }
    }
  }

  it('keeps the day totals exact when a refund or a sale arrives late for an old day, and after an erasure', async () => {
    const db = await open();
    if (!db) return;
    try {
      await migrate(db);
      await ingestShuffled(db, first, 2);
      await expectFiguresOf(db, first);
      expect(late.filter((e) => e.type === 'sale.refunded').length).toBeGreaterThan(0);
      expect(late.filter((e) => e.type === 'sale.completed').length).toBeGreaterThan(0);
      expect(late.filter((e) => e.type === 'sale.voided').length).toBeGreaterThan(0);
      await ingestShuffled(db, late, 3);
      await expectFiguresOf(db, [...first, ...late]);
      expect(erasures.length).toBeGreaterThan(0);
      await ingestShuffled(db, erasures, 4);
      await expectFiguresOf(db, year.events);
      const rollups = JSON.stringify([
        await db.query('SELECT * FROM member_days'),
        await db.query('SELECT * FROM member_months'),
      ]);
      for (const id of year.erasedIds) expect(rollups).not.toContain(id);
    } finally {
      await db.close();
    }
  }, 240_000);

  it('works out the rollups of the sales an HQ upgraded in place already holds', async () => {
    const db = await open();
    if (!db) return;
    try {
      await migrate(db);
      await ingestShuffled(db, year.events, 5);
      const whole = { from: '2026-01-01', to: '2026-12-31' };
      const figuresNow = async () => [
        await overview(db, whole),
        await storesCompare(db, whole),
        await products(db, { ...whole, limit: 200 }),
        await notSold(db, { ...whole, days: 14, limit: 200 }),
      ];
      const figures = await figuresNow();
      // The database as it was before 010: the sales there, no rollups.
      await db.exec(`DROP TABLE store_days; DROP TABLE member_days; DROP TABLE member_months; DROP TABLE product_days;
                     DROP TABLE rollup_dirty_days; DELETE FROM schema_migrations WHERE version IN (10, 11);`);
      expect(await migrate(db)).toEqual(['010_rollups.sql', '011_product_days.sql']);
      const [dirty] = await db.query<{ n: string }>('SELECT count(*) AS n FROM rollup_dirty_days');
      expect(Number(dirty!.n)).toBe(0);
      expect(await figuresNow()).toEqual(figures);
    } finally {
      await db.close();
    }
  }, 240_000);
});

describe.each(backends)('HQ link health on $name', ({ open }) => {
  let db: Database | null = null;
  beforeAll(async () => {
    db = await open();
    if (db) await migrate(db);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it("shows each store's stream, its open hole, conflicts and refused messages", async () => {
    if (!db) return;
    const epoch = randomUUID();
    const event = (storeId: string, seq: number, at: string): HubEvent =>
      ({
        schema: 'ayi.event/1',
        eventId: uuidv7(),
        chainId: CHAIN_ID,
        storeId,
        epoch,
        seq,
        type: 'sale.completed',
        at,
        data: completedSale({
          saleId: `s-${storeId}-${seq}`,
          businessDate: '2026-12-01',
          memberId: null,
          lines: [saleLine(1, 'P01', 50)],
        }),
      }) as HubEvent;
    for (const seq of [1, 2, 4, 5])
      await storeEvents(db, [validEvent(event('store-gap', seq, `2026-12-01T02:0${seq}:00.000Z`))]);
    await storeEvents(db, [validEvent(event('store-ok', 1, '2026-12-01T03:00:00.000Z'))]);
    await storeEvents(db, [validEvent(event('store-ok', 1, '2026-12-01T03:01:00.000Z'))]); // same seq, another event
    for (let i = 0; i < 3; i++) {
      await quarantine(
        db,
        'ayi/v1/test-chain/store-gap/events',
        'store-gap',
        'not_json',
        'bad',
        `{oops ${i} ${'x'.repeat(400)}`,
      );
    }
    const { stores } = await storeLinks(db);
    expect(stores).toEqual([
      expect.objectContaining({
        storeId: 'store-gap',
        contiguousSeq: 2,
        maxSeq: 5,
        missing: 3,
        events: 4,
        conflicts: 0,
        quarantined24h: 3,
        lastEventAt: '2026-12-01T02:05:00.000Z',
        gapSince: expect.any(String),
      }),
      expect.objectContaining({
        storeId: 'store-ok',
        contiguousSeq: 1,
        maxSeq: 1,
        missing: 0,
        gapSince: null,
        conflicts: 1,
        quarantined24h: 0,
      }),
    ]);
    const page = await quarantined(db, { page: 1, pageSize: 2 });
    expect(page.total).toBe(3);
    expect(page.items.map((q) => q.payload.slice(0, 7))).toEqual(['{oops 2', '{oops 1']);
    expect(page.items[0]!.payload.length).toBe(300);
    expect(page.items[0]!.payloadLength).toBeGreaterThan(400);
    expect((await quarantined(db, { page: 2, pageSize: 2 })).items.map((q) => q.payload.slice(0, 7))).toEqual([
      '{oops 0',
    ]);
    const conflicts = await seqConflicts(db, {});
    expect(conflicts.items).toEqual([
      expect.objectContaining({
        storeId: 'store-ok',
        seq: 1,
        counted: expect.objectContaining({ at: '2026-12-01T03:00:00.000Z' }),
      }),
    ]);
  });

  const quietLog = pino({ level: 'silent' });
  const linkStatus = (storeId: string, fields: Record<string, unknown>) => ({
    chainId: CHAIN_ID,
    storeId,
    epoch: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
    lastSeq: 10,
    deliveredSeq: 10,
    version: '1.0.0',
    ...fields,
  });

  it("keeps a store's newest status whatever order the copies arrive in", async () => {
    if (!db) return;
    const watch = new LinkWatch(db, () => Promise.resolve(), quietLog);
    const store = 'store-order';
    const first = '2026-12-07T10:00:00.000Z';
    const second = '2026-12-07T11:00:00.000Z';
    const online = linkStatus(store, {
      state: 'online',
      connectedAt: first,
      at: '2026-12-07T10:00:01.000Z',
      problems: [],
    });
    const later = { ...online, at: '2026-12-07T10:30:00.000Z', problems: ['storage_low'] };
    // The broker's will of the first connection: its `at` is when that connection opened.
    const will = linkStatus(store, { state: 'offline', reason: 'connection-lost', connectedAt: first, at: first });
    const again = { ...online, connectedAt: second, at: '2026-12-07T11:00:01.000Z', version: '1.1.0' };
    const held = async () =>
      (
        await db!.query<{ online: boolean; version: string; health: string | null; problems: string[] | null }>(
          'SELECT online, version, health, problems FROM store_status WHERE store_id = $1',
          [store],
        )
      )[0];
    await watch.noteStatus(CHAIN_ID, store, later);
    await watch.noteStatus(CHAIN_ID, store, online); // older: ignored
    expect(await held()).toEqual({ online: true, version: '1.0.0', health: 'degraded', problems: ['storage_low'] });
    await watch.noteStatus(CHAIN_ID, store, will); // ends its connection although its `at` is older
    expect(await held()).toEqual({ online: false, version: '1.0.0', health: null, problems: null });
    await watch.noteStatus(CHAIN_ID, store, later); // a stale copy, as another worker may see it late
    expect((await held())!.online).toBe(false);
    await watch.noteStatus(CHAIN_ID, store, again);
    await watch.noteStatus(CHAIN_ID, store, will);
    expect(await held()).toEqual({ online: true, version: '1.1.0', health: 'ok', problems: [] });
    // Not the contract's, or naming another store than its topic: ignored.
    const newer = '2027-01-01T00:00:00.000Z';
    await watch.noteStatus(CHAIN_ID, store, { ...again, connectedAt: newer, lastSeq: -1 });
    await watch.noteStatus(CHAIN_ID, store, { ...will, connectedAt: newer, storeId: 'store-other' });
    expect((await held())!.online).toBe(true);
    // A store that sent a status but no event yet is listed, with the status's figures.
    const listed = (await storeLinks(db)).stores.find((s) => s.storeId === store);
    expect(listed).toMatchObject({ online: true, events: 0, epoch: null, version: '1.1.0', backlog: 0, lastSeq: 10 });
  });

  it('pings a quiet online store once across workers, with backoff, and keeps the answer', async () => {
    if (!db) return;
    const published: { topic: string; requestId: string; expirySeconds: number | undefined }[] = [];
    const publish = (topic: string, payload: string, options?: { expirySeconds?: number }) => {
      published.push({
        topic,
        requestId: (JSON.parse(payload) as { requestId: string }).requestId,
        expirySeconds: options?.expirySeconds,
      });
      return Promise.resolve();
    };
    // The store-order of the test before is online and quiet too: only these two stores are looked at.
    const pingsOf = (storeId: string) => published.filter((p) => p.topic.includes(`/${storeId}/`));
    // Two workers' watches on one database.
    const workers = [1, 2].map(() => new LinkWatch(db!, publish, quietLog, { pingAfterMs: 1500 }));
    const now = new Date().toISOString();
    await workers[0]!.noteStatus(
      CHAIN_ID,
      'store-quiet',
      linkStatus('store-quiet', { state: 'online', at: now, connectedAt: now }),
    );
    await workers[0]!.noteStatus(
      CHAIN_ID,
      'store-away',
      linkStatus('store-away', { state: 'offline', at: now, connectedAt: now }),
    );
    await Promise.all(workers.map((w) => w.pingQuiet()));
    expect(pingsOf('store-quiet')).toEqual([]); // heard from just now
    await new Promise((resolve) => setTimeout(resolve, 1700));
    await Promise.all(workers.map((w) => w.pingQuiet()));
    await Promise.all(workers.map((w) => w.pingQuiet()));
    // One ping, to the online store only (an offline store's would wait for nobody), expiring unanswered.
    expect(pingsOf('store-away')).toEqual([]);
    expect(pingsOf('store-quiet')).toEqual([
      {
        topic: `ayi/v1/${CHAIN_ID}/store-quiet/cmd/ping`,
        requestId: expect.stringMatching(/^ping-/),
        expirySeconds: 2,
      },
    ]);
    // Unanswered: asked again after the interval (1.5 s), then only after twice as long.
    await new Promise((resolve) => setTimeout(resolve, 1700));
    await Promise.all(workers.map((w) => w.pingQuiet()));
    expect(pingsOf('store-quiet').length).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 1700));
    await workers[1]!.pingQuiet();
    expect(pingsOf('store-quiet').length).toBe(2);
    const answer = {
      command: 'ping',
      requestId: pingsOf('store-quiet')[1]!.requestId,
      chainId: CHAIN_ID,
      storeId: 'store-quiet',
      epoch: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      at: new Date().toISOString(),
      ok: true,
      pong: true,
      lastSeq: 14,
      deliveredSeq: 11,
      backlog: 3,
      version: '1.0.1',
    };
    await workers[1]!.notePingAnswer(CHAIN_ID, 'store-quiet', answer);
    // An older answer (another tool's, late) does not replace it.
    await workers[0]!.notePingAnswer(CHAIN_ID, 'store-quiet', {
      ...answer,
      at: '2026-01-01T00:00:00.000Z',
      lastSeq: 1,
    });
    const link = (await storeLinks(db)).stores.find((s) => s.storeId === 'store-quiet')!;
    expect(link).toMatchObject({ lastSeq: 14, deliveredSeq: 11, backlog: 3, version: '1.0.1', figuresAt: answer.at });
    expect(link.lastPingAt).not.toBeNull();
    expect(link.pingAnsweredAt! >= link.lastPingAt!).toBe(true);
    expect(link.lastHeardAt).toBe(link.pingAnsweredAt);
    // Answered just now: not quiet, so no ping.
    await workers[0]!.pingQuiet();
    expect(pingsOf('store-quiet').length).toBe(2);
    // Silent is HQ's verdict against its limit: the store that answered just now is not; the
    // offline one, last heard over 5 s ago, is with a limit of 1 s and is not with the default.
    expect(link.silent).toBe(false);
    const strict = (await storeLinks(db, { silentAfterSeconds: 1 })).stores;
    expect(strict.find((s) => s.storeId === 'store-quiet')!.silent).toBe(false);
    expect(strict.find((s) => s.storeId === 'store-away')!.silent).toBe(true);
    expect((await storeLinks(db)).stores.find((s) => s.storeId === 'store-away')!.silent).toBe(false);
  });
});

describe('HQ analytics routes over HTTP', () => {
  let db: Database;
  let app: FastifyInstance;
  let base: string;
  /** A signed-in session cookie per role, as the dashboard holds one. */
  const cookies = new Map<HqRole, string>();
  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://' });
    await migrate(db);
    await ingestShuffled(db, year.events.slice(0, 200), 2);
    // The real server: its session guard, its schema validation (query strings coerced) and its errors.
    app = await buildHqServer({
      db,
      config: loadServerConfig({ AYI_HQ_HOST: '127.0.0.1', AYI_HQ_PORT: '0' }),
      log: pino({ level: 'silent' }),
      routes: [analyticsRoutes, operationsRoutes],
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    for (const role of ['analyst', 'operations', 'admin'] as const) {
      const { password } = await addUser(db, `user-${role}`, role);
      await passwordChosen(db, `user-${role}`);
      const signIn = await fetch(`${base}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: base },
        body: JSON.stringify({ username: `user-${role}`, password }),
      });
      expect(signIn.status).toBe(200);
      cookies.set(role, signIn.headers.get('set-cookie')!.split(';')[0]!);
    }
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });
  const get = async (path: string, role: HqRole | null = 'analyst') => {
    const response = await fetch(`${base}/api${path}`, { headers: role ? { cookie: cookies.get(role)! } : {} });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('answers each report as the query gives it', async () => {
    const q = 'from=2026-01-01&to=2026-06-30';
    expect(await get(`/overview?${q}`)).toEqual({
      status: 200,
      body: await overview(db, { from: '2026-01-01', to: '2026-06-30' }),
    });
    expect((await get(`/stores/compare?${q}`)).body).toEqual(
      await storesCompare(db, { from: '2026-01-01', to: '2026-06-30' }),
    );
    expect((await get(`/customers?${q}`)).body).toEqual(await customers(db, { from: '2026-01-01', to: '2026-06-30' }));
    expect((await get('/customers/cohorts?months=3&to=2026-06-30')).body).toEqual(
      await cohorts(db, { months: 3, to: '2026-06-30' }),
    );
    expect((await get(`/products?${q}&storeId=store-a&limit=5`)).body).toEqual(
      await products(db, { from: '2026-01-01', to: '2026-06-30', storeId: 'store-a', limit: 5 }),
    );
    expect((await get(`/products/pairs?${q}`)).status).toBe(200);
    expect((await get(`/products/slow?${q}&storeId=store-b&limit=4`)).body).toEqual(
      await slowMovers(db, { from: '2026-01-01', to: '2026-06-30', storeId: 'store-b', limit: 4 }),
    );
    expect((await get(`/products/not-sold?${q}&days=14`)).body).toEqual(
      await notSold(db, { from: '2026-01-01', to: '2026-06-30', days: 14 }),
    );
    expect((await get('/stores', 'operations')).status).toBe(200);
    expect((await get('/quarantine?page=1&pageSize=10', 'admin')).status).toBe(200);
    expect((await get(`/products/pairs?${q}&minBaskets=1&limit=3`)).status).toBe(200);
    expect((await get('/conflicts', 'operations')).status).toBe(200);
  });

  it.each([
    ['/overview?from=2026-05-01&to=2026-04-01', /to \(2026-04-01\) is before from/],
    ['/stores/compare?from=2025-01-01&to=2026-04-01', /456 days; at most 400/],
    ['/customers?from=2026-13-01&to=2026-12-31', /from: 2026-13-01 is not a date/],
    ['/overview?from=yesterday&to=2026-12-31', /from/],
    ['/overview?to=2026-12-31', /from/],
    ['/customers/cohorts?months=0', /months/],
    ['/products?from=2026-01-01&to=2026-01-31&storeId=Store%20A', /storeId/],
    ['/quarantine?pageSize=5000', /pageSize/],
    ['/products/not-sold?from=2026-01-01&to=2026-01-31&days=0', /days/],
    ['/products/not-sold?from=2026-01-01&to=2026-01-31&days=a%20month', /days/],
    ['/products/slow?from=2026-01-01&to=2026-01-31&limit=5000', /limit/],
  ])('answers %s with 400 and what is wrong', async (path, message) => {
    const { status, body } = await get(path, 'admin');
    expect(status).toBe(400);
    expect(body.message).toMatch(message);
    expect(body.error).toBe('bad_request');
  });

  it('lets each role see only its reports', async () => {
    expect((await get('/overview?from=2026-01-01&to=2026-01-31', null)).status).toBe(401);
    expect((await get('/stores', 'analyst')).status).toBe(403);
    expect((await get('/quarantine', 'analyst')).status).toBe(403);
    expect((await get('/overview?from=2026-01-01&to=2026-01-31', 'operations')).status).toBe(200);
  });
});
