/**
 * Repurchase prediction (A6): the member's own median interval once there are two, else the
 * product's cycle (SKUs only), else the store's median once 5 intervals are known; per SKU and per
 * category, with the basis, the samples and the why in words. Today is 2026-06-30.
 */
import { describe, expect, it } from 'vitest';
import type { MemberRecord, SkuHistory } from '../../../hub/src/domain/members.ts';
import {
  anyDue,
  dueBetween,
  dueFactsOf,
  isDue,
  median,
  predictRepurchase,
  StoreIntervals,
  type RepurchaseContext,
} from '../../../hub/src/domain/repurchase.ts';
import type { ProductData } from '../../../hub/src/protocol/events.ts';
import { memberRecord } from '../../support/member-record.ts';

const TODAY = '2026-06-30';

const product = (sku: string, repurchaseDays: number | null = null): ProductData => ({
  sku,
  barcodes: [],
  name: `商品 ${sku}`,
  category: '寵物',
  price: 100,
  repurchaseDays,
});

const history = (...dates: string[]): SkuHistory => ({ count: dates.length, qty: dates.length, dates });

const member = (
  memberId: string,
  skus: Record<string, SkuHistory>,
  categories: Record<string, SkuHistory> = {},
): MemberRecord => memberRecord(memberId, { skus, categories });

function context(products: ProductData[], storeIntervals = StoreIntervals.empty()): RepurchaseContext {
  const map = new Map(products.map((p) => [p.sku, p]));
  return { findProduct: (sku) => map.get(sku), storeIntervals };
}

describe('median', () => {
  it('takes the middle value, or the rounded mean of the middle two', () => {
    expect(median([30, 10, 14])).toBe(14);
    expect(median([15, 10])).toBe(13); // 12.5
    expect(median([40, 10, 30, 20])).toBe(25);
  });
});

describe('predictRepurchase', () => {
  it('uses the member’s own median of an odd number of intervals', () => {
    // 05-01, 05-11 (10), 06-10 (30), 06-24 (14): sorted 10, 14, 30 -> 14; due 06-24 + 14 = 07-08
    const r = member('m', { A: history('2026-05-01', '2026-05-11', '2026-06-10', '2026-06-24') });
    expect(predictRepurchase(r, TODAY, context([product('A', 60)]))).toEqual([
      {
        kind: 'sku',
        key: 'A',
        label: '商品 A',
        lastBought: '2026-06-24',
        dueOn: '2026-07-08',
        intervalDays: 14,
        basis: 'own',
        samples: 3,
        explanation: 'median of 3 own intervals: 14 days',
      },
    ]);
  });

  it('rounds the mean of the middle two of an even number of intervals', () => {
    // 06-01, 06-11 (10), 06-26 (15): (10 + 15) / 2 = 12.5 -> 13; due 06-26 + 13 = 07-09
    const two = member('m', { A: history('2026-06-01', '2026-06-11', '2026-06-26') });
    expect(predictRepurchase(two, TODAY, context([product('A')]))[0]).toMatchObject({
      intervalDays: 13,
      dueOn: '2026-07-09',
      samples: 2,
      explanation: 'median of 2 own intervals: 13 days',
    });
    // 03-01, 03-11 (10), 03-31 (20), 04-30 (30), 06-09 (40): (20 + 30) / 2 = 25; due 06-09 + 25 = 07-04
    const four = member('m', { A: history('2026-03-01', '2026-03-11', '2026-03-31', '2026-04-30', '2026-06-09') });
    expect(predictRepurchase(four, TODAY, context([product('A')]))[0]).toMatchObject({
      intervalDays: 25,
      dueOn: '2026-07-04',
      samples: 4,
    });
  });

  it('does not count two purchases on one day as an interval, and sorts late-synced dates', () => {
    // 05-01, 05-01, 05-21: one interval only -> the product's cycle
    const sameDay = member('m', { A: history('2026-05-01', '2026-05-01', '2026-05-21') });
    expect(predictRepurchase(sameDay, TODAY, context([product('A', 30)]))[0]).toMatchObject({
      basis: 'product',
      intervalDays: 30,
      dueOn: '2026-06-20',
    });
    // 06-10 landed before 05-21: 05-01, 05-21, 06-10 -> 20 and 20, last bought 06-10
    const late = member('m', { A: history('2026-05-01', '2026-06-10', '2026-05-21') });
    expect(predictRepurchase(late, TODAY, context([product('A')]))[0]).toMatchObject({
      lastBought: '2026-06-10',
      intervalDays: 20,
      dueOn: '2026-06-30',
    });
  });

  it('falls back to the product’s cycle with fewer than two intervals of their own', () => {
    // one interval (05-01 -> 06-01): product cycle 30 -> due 07-01
    const r = member('m', { A: history('2026-05-01', '2026-06-01') });
    expect(predictRepurchase(r, TODAY, context([product('A', 30)]))).toEqual([
      {
        kind: 'sku',
        key: 'A',
        label: '商品 A',
        lastBought: '2026-06-01',
        dueOn: '2026-07-01',
        intervalDays: 30,
        basis: 'product',
        samples: 0,
        explanation: 'product cycle: 30 days',
      },
    ]);
  });

  describe('the store’s median', () => {
    // Intervals of N across the store: 10 and 14 (o1), 20 (o2), 7 (o3: two purchases on 05-01 are
    // one), and 12 (o4) -> 7, 10, 12, 14, 20: median 12 of 5.
    const o1 = member('o1', { N: history('2026-04-01', '2026-04-11', '2026-04-25') });
    const o2 = member('o2', { N: history('2026-05-01', '2026-05-21') });
    const o3 = member('o3', { N: history('2026-05-01', '2026-05-01', '2026-05-08') });
    const o4 = member('o4', { N: history('2026-06-01', '2026-06-13') });
    // merged into o1: its purchases live on in o1, and must not count twice
    const merged = { ...member('o5', { N: history('2026-01-01', '2026-01-02', '2026-01-03') }), mergedInto: 'o1' };
    const buyer = member('m', { N: history('2026-06-20') });

    it('is used with at least 5 intervals', () => {
      const store = StoreIntervals.from([o1, o2, o3, o4, merged]);
      expect(store.forSku('N')).toEqual({ intervalDays: 12, samples: 5 });
      // bought once on 06-20, no cycle in the catalog: due 06-20 + 12 = 07-02
      expect(predictRepurchase(buyer, TODAY, context([product('N')], store))).toEqual([
        {
          kind: 'sku',
          key: 'N',
          label: '商品 N',
          lastBought: '2026-06-20',
          dueOn: '2026-07-02',
          intervalDays: 12,
          basis: 'store',
          samples: 5,
          explanation: 'store median of 5 intervals: 12 days',
        },
      ]);
    });

    it('is not used with 4', () => {
      const store = StoreIntervals.from([o1, o2, o3, merged]);
      expect(store.forSku('N')).toBeUndefined();
      expect(predictRepurchase(buyer, TODAY, context([product('N')], store))).toEqual([]);
    });

    it('comes after the product’s cycle and the member’s own habit', () => {
      const store = StoreIntervals.from([o1, o2, o3, o4]);
      expect(predictRepurchase(buyer, TODAY, context([product('N', 30)], store))[0]).toMatchObject({
        basis: 'product',
        intervalDays: 30,
      });
      const regular = member('m', { N: history('2026-05-01', '2026-05-31', '2026-06-30') });
      expect(predictRepurchase(regular, TODAY, context([product('N', 45)], store))[0]).toMatchObject({
        basis: 'own',
        intervalDays: 30,
        samples: 2,
      });
    });
  });

  it('predicts categories from the member’s own habit or the store’s, never from a product cycle', () => {
    const others = [
      member('o1', {}, { 飼料: history('2026-01-01', '2026-01-21', '2026-02-10', '2026-03-02') }), // 20, 20, 20
      member('o2', {}, { 飼料: history('2026-03-01', '2026-03-31', '2026-04-30') }), // 30, 30
    ];
    // store: 20, 20, 20, 30, 30 -> median 20 of 5
    const store = StoreIntervals.from(others);
    expect(store.forCategory('飼料')).toEqual({ intervalDays: 20, samples: 5 });
    const r = member(
      'm',
      {},
      {
        寵物: history('2026-05-01', '2026-05-16', '2026-06-15'), // 15, 30 -> 23 (22.5)
        飼料: history('2026-06-12'),
        零食: history('2026-06-01'),
      },
    );
    expect(predictRepurchase(r, TODAY, context([], store))).toEqual([
      {
        kind: 'category',
        key: '飼料',
        label: '飼料',
        lastBought: '2026-06-12',
        dueOn: '2026-07-02',
        intervalDays: 20,
        basis: 'store',
        samples: 5,
        explanation: 'store median of 5 intervals: 20 days',
      },
      {
        kind: 'category',
        key: '寵物',
        label: '寵物',
        lastBought: '2026-06-15',
        dueOn: '2026-07-08',
        intervalDays: 23,
        basis: 'own',
        samples: 2,
        explanation: 'median of 2 own intervals: 23 days',
      },
    ]);
  });

  it('gives no SKU prediction for a product no longer in the catalog, but still its category', () => {
    const r = member(
      'm',
      { GONE: history('2026-05-01', '2026-05-11', '2026-05-21') },
      { 寵物: history('2026-05-01', '2026-05-11', '2026-05-21') },
    );
    expect(predictRepurchase(r, TODAY, context([])).map((p) => `${p.kind}:${p.key}`)).toEqual(['category:寵物']);
  });

  it('lists SKUs and categories soonest due first', () => {
    const r = member(
      'm',
      { LATE: history('2026-06-20'), EARLY: history('2026-06-01') },
      { 寵物: history('2026-05-01', '2026-05-11', '2026-05-21') }, // 10, 10 -> due 05-31
    );
    const ctx = context([product('LATE', 30), product('EARLY', 30)]);
    expect(predictRepurchase(r, TODAY, ctx).map((p) => `${p.key} ${p.dueOn}`)).toEqual([
      '寵物 2026-05-31',
      'EARLY 2026-07-01',
      'LATE 2026-07-20',
    ]);
  });

  it('as of a past day, leaves out purchases after it', () => {
    // as of 06-05, the 06-10 purchase has not happened: 05-01, 05-21 -> one interval -> cycle 30
    const r = member('m', { A: history('2026-05-01', '2026-05-21', '2026-06-10') });
    expect(predictRepurchase(r, '2026-06-05', context([product('A', 30)]))[0]).toMatchObject({
      lastBought: '2026-05-21',
      basis: 'product',
      dueOn: '2026-06-20',
    });
  });

  it('says "1 day" for a one-day cycle', () => {
    const r = member('m', { A: history('2026-06-29') });
    expect(predictRepurchase(r, TODAY, context([product('A', 1)]))[0]?.explanation).toBe('product cycle: 1 day');
  });
});

describe('isDue', () => {
  const due = (dueOn: string, intervalDays = 30) => ({ dueOn, intervalDays });

  it('is due within the days ahead, the last one included', () => {
    expect(isDue(due('2026-07-07'), TODAY, 7)).toBe(true);
    expect(isDue(due('2026-07-08'), TODAY, 7)).toBe(false);
    expect(isDue(due('2026-06-30'), TODAY, 0)).toBe(true);
    expect(isDue(due('2026-07-01'), TODAY, 0)).toBe(false);
  });

  it('stays due while overdue by at most one interval', () => {
    // 30 days overdue with a 30-day interval: still due; 31: the habit has moved on
    expect(isDue(due('2026-05-31', 30), TODAY, 7)).toBe(true);
    expect(isDue(due('2026-05-30', 30), TODAY, 7)).toBe(false);
    // with a 10-day interval, 11 days overdue is too late
    expect(isDue(due('2026-06-20', 10), TODAY, 7)).toBe(true);
    expect(isDue(due('2026-06-19', 10), TODAY, 7)).toBe(false);
  });
});

describe('anyDue over compact facts (the filter cache)', () => {
  const prediction = (kind: 'sku' | 'category', key: string, dueOn: string, intervalDays: number) => ({
    kind,
    key,
    label: key,
    lastBought: '2026-01-01',
    dueOn,
    intervalDays,
    basis: 'own' as const,
    samples: 2,
    explanation: '',
  });
  const facts = dueFactsOf([
    prediction('sku', 'PET-001', '2026-07-05', 30),
    prediction('category', '寵物用品', '2026-05-20', 30),
    prediction('sku', 'DRK-002', '2026-06-25', 7),
  ]);

  it('answers as isDue does, for any item, one SKU or one category', () => {
    // PET-001 is due in 5 days; 寵物用品 is 41 days overdue with a 30-day habit (gone); DRK-002 5 days overdue
    expect(anyDue(facts, TODAY, { withinDays: 7 })).toBe(true);
    expect(anyDue(facts, TODAY, { withinDays: 7, sku: 'PET-001' })).toBe(true);
    expect(anyDue(facts, TODAY, { withinDays: 3, sku: 'PET-001' })).toBe(false);
    expect(anyDue(facts, TODAY, { withinDays: 7, category: '寵物用品' })).toBe(false);
    expect(anyDue(facts, TODAY, { withinDays: 0, sku: 'DRK-002' })).toBe(true);
    // A SKU key never matches a category test with the same text, and the other way round.
    expect(anyDue(facts, TODAY, { withinDays: 7, category: 'PET-001' })).toBe(false);
    expect(anyDue(dueFactsOf([]), TODAY, { withinDays: 90 })).toBe(false);
  });
});

describe('dueBetween', () => {
  it('keeps predictions due in the range, both ends included, soonest first', () => {
    const list = ['2026-07-07', '2026-06-29', '2026-07-01', '2026-06-30', '2026-07-06', '2026-07-08'].map((dueOn) => ({
      dueOn,
    }));
    expect(dueBetween(list, '2026-06-30', '2026-07-06').map((p) => p.dueOn)).toEqual([
      '2026-06-30',
      '2026-07-01',
      '2026-07-06',
    ]);
  });
});
