/**
 * Reports (A2-A5) fed through StoreState.apply: day totals and per-SKU figures with a void and a
 * partial refund, every member metric, the product report's lists and its category filter, sign-ups
 * counted on their Asia/Taipei day, and a snapshot round trip.
 *
 * The store, in Asia/Taipei (UTC+8). Catalog: P1 飼料 (寵物, 500), P2 罐頭 (寵物, 50), G1 零嘴 (寵物, 80),
 * F1 餅乾 (零食, 30), F2 糖果 (零食, 20), F3 果乾 (零食, 30). OLD 舊貨 (零食) sold but is not in the catalog.
 *
 * Before the range:  S0a 03-01 m3 P1x1 500 · S0b 05-20 m6 F3x1 30 · S0c 06-20 walk-in G1x1 80, all refunded
 * 07-01: S1 m1  P1x2 1000 + F1x1 30, member discount 103 (shares 100 / 3)  = 927
 *        S2 --  F1x3 90 + OLDx1 40                                        = 130
 *        S3 m2  P2x4 200                                                  = 200
 * 07-02: S4 m4  P1x1 500                                                  = 500
 *        S5 m8  P2x2 100 (m8 is later merged into m1)                     = 100
 *        S6 --  P1x1 500, voided
 *        S7 m1  P2x2 100 + F1x2 60; on 07-03 one P2 comes back (50)       = 160 - 50 = 110
 * 07-03: S8 m5  F1x1 30 (m5 is then erased)                               = 30
 *        S9 --  P2x1 50, line discount 10                                 = 40
 *
 * Day totals: 07-01 3 sales 1257 (members 2, 1127); 07-02 3 sales 710 (members 3, 710);
 * 07-03 2 sales 70 (members 1, 30). The range: 8 sales 2037, members 6 sales 1867.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { StoreState } from '../../../hub/src/domain/store-state.ts';
import { ReportBook, localDayStart, memberMetrics, productReport } from '../../../hub/src/domain/reports.ts';
import type { ProductData, SaleLineData } from '../../../hub/src/protocol/events.ts';
import type { Gender } from '../../../hub/src/protocol/members.ts';
import {
  at10,
  completedSale,
  EventSequence,
  memberProfile,
  registration,
  unseal,
  sealFor,
} from '../../support/member-events.ts';

const TZ = 'Asia/Taipei';
const RANGE = { from: '2026-07-01', to: '2026-07-03' };
const ACTIVITY = { activeDays: 30, churnedDays: 90, timeZone: TZ };

const events = new EventSequence();
const { ev } = events;

const product = (sku: string, name: string, category: string, price: number): ProductData => ({
  sku,
  barcodes: [],
  name,
  category,
  price,
  repurchaseDays: null,
});
const CATALOG = [
  product('P1', '飼料', '寵物', 500),
  product('P2', '罐頭', '寵物', 50),
  product('G1', '零嘴', '寵物', 80),
  product('F1', '餅乾', '零食', 30),
  product('F2', '糖果', '零食', 20),
  product('F3', '果乾', '零食', 30),
];
const NAMES: Record<string, [string, string]> = {
  ...Object.fromEntries(CATALOG.map((p) => [p.sku, [p.name, p.category]])),
  OLD: ['舊貨', '零食'],
};

function register(state: StoreState, memberId: string, at: string, birthday: string | null, gender: Gender | null) {
  state.apply(ev('member.registered', registration(memberId, memberProfile(memberId, { birthday, gender })), at));
}

interface LineSpec {
  sku: string;
  qty: number;
  unitPrice: number;
  lineDiscount?: number;
  share?: number;
}

function sell(state: StoreState, saleId: string, date: string, memberId: string | null, specs: LineSpec[]) {
  const lines: SaleLineData[] = specs.map((s, i) => ({
    lineNo: i + 1,
    sku: s.sku,
    name: NAMES[s.sku]![0],
    category: NAMES[s.sku]![1],
    qty: s.qty,
    unitPrice: s.unitPrice,
    lineDiscount: s.lineDiscount ?? 0,
    lineTotal: s.qty * s.unitPrice - (s.lineDiscount ?? 0),
    orderDiscountShare: s.share ?? 0,
  }));
  const memberDiscount = lines.reduce((sum, l) => sum + l.orderDiscountShare, 0);
  const data = completedSale({ saleId, businessDate: date, memberId, lines, memberDiscount });
  state.apply(ev('sale.completed', data, at10(date)));
}

const reversal = (state: StoreState, saleId: string, date: string) => {
  const memberId = state.sales.get(saleId)!.memberId;
  return memberId ? { memberId, pointsReversed: 0, pointsReturned: 0, businessDate: date } : null;
};

function refund(
  state: StoreState,
  saleId: string,
  date: string,
  lines: { lineNo: number; qty: number; amount: number }[],
) {
  const amount = lines.reduce((sum, l) => sum + l.amount, 0);
  state.apply(
    ev(
      'sale.refunded',
      {
        saleId,
        refundId: `r-${saleId}`,
        idempotencyKey: `rk-${saleId}`,
        lines,
        amount,
        reason: 'returned',
        staffId: 'staff-1',
        deviceId: 'dev-1',
        loyalty: reversal(state, saleId, date),
      },
      at10(date),
    ),
  );
}

function voidSale(state: StoreState, saleId: string, date: string) {
  state.apply(
    ev(
      'sale.voided',
      { saleId, reason: 'mistake', staffId: 'staff-1', deviceId: 'dev-1', loyalty: reversal(state, saleId, date) },
      at10(date),
    ),
  );
}

function buildStore(): StoreState {
  const state = new StoreState(400, unseal);
  state.apply(ev('catalog.imported', { source: 'csv', products: CATALOG }, at10('2026-01-01')));
  register(state, 'm1', at10('2026-01-05'), '1990-05-05', 'female');
  register(state, 'm3', at10('2026-02-01'), null, null);
  register(state, 'm6', at10('2026-05-01'), null, 'male');
  register(state, 'm7', '2026-06-30T15:59:59.000Z', null, null); // 23:59:59 on 06-30 in Taipei
  register(state, 'm2', '2026-06-30T16:30:00Z', '2000-08-01', 'male'); // 00:30 on 07-01 in Taipei
  register(state, 'm4', at10('2026-07-02'), null, null);
  register(state, 'm8', at10('2026-07-02'), '1990-01-01', 'other');
  register(state, 'm5', at10('2026-07-03'), '1985-01-01', 'female');
  register(state, 'm9', '2026-07-03T16:00:00.000Z', null, null); // midnight starting 07-04 in Taipei

  sell(state, 'S0a', '2026-03-01', 'm3', [{ sku: 'P1', qty: 1, unitPrice: 500 }]);
  sell(state, 'S0b', '2026-05-20', 'm6', [{ sku: 'F3', qty: 1, unitPrice: 30 }]);
  sell(state, 'S0c', '2026-06-20', null, [{ sku: 'G1', qty: 1, unitPrice: 80 }]);
  refund(state, 'S0c', '2026-06-21', [{ lineNo: 1, qty: 1, amount: 80 }]);

  sell(state, 'S1', '2026-07-01', 'm1', [
    { sku: 'P1', qty: 2, unitPrice: 500, share: 100 },
    { sku: 'F1', qty: 1, unitPrice: 30, share: 3 },
  ]);
  sell(state, 'S2', '2026-07-01', null, [
    { sku: 'F1', qty: 3, unitPrice: 30 },
    { sku: 'OLD', qty: 1, unitPrice: 40 },
  ]);
  sell(state, 'S3', '2026-07-01', 'm2', [{ sku: 'P2', qty: 4, unitPrice: 50 }]);

  sell(state, 'S4', '2026-07-02', 'm4', [{ sku: 'P1', qty: 1, unitPrice: 500 }]);
  sell(state, 'S5', '2026-07-02', 'm8', [{ sku: 'P2', qty: 2, unitPrice: 50 }]);
  sell(state, 'S6', '2026-07-02', null, [{ sku: 'P1', qty: 1, unitPrice: 500 }]);
  voidSale(state, 'S6', '2026-07-02');
  sell(state, 'S7', '2026-07-02', 'm1', [
    { sku: 'P2', qty: 2, unitPrice: 50 },
    { sku: 'F1', qty: 2, unitPrice: 30 },
  ]);

  sell(state, 'S8', '2026-07-03', 'm5', [{ sku: 'F1', qty: 1, unitPrice: 30 }]);
  sell(state, 'S9', '2026-07-03', null, [{ sku: 'P2', qty: 1, unitPrice: 50, lineDiscount: 10 }]);
  refund(state, 'S7', '2026-07-03', [{ lineNo: 1, qty: 1, amount: 50 }]);
  state.apply(ev('member.merged', { fromMemberId: 'm8', intoMemberId: 'm1', staffId: 'staff-1' }, at10('2026-07-03')));
  state.apply(ev('member.erased', { memberId: 'm5', staffId: 'staff-1' }, at10('2026-07-03')));
  return state;
}

let state: StoreState;
beforeEach(() => {
  events.restart();
  state = buildStore();
});

describe('ReportBook', () => {
  it('totals each business day net of the void and of the refund (on the day of the sale)', () => {
    expect(state.reports.day('2026-07-01')).toEqual({ sales: 3, revenue: 1257, memberSales: 2, memberRevenue: 1127 });
    // S6 is gone; S7 counts 160 - 50.
    expect(state.reports.day('2026-07-02')).toEqual({ sales: 3, revenue: 710, memberSales: 3, memberRevenue: 710 });
    expect(state.reports.day('2026-07-03')).toEqual({ sales: 2, revenue: 70, memberSales: 1, memberRevenue: 30 });
    expect(state.reports.day('2026-06-20')).toEqual({ sales: 1, revenue: 0, memberSales: 0, memberRevenue: 0 });
    expect(state.reports.day('2026-07-04')).toEqual({ sales: 0, revenue: 0, memberSales: 0, memberRevenue: 0 });
  });

  it('sums each SKU over a range: units and revenue after discounts, refunds and voids, sales counted once', () => {
    // P1: S1 2 units 1000 - 100, S4 1 unit 500; S6 voided.
    expect(state.reports.skuTotals('P1', RANGE.from, RANGE.to)).toEqual({ qty: 3, revenue: 1400, sales: 2 });
    // P2: S3 4/200, S5 2/100, S7 2/100 less 1/50 back, S9 1/40.
    expect(state.reports.skuTotals('P2', RANGE.from, RANGE.to)).toEqual({ qty: 8, revenue: 390, sales: 4 });
    expect(state.reports.skuTotals('P2', '2026-07-02', '2026-07-02')).toEqual({ qty: 3, revenue: 150, sales: 2 });
    expect(state.reports.skuTotals('F2', RANGE.from, RANGE.to)).toEqual({ qty: 0, revenue: 0, sales: 0 });
  });

  it('remembers every SKU and category sold, products gone from the catalog included', () => {
    expect([...state.reports.skusSold()].sort()).toEqual(['F1', 'F3', 'G1', 'OLD', 'P1', 'P2']);
    expect([...state.reports.categoriesSold()].sort()).toEqual(['寵物', '零食']);
    expect(state.reports.skuLabel('OLD')).toEqual({ name: '舊貨', category: '零食' });
  });

  it('knows the last day a SKU sold as of a date, skipping days whose units all came back', () => {
    expect(state.reports.lastSold('P1', '2026-07-03')).toBe('2026-07-02');
    expect(state.reports.lastSold('P1', '2026-07-01')).toBe('2026-07-01');
    expect(state.reports.lastSold('P1', '2026-06-30')).toBe('2026-03-01');
    expect(state.reports.lastSold('G1', '2026-07-03')).toBeNull();
    expect(state.reports.lastSold('F2', '2026-07-03')).toBeNull();
  });

  it('takes a voided sale out whole, even after a refund of part of it', () => {
    const book = new ReportBook();
    const line: SaleLineData = {
      lineNo: 1,
      sku: 'X',
      name: 'X',
      category: 'c',
      qty: 3,
      unitPrice: 40,
      lineDiscount: 0,
      lineTotal: 120,
      orderDiscountShare: 20,
    };
    const sale = { businessDate: '2026-07-01', memberId: 'm1', lines: [line], total: 100 };
    book.recordSale(sale);
    // One of three units paid 100 in all: round(100 / 3) = 33 back.
    book.refundSale(sale, { lines: [{ lineNo: 1, qty: 1, amount: 33 }], amount: 33 });
    expect(book.day('2026-07-01')).toEqual({ sales: 1, revenue: 67, memberSales: 1, memberRevenue: 67 });
    expect(book.skuTotals('X', '2026-07-01', '2026-07-01')).toEqual({ qty: 2, revenue: 67, sales: 1 });
    book.voidSale({ ...sale, refundedQty: { 1: 1 }, refundedAmount: 33 });
    expect(book.day('2026-07-01')).toEqual({ sales: 0, revenue: 0, memberSales: 0, memberRevenue: 0 });
    expect(book.skuTotals('X', '2026-07-01', '2026-07-01')).toEqual({ qty: 0, revenue: 0, sales: 0 });
    expect(book.lastSold('X', '2026-07-01')).toBeNull();
    expect(book.toData().days).toEqual([]);
  });
});

describe('memberMetrics', () => {
  it('fills every figure for the range', () => {
    const metrics = memberMetrics(state.reports, state.members, { ...RANGE, ...ACTIVITY });
    expect(metrics).toEqual({
      from: '2026-07-01',
      to: '2026-07-03',
      // m2 (00:30 on 07-01 local), m4 and m5 (erased, still a sign-up); not m7 (23:59:59 on 06-30),
      // m8 (merged away) or m9 (midnight starting 07-04).
      newMembers: 3,
      // m1, m2, m3, m4, m6, m7.
      membersAtEnd: 6,
      // m1 (S1 927, S7 110, and m8's S5 100 after the merge), m2 200, m4 500, m5 30 (erased).
      buyingMembers: 4,
      repurchaseRate: 0.25,
      purchaseFrequency: 1.5, // 6 purchases / 4
      averageOrderValue: 255, // 2037 / 8 = 254.625
      memberAverageOrderValue: 311, // 1867 / 6 = 311.17
      activity: {
        activeDays: 30,
        churnedDays: 90,
        active: 3, // m1 07-02, m2 07-01, m4 07-02
        dormant: 1, // m6 05-20: 44 days
        churned: 1, // m3 03-01: 124 days
        neverBought: 1, // m7
      },
      // ceil(4 / 5) = 1 member: m1's 1137 of 1867.
      top20: { members: 1, revenue: 1137, share: 0.609 },
      memberShare: { sales: 8, revenue: 2037, memberSales: 6, memberRevenue: 1867, shareOfRevenue: 0.9165 },
      ageMix: [
        { band: '<20', members: 0, revenue: 0 },
        { band: '20-29', members: 1, revenue: 200 }, // m2 is 25 on 07-03 (birthday 08-01)
        { band: '30-39', members: 1, revenue: 1137 }, // m1 is 36
        { band: '40-49', members: 0, revenue: 0 },
        { band: '50-59', members: 0, revenue: 0 },
        { band: '60+', members: 0, revenue: 0 },
        { band: 'unknown', members: 2, revenue: 530 }, // m4 (no birthday), m5 (erased)
      ],
      genderMix: [
        { gender: 'female', members: 1, revenue: 1137 },
        { gender: 'male', members: 1, revenue: 200 },
        { gender: 'other', members: 0, revenue: 0 },
        { gender: 'unknown', members: 2, revenue: 530 },
      ],
      daily: [
        { date: '2026-07-01', sales: 3, revenue: 1257, memberSales: 2, memberRevenue: 1127, newMembers: 1 },
        { date: '2026-07-02', sales: 3, revenue: 710, memberSales: 3, memberRevenue: 710, newMembers: 1 },
        { date: '2026-07-03', sales: 2, revenue: 70, memberSales: 1, memberRevenue: 30, newMembers: 1 },
      ],
    });
  });

  it('counts a sign-up on its local day: 2026-06-30T16:30:00Z is 07-01 in Taipei', () => {
    expect(localDayStart('2026-07-01', TZ)).toBe(Date.parse('2026-06-30T16:00:00Z'));
    const june30 = memberMetrics(state.reports, state.members, { from: '2026-06-30', to: '2026-06-30', ...ACTIVITY });
    expect(june30.newMembers).toBe(1); // m7 at 23:59:59
    expect(june30.daily).toEqual([
      { date: '2026-06-30', sales: 0, revenue: 0, memberSales: 0, memberRevenue: 0, newMembers: 1 },
    ]);
    // At the end of 06-30: m1, m3, m6, m7 (m2 joined 30 minutes into 07-01).
    expect(june30.membersAtEnd).toBe(4);
    const july1 = memberMetrics(state.reports, state.members, { from: '2026-07-01', to: '2026-07-01', ...ACTIVITY });
    expect(july1.newMembers).toBe(1);
    expect(july1.membersAtEnd).toBe(5);
  });

  it('judges activity by the last purchase on or before the end of the range', () => {
    // As of 06-30, m1 had not bought yet; m3 is 121 days out, m6 41.
    const june30 = memberMetrics(state.reports, state.members, { from: '2026-06-01', to: '2026-06-30', ...ACTIVITY });
    expect(june30.activity).toEqual({
      activeDays: 30,
      churnedDays: 90,
      active: 0,
      dormant: 1,
      churned: 1,
      neverBought: 2,
    });
    expect(june30.buyingMembers).toBe(0);
    expect(june30.repurchaseRate).toBe(0);
    expect(june30.top20).toEqual({ members: 0, revenue: 0, share: 0 });
    // The walk-in G1 sale on 06-20 stays a sale though all of it came back.
    expect(june30.averageOrderValue).toBe(0);
    expect(june30.memberShare).toEqual({ sales: 1, revenue: 0, memberSales: 0, memberRevenue: 0, shareOfRevenue: 0 });
    // Wider thresholds: m6's 44 days are active, m3's 124 dormant.
    const wide = memberMetrics(state.reports, state.members, {
      ...RANGE,
      activeDays: 60,
      churnedDays: 180,
      timeZone: TZ,
    });
    expect(wide.activity).toMatchObject({ active: 4, dormant: 1, churned: 0, neverBought: 1 });
    // The thresholds are inclusive: m6 at exactly 44 days is active, m3 at exactly 124 dormant.
    const edge = memberMetrics(state.reports, state.members, {
      ...RANGE,
      activeDays: 44,
      churnedDays: 124,
      timeZone: TZ,
    });
    expect(edge.activity).toMatchObject({ active: 4, dormant: 1, churned: 0, neverBought: 1 });
    const past = memberMetrics(state.reports, state.members, {
      ...RANGE,
      activeDays: 43,
      churnedDays: 123,
      timeZone: TZ,
    });
    expect(past.activity).toMatchObject({ active: 3, dormant: 1, churned: 1, neverBought: 1 });
  });

  it('measures repurchase within a one-day range', () => {
    // 07-02: m1 bought twice (S7, and S5 as m8), m4 once.
    const metrics = memberMetrics(state.reports, state.members, { from: '2026-07-02', to: '2026-07-02', ...ACTIVITY });
    expect(metrics.buyingMembers).toBe(2);
    expect(metrics.repurchaseRate).toBe(0.5);
    expect(metrics.purchaseFrequency).toBe(1.5);
    expect(metrics.top20).toEqual({ members: 1, revenue: 500, share: 0.7042 }); // m4's 500 of 710
  });
});

describe('productReport', () => {
  const catalog = new Map(CATALOG.map((p) => [p.sku, p]));
  const row = (sku: string, qty: number, revenue: number, sales: number, lastSold: string | null) => ({
    sku,
    name: NAMES[sku]![0],
    category: NAMES[sku]![1],
    qty,
    revenue,
    sales,
    lastSold,
  });
  const P1 = row('P1', 3, 1400, 2, '2026-07-02');
  const P2 = row('P2', 8, 390, 4, '2026-07-03');
  const F1 = row('F1', 7, 207, 4, '2026-07-03'); // S1 1/27, S2 3/90, S7 2/60, S8 1/30
  const OLD = row('OLD', 1, 40, 1, '2026-07-01');
  const F2 = row('F2', 0, 0, 0, null);
  const F3 = row('F3', 0, 0, 0, '2026-05-20');
  const G1 = row('G1', 0, 0, 0, null);

  it('lists best sellers, slow movers, idle items and categories', () => {
    const report = productReport(state.reports, catalog, { ...RANGE, idleDays: 30, limit: 3 });
    expect(report).toEqual({
      from: '2026-07-01',
      to: '2026-07-03',
      bestSellers: [P1, P2, F1],
      // None sold; never-sold first (by SKU), then the longest since.
      slowMovers: [F2, G1, F3],
      // F3 last sold 44 days before 07-03.
      idle: [F2, G1, F3],
      idleDays: 30,
      byCategory: [
        { category: '寵物', qty: 11, revenue: 1790, sales: 6, products: 3 },
        // OLD is not in the catalog: its sales count, it is not one of the products.
        { category: '零食', qty: 8, revenue: 247, sales: 5, products: 3 },
      ],
    });
    expect(productReport(state.reports, catalog, { ...RANGE, idleDays: 30, limit: 10 }).bestSellers).toEqual([
      P1,
      P2,
      F1,
      OLD,
    ]);
  });

  it('counts an item idle only after more than idleDays without a sale', () => {
    const idle = (idleDays: number) =>
      productReport(state.reports, catalog, { ...RANGE, idleDays, limit: 0 }).idle.map((r) => r.sku);
    expect(idle(44)).toEqual(['F2', 'G1']);
    expect(idle(43)).toEqual(['F2', 'G1', 'F3']);
    // P1 last sold 07-02: 1 day before 07-03, not more than 1.
    expect(idle(1)).toEqual(['F2', 'G1', 'F3']);
  });

  it('keeps to one category when asked', () => {
    const report = productReport(state.reports, catalog, { ...RANGE, idleDays: 30, category: '零食', limit: 2 });
    expect(report.bestSellers).toEqual([F1, OLD]);
    expect(report.slowMovers).toEqual([F2, F3]);
    expect(report.idle).toEqual([F2, F3]);
    expect(report.byCategory).toEqual([{ category: '零食', qty: 8, revenue: 247, sales: 5, products: 3 }]);
  });
});

describe('snapshots', () => {
  it('answers the same after a round trip through plain JSON', () => {
    const copy = ReportBook.fromData(JSON.parse(JSON.stringify(state.reports.toData())));
    expect(copy.toData()).toEqual(state.reports.toData());
    const catalog = new Map(CATALOG.map((p) => [p.sku, p]));
    const query = { ...RANGE, idleDays: 30, limit: 5 };
    expect(productReport(copy, catalog, query)).toEqual(productReport(state.reports, catalog, query));
    expect(memberMetrics(copy, state.members, { ...RANGE, ...ACTIVITY })).toEqual(
      memberMetrics(state.reports, state.members, { ...RANGE, ...ACTIVITY }),
    );
  });

  it('comes back with the store state and keeps taking sales', () => {
    const restored = StoreState.fromData(JSON.parse(JSON.stringify(state.toData(sealFor))), 400, unseal);
    const before = memberMetrics(state.reports, state.members, { ...RANGE, ...ACTIVITY });
    expect(memberMetrics(restored.reports, restored.members, { ...RANGE, ...ACTIVITY })).toEqual(before);
    sell(restored, 'S10', '2026-07-03', null, [{ sku: 'F2', qty: 2, unitPrice: 20 }]);
    expect(restored.reports.day('2026-07-03')).toEqual({ sales: 3, revenue: 110, memberSales: 1, memberRevenue: 30 });
    expect(restored.reports.lastSold('F2', '2026-07-03')).toBe('2026-07-03');
  });
});
