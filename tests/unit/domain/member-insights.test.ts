/**
 * The auntie's brain (C1): usual items by frequency and recency, what is due for repurchase, and a
 * cross-sell learned from the store's baskets. Dates are chosen so that the recency weights are exact
 * powers of two: with a 90-day half-life, a purchase 90 days ago counts 0.5 and 180 days ago 0.25.
 * Today is 2026-06-30; 2026-04-01 is 90 days before it (Apr 1 -> May 1 = 30, May 1 -> May 31 = 30,
 * May 31 -> Jun 30 = 30) and 2026-01-01 is 180 days before it (Jan 1 -> Feb 1 = 31, -> Mar 1 = 28,
 * -> Apr 1 = 31: 90 more).
 */
import { describe, expect, it } from 'vitest';
import { BasketStats, repurchaseDue, usualItems } from '../../../hub/src/domain/member-insights.ts';
import { StoreIntervals } from '../../../hub/src/domain/repurchase.ts';
import type { MemberRecord, SkuHistory } from '../../../hub/src/domain/members.ts';
import type { ProductData, SaleLineData } from '../../../hub/src/protocol/events.ts';
import { memberRecord } from '../../support/member-record.ts';

const TODAY = '2026-06-30';

const product = (sku: string, repurchaseDays: number | null = null): ProductData => ({
  sku,
  barcodes: [],
  name: `商品 ${sku}`,
  category: '測試',
  price: 100,
  repurchaseDays,
});

function catalog(...products: ProductData[]) {
  const map = new Map(products.map((p) => [p.sku, p]));
  return (sku: string) => map.get(sku);
}

const memberWith = (skus: Record<string, SkuHistory>): MemberRecord => memberRecord('m1', { skus });

const history = (count: number, dates: string[]): SkuHistory => ({ count, qty: count, dates });

describe('usualItems', () => {
  const find = catalog(product('V'), product('W'), product('X'), product('Y'), product('Z'));
  // Scores (sum of 0.5^(days ago / 90), times count / remembered dates):
  //   V: 12 remembered purchases 180 days ago, 24 in all: 12 x 0.25 = 3, x 24/12 = 6
  //   Z: 180, 90 and 0 days ago: 0.25 + 0.5 + 1 = 1.75
  //   X: three times 90 days ago: 3 x 0.5 = 1.5
  //   Y: once today: 1
  //   W: four times 180 days ago: 4 x 0.25 = 1 (ties with Y; Y was bought more recently)
  const record = memberWith({
    W: history(4, ['2026-01-01', '2026-01-01', '2026-01-01', '2026-01-01']),
    X: history(3, ['2026-04-01', '2026-04-01', '2026-04-01']),
    Y: history(1, ['2026-06-30']),
    Z: history(3, ['2026-01-01', '2026-04-01', '2026-06-30']),
    V: history(
      24,
      Array.from({ length: 12 }, () => '2026-01-01'),
    ),
  });

  it('orders by frequency weighted by recency, ties by the latest purchase', () => {
    expect(usualItems(record, TODAY, find).map((u) => u.sku)).toEqual(['V', 'Z', 'X', 'Y', 'W']);
  });

  it('a recent single purchase beats an old habit bought as often', () => {
    const r = memberWith({
      OLD: history(2, ['2026-01-01', '2026-01-01']), // 2 x 0.25 = 0.5
      NEW: history(1, ['2026-06-30']), // 1
    });
    expect(usualItems(r, TODAY, catalog(product('OLD'), product('NEW'))).map((u) => u.sku)).toEqual(['NEW', 'OLD']);
  });

  it('gives name, price, times bought and the last purchase, up to the limit', () => {
    const top = usualItems(record, TODAY, find, 2);
    expect(top).toEqual([
      { sku: 'V', name: '商品 V', price: 100, timesBought: 24, lastBought: '2026-01-01' },
      { sku: 'Z', name: '商品 Z', price: 100, timesBought: 3, lastBought: '2026-06-30' },
    ]);
  });

  it('skips products no longer in the catalog and SKUs without dates', () => {
    const r = memberWith({ GONE: history(5, ['2026-06-30']), EMPTY: history(0, []), Y: history(1, ['2026-06-01']) });
    expect(usualItems(r, TODAY, catalog(product('Y'), product('EMPTY'))).map((u) => u.sku)).toEqual(['Y']);
  });
});

describe('repurchaseDue', () => {
  it('uses the member’s own median interval once there are two intervals', () => {
    // 05-01, 05-21, 06-10: intervals 20 and 20 -> median 20; due 06-10 + 20 = 06-30, today
    const r = memberWith({ OWN: history(3, ['2026-05-01', '2026-05-21', '2026-06-10']) });
    expect(repurchaseDue(r, TODAY, catalog(product('OWN', 60)))).toEqual([
      {
        sku: 'OWN',
        name: '商品 OWN',
        price: 100,
        lastBought: '2026-06-10',
        dueOn: '2026-06-30',
        intervalDays: 20,
        basis: 'own',
        samples: 2,
      },
    ]);
  });

  it('takes the middle interval of three, and rounds the mean of the middle two', () => {
    // 05-01, 05-11 (10), 06-10 (30), 06-24 (14): sorted 10, 14, 30 -> 14; due 06-24 + 14 = 07-08
    const odd = memberWith({ ODD: history(4, ['2026-05-01', '2026-05-11', '2026-06-10', '2026-06-24']) });
    // on 07-01 it is 7 days away: due
    expect(repurchaseDue(odd, '2026-07-01', catalog(product('ODD')))[0]).toMatchObject({
      intervalDays: 14,
      dueOn: '2026-07-08',
    });
    // 06-01, 06-11 (10), 06-26 (15): (10 + 15) / 2 = 12.5 -> 13; due 06-26 + 13 = 07-09
    const even = memberWith({ EVEN: history(3, ['2026-06-01', '2026-06-11', '2026-06-26']) });
    expect(repurchaseDue(even, '2026-07-02', catalog(product('EVEN')))[0]).toMatchObject({
      intervalDays: 13,
      dueOn: '2026-07-09',
    });
  });

  it('falls back to the product’s cycle with fewer than two intervals', () => {
    // one interval (05-01 -> 06-01) is not enough: product cycle 30 -> due 06-01 + 30 = 07-01
    const r = memberWith({ P: history(2, ['2026-05-01', '2026-06-01']) });
    expect(repurchaseDue(r, TODAY, catalog(product('P', 30)))).toEqual([
      {
        sku: 'P',
        name: '商品 P',
        price: 100,
        lastBought: '2026-06-01',
        dueOn: '2026-07-01',
        intervalDays: 30,
        basis: 'product',
        samples: 0,
      },
    ]);
  });

  it('does not count purchases on the same day as intervals', () => {
    // three purchases on 06-01: no interval at all -> product cycle 30
    const r = memberWith({ P: history(3, ['2026-06-01', '2026-06-01', '2026-06-01']) });
    expect(repurchaseDue(r, TODAY, catalog(product('P', 30)))[0]).toMatchObject({ basis: 'product', intervalDays: 30 });
  });

  it('says nothing without either interval', () => {
    const r = memberWith({ N: history(2, ['2026-05-01', '2026-06-01']) });
    expect(repurchaseDue(r, TODAY, catalog(product('N', null)))).toEqual([]);
  });

  it('is due from 7 days ahead, not 8', () => {
    // product cycle 30 from 06-07 -> due 07-07: 7 days after 06-30
    const r7 = memberWith({ P: history(1, ['2026-06-07']) });
    expect(repurchaseDue(r7, TODAY, catalog(product('P', 30))).map((d) => d.dueOn)).toEqual(['2026-07-07']);
    // from 06-08 -> due 07-08: 8 days after 06-30
    const r8 = memberWith({ P: history(1, ['2026-06-08']) });
    expect(repurchaseDue(r8, TODAY, catalog(product('P', 30)))).toEqual([]);
  });

  it('stays due while overdue by at most one interval', () => {
    // cycle 30 from 05-01 -> due 05-31: 30 days overdue on 06-30, still listed
    const edge = memberWith({ P: history(1, ['2026-05-01']) });
    expect(repurchaseDue(edge, TODAY, catalog(product('P', 30))).map((d) => d.dueOn)).toEqual(['2026-05-31']);
    // from 04-30 -> due 05-30: 31 days overdue, the habit has moved on
    const gone = memberWith({ P: history(1, ['2026-04-30']) });
    expect(repurchaseDue(gone, TODAY, catalog(product('P', 30)))).toEqual([]);
  });

  it('falls back to the store’s median interval when the product has no cycle', () => {
    // Five other members bought N on 05-01 and again 10 / 12 / 14 / 16 / 18 days later: median 14 of 5
    const others = ['2026-05-11', '2026-05-13', '2026-05-15', '2026-05-17', '2026-05-19'].map((again) =>
      memberWith({ N: history(2, ['2026-05-01', again]) }),
    );
    const store = StoreIntervals.from(others);
    // this member bought N once, on 06-20: due 06-20 + 14 = 07-04, 4 days from today
    const r = memberWith({ N: history(1, ['2026-06-20']) });
    expect(repurchaseDue(r, TODAY, catalog(product('N', null)), 5, store)).toEqual([
      {
        sku: 'N',
        name: '商品 N',
        price: 100,
        lastBought: '2026-06-20',
        dueOn: '2026-07-04',
        intervalDays: 14,
        basis: 'store',
        samples: 5,
      },
    ]);
  });

  it('lists only SKUs, not categories', () => {
    const r = memberWith({ P: history(1, ['2026-06-15']) });
    r.categories = { 寵物: history(3, ['2026-05-01', '2026-05-16', '2026-06-15']) };
    // the category is due 06-15 + 15 = 06-30 on the member's own habit, but the card lists products
    expect(repurchaseDue(r, TODAY, catalog(product('P', 10))).map((d) => d.sku)).toEqual(['P']);
  });

  it('lists the soonest due first, up to the limit', () => {
    const r = memberWith({
      LATE: history(1, ['2026-06-05']), // cycle 30 -> 07-05
      EARLY: history(1, ['2026-06-01']), // cycle 20 -> 06-21
      MID: history(1, ['2026-06-15']), // cycle 15 -> 06-30
    });
    const find = catalog(product('LATE', 30), product('EARLY', 20), product('MID', 15));
    expect(repurchaseDue(r, TODAY, find).map((d) => d.sku)).toEqual(['EARLY', 'MID', 'LATE']);
    expect(repurchaseDue(r, TODAY, find, 1).map((d) => d.sku)).toEqual(['EARLY']);
  });
});

describe('BasketStats', () => {
  const lines = (...skus: string[]): SaleLineData[] =>
    skus.map((sku, i) => ({
      lineNo: i + 1,
      sku,
      name: sku,
      category: 'x',
      qty: 1,
      unitPrice: 10,
      lineDiscount: 0,
      lineTotal: 10,
      orderDiscountShare: 0,
    }));
  const find = catalog(...['A', 'B', 'C', 'D', 'E', 'X', 'Y', 'Z'].map((s) => product(s)));

  function statsOf(baskets: [string[], number][]): BasketStats {
    const stats = new BasketStats();
    for (const [skus, times] of baskets) for (let i = 0; i < times; i++) stats.count(lines(...skus), 1);
    return stats;
  }

  it('suggests by confidence P(B|A), with lift above 1', () => {
    // 10 baskets: {A,B} x3, {A,C} x2, {A}, {C} x2, {D}, {B,D}
    // A in 6, B in 4, C in 4; A with B 3 times, A with C 2 times (below 3)
    // A -> B: confidence 3/6 = 0.5; P(B) = 4/10 = 0.4; lift 0.5 / 0.4 = 1.25
    const stats = statsOf([
      [['A', 'B'], 3],
      [['A', 'C'], 2],
      [['A'], 1],
      [['C'], 2],
      [['D'], 1],
      [['B', 'D'], 1],
    ]);
    expect(stats.baskets).toBe(10);
    expect(stats.suggest(['A'], new Set(), find)).toEqual({
      sku: 'B',
      name: '商品 B',
      price: 100,
      becauseOf: 'A',
      becauseOfName: '商品 A',
      confidence: 0.5,
      lift: 1.25,
    });
    // B is an anchor of only 4 baskets: not trusted
    expect(stats.suggest(['B'], new Set(), find)).toBeNull();
    // B already in the cart, and A with C only twice: nothing
    expect(stats.suggest(['A'], new Set(['B']), find)).toBeNull();
  });

  it('needs the anchor in at least 5 baskets', () => {
    // {X,Y} x3, {X} x2, {Z} x5: X in 5, Y in 3, together 3; confidence 3/5 = 0.6, P(Y) = 3/10, lift 2
    const stats = statsOf([
      [['X', 'Y'], 3],
      [['X'], 2],
      [['Z'], 5],
    ]);
    expect(stats.suggest(['X'], new Set(), find)).toMatchObject({ sku: 'Y', confidence: 0.6, lift: 2 });
    // a void of one {X} basket: X in 4 -> below the threshold
    stats.count(lines('X'), -1);
    expect(stats.suggest(['X'], new Set(), find)).toBeNull();
  });

  it('needs the pair together in at least 3 baskets', () => {
    // {X,Y} x2, {X} x3, {Z} x5: X in 5, together only 2
    const stats = statsOf([
      [['X', 'Y'], 2],
      [['X'], 3],
      [['Z'], 5],
    ]);
    expect(stats.suggest(['X'], new Set(), find)).toBeNull();
    // one more {X,Y}: X in 6, Y in 3, together 3, 11 baskets: confidence 0.5, lift 0.5 / (3/11) = 1.833 -> 1.83
    stats.count(lines('X', 'Y'), 1);
    expect(stats.suggest(['X'], new Set(), find)).toMatchObject({ sku: 'Y', confidence: 0.5, lift: 1.83 });
  });

  it('never suggests what everyone buys anyway (lift 1)', () => {
    // E is in every basket: A -> E confidence 1, but P(E) = 1 -> lift 1
    const stats = statsOf([
      [['A', 'E'], 5],
      [['E'], 5],
    ]);
    expect(stats.suggest(['A'], new Set(), find)).toBeNull();
  });

  it('picks the highest confidence, and the next one when that is in the cart', () => {
    // {A,B} x3, {A,C} x4, {A}, {Z} x4: A in 8, B in 3, C in 4, 12 baskets
    // A -> B: 3/8 = 0.375 (lift 0.375 / (3/12) = 1.5); A -> C: 4/8 = 0.5 (lift 0.5 / (4/12) = 1.5)
    const stats = statsOf([
      [['A', 'B'], 3],
      [['A', 'C'], 4],
      [['A'], 1],
      [['Z'], 4],
    ]);
    expect(stats.suggest(['A'], new Set(), find)).toMatchObject({ sku: 'C', confidence: 0.5, lift: 1.5 });
    // 0.375 rounds to 0.38
    expect(stats.suggest(['A'], new Set(['C']), find)).toMatchObject({ sku: 'B', confidence: 0.38, lift: 1.5 });
  });

  it('a void (-1) undoes a basket exactly', () => {
    const stats = statsOf([
      [['X', 'Y'], 3],
      [['X'], 2],
      [['Z'], 5],
    ]);
    // The counts that are not zero (a void may leave a pair counted 0 behind, which says nothing).
    const counts = (s: BasketStats) => ({
      baskets: s.baskets,
      skus: [...s.skuBaskets].filter(([, n]) => n !== 0).sort(),
      pairs: [...s.pairs]
        .flatMap(([a, row]) => [...row].filter(([, n]) => n !== 0).map(([b, n]) => `${a}>${b}:${n}`))
        .sort(),
    });
    const before = counts(stats);
    // with {X,Y,Z}: X in 6, X with Y 4 times -> 4/6 = 0.667 -> 0.67
    stats.count(lines('X', 'Y', 'Z'), 1);
    expect(stats.suggest(['X'], new Set(), find)?.confidence).toBe(0.67);
    stats.count(lines('X', 'Y', 'Z'), -1);
    expect(counts(stats)).toEqual(before);
    // voiding one {X,Y}: X 4, Y 2, together 2
    stats.count(lines('X', 'Y'), -1);
    expect(stats.baskets).toBe(9);
    expect(stats.skuBaskets.get('X')).toBe(4);
    expect(stats.pairs.get('X')?.get('Y')).toBe(2);
    expect(stats.pairs.get('Y')?.get('X')).toBe(2);
  });

  it('counts a SKU once per basket however many lines it has', () => {
    const stats = new BasketStats();
    stats.count(lines('A', 'A', 'B'), 1);
    expect(stats.skuBaskets.get('A')).toBe(1);
    expect(stats.pairs.get('A')?.get('B')).toBe(1);
    expect(stats.pairs.get('A')?.has('A')).toBe(false);
  });

  it('counts the SKUs of a basket over 20 SKUs but not its pairs', () => {
    const stats = new BasketStats();
    const skus = Array.from({ length: 21 }, (_, i) => `S${i}`);
    stats.count(lines(...skus), 1);
    expect(stats.skuBaskets.get('S0')).toBe(1);
    expect(stats.pairs.size).toBe(0);
    // exactly 20 SKUs: pairs counted (20 x 19 ordered pairs)
    stats.count(lines(...skus.slice(0, 20)), 1);
    expect([...stats.pairs.values()].reduce((s, row) => s + row.size, 0)).toBe(380);
  });

  describe('pairsReport', () => {
    // 10 baskets:
    //   1-3 {A,B}, 4 {A,B,C}, 5-6 {A,C}, 7 {C,D}, 8 {C}, 9 {B}, 10 {D,E}
    //   A in 6, B in 5, C in 5, D in 2, E in 1; together: A-B 4, A-C 3, B-C 1, C-D 1, D-E 1
    // Anchors (in 5 or more baskets): A, B, C. Pairs together 3 or more times: A-B, A-C.
    //   B->A: support 4/10 = 0.4, confidence 4/5 = 0.8,   lift 0.8 / (6/10) = 1.333
    //   A->B: support 4/10 = 0.4, confidence 4/6 = 0.667, lift (4/6) / (5/10) = 1.333
    //   C->A: support 3/10 = 0.3, confidence 3/5 = 0.6,   lift 0.6 / (6/10) = 1
    //   A->C: support 3/10 = 0.3, confidence 3/6 = 0.5,   lift 0.5 / (5/10) = 1
    const stats = statsOf([
      [['A', 'B'], 3],
      [['A', 'B', 'C'], 1],
      [['A', 'C'], 2],
      [['C', 'D'], 1],
      [['C'], 1],
      [['B'], 1],
      [['D', 'E'], 1],
    ]);
    const pair = (
      sku: string,
      withSku: string,
      together: number,
      support: number,
      confidence: number,
      lift: number,
    ) => ({
      sku,
      name: `商品 ${sku}`,
      withSku,
      withName: `商品 ${withSku}`,
      together,
      support,
      confidence,
      lift,
    });

    it('gives support, confidence and lift, by lift then confidence', () => {
      expect(stats.pairsReport(find, { limit: 10 })).toEqual({
        baskets: 10,
        pairs: [
          pair('B', 'A', 4, 0.4, 0.8, 1.333),
          pair('A', 'B', 4, 0.4, 0.667, 1.333),
          pair('C', 'A', 3, 0.3, 0.6, 1),
          pair('A', 'C', 3, 0.3, 0.5, 1),
        ],
      });
    });

    it('lists one product’s pairs, up to the limit', () => {
      expect(stats.pairsReport(find, { sku: 'A', limit: 10 }).pairs.map((p) => p.withSku)).toEqual(['B', 'C']);
      expect(stats.pairsReport(find, { sku: 'A', limit: 1 }).pairs.map((p) => p.withSku)).toEqual(['B']);
      // D is in 2 baskets only: not an anchor
      expect(stats.pairsReport(find, { sku: 'D', limit: 10 }).pairs).toEqual([]);
    });

    it('can ask for more baskets together, never fewer than 3', () => {
      const key = (r: { pairs: { sku: string; withSku: string }[] }) => r.pairs.map((p) => `${p.sku}>${p.withSku}`);
      expect(key(stats.pairsReport(find, { limit: 10, minTogether: 4 }))).toEqual(['B>A', 'A>B']);
      expect(key(stats.pairsReport(find, { limit: 10, minTogether: 1 }))).toEqual(['B>A', 'A>B', 'C>A', 'A>C']);
    });

    it('needs the anchor in 5 baskets', () => {
      // {X,Y} x3, {X}, {Z} x6: X in 4 -> nothing; one more {X}: X -> Y (Y itself in only 3)
      const small = statsOf([
        [['X', 'Y'], 3],
        [['X'], 1],
        [['Z'], 6],
      ]);
      expect(small.pairsReport(find, { limit: 10 }).pairs).toEqual([]);
      small.count(lines('X'), 1);
      // 11 baskets: support 3/11 = 0.273, confidence 3/5 = 0.6, lift 0.6 / (3/11) = 2.2
      expect(small.pairsReport(find, { limit: 10 }).pairs).toEqual([pair('X', 'Y', 3, 0.273, 0.6, 2.2)]);
    });

    it('leaves out products no longer in the catalog', () => {
      const withoutC = catalog(...['A', 'B'].map((s) => product(s)));
      expect(stats.pairsReport(withoutC, { limit: 10 }).pairs.map((p) => `${p.sku}>${p.withSku}`)).toEqual([
        'B>A',
        'A>B',
      ]);
    });
  });

  it('survives a snapshot round trip', () => {
    const stats = statsOf([
      [['A', 'B'], 3],
      [['A'], 3],
      [['Z'], 4],
    ]);
    const restored = BasketStats.fromData(JSON.parse(JSON.stringify(stats.toData())));
    expect(restored.suggest(['A'], new Set(), find)).toEqual(stats.suggest(['A'], new Set(), find));
    expect(restored.toData()).toEqual(stats.toData());
  });
});
