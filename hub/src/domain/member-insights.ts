/**
 * The auntie's brain (C1): a member's usual items, what is due for repurchase and one cross-sell
 * suggestion from what the store's baskets buy together. Pure: `today` is passed in.
 */
import type { ProductData, SaleLineData } from '../protocol/events.js';
import type { CrossSellView, RepurchaseDueView, UsualItemView } from '../protocol/members.js';
import type { MemberRecord } from './members.js';
import { daysAfter, daysBetween } from './time.js';

/** How fast an old habit fades: a purchase this many days ago counts half. */
const USUAL_HALF_LIFE_DAYS = 90;
/** "Due" means due within this many days (or overdue by less than the interval itself). */
const DUE_AHEAD_DAYS = 7;
/** Intervals of the member's own needed before they beat the product's cycle. */
const OWN_INTERVALS_NEEDED = 2;
/** Baskets an anchor must appear in, and pairs seen together, before a suggestion is trusted. */
const MIN_ANCHOR_BASKETS = 5;
const MIN_PAIR_BASKETS = 3;

export function usualItems(
  record: MemberRecord,
  today: string,
  findProduct: (sku: string) => ProductData | undefined,
  limit = 5,
): UsualItemView[] {
  const scored: { view: UsualItemView; score: number }[] = [];
  for (const [sku, history] of Object.entries(record.skus)) {
    const product = findProduct(sku);
    const last = history.dates.at(-1);
    if (!product || !last) continue;
    // Frequency weighted by recency: each remembered purchase decays with its age.
    let score = 0;
    for (const date of history.dates) score += Math.pow(0.5, daysBetween(date, today) / USUAL_HALF_LIFE_DAYS);
    score *= history.count / history.dates.length;
    scored.push({
      view: { sku, name: product.name, price: product.price, timesBought: history.count, lastBought: last },
      score,
    });
  }
  scored.sort((a, b) => b.score - a.score || b.view.lastBought.localeCompare(a.view.lastBought));
  return scored.slice(0, limit).map((s) => s.view);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/** When the member will want each item again: their own median interval, else the product's cycle. */
export function repurchaseDue(
  record: MemberRecord,
  today: string,
  findProduct: (sku: string) => ProductData | undefined,
  limit = 5,
): RepurchaseDueView[] {
  const due: RepurchaseDueView[] = [];
  for (const [sku, history] of Object.entries(record.skus)) {
    const product = findProduct(sku);
    const last = history.dates.at(-1);
    if (!product || !last) continue;
    const intervals: number[] = [];
    for (let i = 1; i < history.dates.length; i++) {
      const gap = daysBetween(history.dates[i - 1]!, history.dates[i]!);
      if (gap > 0) intervals.push(gap);
    }
    let intervalDays: number;
    let basis: RepurchaseDueView['basis'];
    if (intervals.length >= OWN_INTERVALS_NEEDED) {
      intervalDays = median(intervals);
      basis = 'own';
    } else if (product.repurchaseDays !== null) {
      intervalDays = product.repurchaseDays;
      basis = 'product';
    } else {
      continue;
    }
    const dueOn = daysAfter(last, intervalDays);
    const daysLeft = daysBetween(today, dueOn);
    // Due soon, or overdue by less than one more interval (after that the habit has likely moved on).
    if (daysLeft <= DUE_AHEAD_DAYS && daysLeft >= -intervalDays) {
      due.push({ sku, name: product.name, price: product.price, lastBought: last, dueOn, intervalDays, basis });
    }
  }
  due.sort((a, b) => a.dueOn.localeCompare(b.dueOn));
  return due.slice(0, limit);
}

/** Counts of SKUs and of SKU pairs in the store's baskets, for cross-sell. */
export class BasketStats {
  baskets = 0;
  readonly skuBaskets = new Map<string, number>();
  readonly pairs = new Map<string, Map<string, number>>();

  static fromData(data: BasketStatsData): BasketStats {
    const stats = new BasketStats();
    stats.baskets = data.baskets;
    for (const [sku, n] of data.skuBaskets) stats.skuBaskets.set(sku, n);
    for (const [a, list] of data.pairs) stats.pairs.set(a, new Map(list));
    return stats;
  }

  toData(): BasketStatsData {
    return {
      baskets: this.baskets,
      skuBaskets: [...this.skuBaskets],
      pairs: [...this.pairs].map(([a, m]) => [a, [...m]]),
    };
  }

  /** Adds (+1) or removes (-1, a void) one basket. */
  count(lines: SaleLineData[], delta: 1 | -1): void {
    const skus = [...new Set(lines.map((l) => l.sku))];
    this.baskets += delta;
    for (const sku of skus) this.skuBaskets.set(sku, (this.skuBaskets.get(sku) ?? 0) + delta);
    // Big baskets say little about pairs and cost quadratically: count pairs in baskets up to 20 SKUs.
    if (skus.length > 20) return;
    for (const a of skus) {
      let row = this.pairs.get(a);
      if (!row) this.pairs.set(a, (row = new Map()));
      for (const b of skus) if (a !== b) row.set(b, (row.get(b) ?? 0) + delta);
    }
  }

  /**
   * The best "after A, suggest B" for any anchor: highest confidence P(B|A) with lift above 1,
   * skipping what is excluded (already in the cart).
   */
  suggest(
    anchors: string[],
    exclude: Set<string>,
    findProduct: (sku: string) => ProductData | undefined,
  ): CrossSellView | null {
    let best: CrossSellView | null = null;
    for (const a of anchors) {
      const anchorCount = this.skuBaskets.get(a) ?? 0;
      if (anchorCount < MIN_ANCHOR_BASKETS) continue;
      for (const [b, together] of this.pairs.get(a) ?? []) {
        if (together < MIN_PAIR_BASKETS || exclude.has(b)) continue;
        const confidence = together / anchorCount;
        const lift = confidence / ((this.skuBaskets.get(b) ?? 1) / this.baskets);
        if (lift <= 1 || (best && confidence <= best.confidence)) continue;
        const product = findProduct(b);
        const anchor = findProduct(a);
        if (!product || !anchor) continue;
        best = {
          sku: b,
          name: product.name,
          price: product.price,
          becauseOf: a,
          becauseOfName: anchor.name,
          confidence: Math.round(confidence * 100) / 100,
          lift: Math.round(lift * 100) / 100,
        };
      }
    }
    return best;
  }
}

export interface BasketStatsData {
  baskets: number;
  skuBaskets: [string, number][];
  pairs: [string, [string, number][]][];
}
