/**
 * The auntie's brain (C1): a member's usual items, what is due for repurchase and one cross-sell
 * suggestion from what the store's baskets buy together; and the store's cross-sell pairs (R5).
 * Pure: `today` is passed in.
 */
import type { ProductData, SaleLineData } from '../protocol/events.js';
import type { CrossSellPairView, CrossSellReport } from '../protocol/crm.js';
import type { CrossSellView, RepurchaseDueView, UsualItemView } from '../protocol/members.js';
import type { MemberRecord } from './members.js';
import { isDue, predictRepurchase, StoreIntervals } from './repurchase.js';
import { daysBetween } from './time.js';

/** How fast an old habit fades: a purchase this many days ago counts half. */
const USUAL_HALF_LIFE_DAYS = 90;
/** "Due" means due within this many days (or overdue by less than the interval itself). */
const DUE_AHEAD_DAYS = 7;
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

/**
 * What the member will want again soon (C1), from the repurchase prediction (A6) for SKUs still in
 * the catalog: due within a week, or overdue by at most the interval itself.
 */
export function repurchaseDue(
  record: MemberRecord,
  today: string,
  findProduct: (sku: string) => ProductData | undefined,
  limit = 5,
  storeIntervals: StoreIntervals = StoreIntervals.empty(),
): RepurchaseDueView[] {
  const due: RepurchaseDueView[] = [];
  for (const prediction of predictRepurchase(record, today, { findProduct, storeIntervals })) {
    if (due.length >= limit) break;
    if (prediction.kind !== 'sku' || !isDue(prediction, today, DUE_AHEAD_DAYS)) continue;
    const product = findProduct(prediction.key)!;
    due.push({
      sku: prediction.key,
      name: product.name,
      price: product.price,
      lastBought: prediction.lastBought,
      dueOn: prediction.dueOn,
      intervalDays: prediction.intervalDays,
      basis: prediction.basis,
      samples: prediction.samples,
    });
  }
  return due;
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
    // Distinct SKUs without a Set: a basket has a few lines, and a replay counts every sale.
    const skus: string[] = [];
    for (const line of lines) if (!skus.includes(line.sku)) skus.push(line.sku);
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

  /**
   * Cross-sell pairs "with sku, also withSku" (R5), for one anchor SKU or all: support = together /
   * baskets, confidence = together / baskets with sku, lift = confidence / share of baskets with
   * withSku; rounded to 3 decimals, highest lift first, then confidence. Only anchors of at least
   * MIN_ANCHOR_BASKETS baskets and pairs together at least MIN_PAIR_BASKETS times (or `minTogether`
   * when that is more) are trusted; SKUs no longer in the catalog are left out.
   */
  pairsReport(
    findProduct: (sku: string) => ProductData | undefined,
    options: { sku?: string; limit: number; minTogether?: number },
  ): CrossSellReport {
    const minTogether = Math.max(MIN_PAIR_BASKETS, options.minTogether ?? 0);
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const anchors = options.sku !== undefined ? [options.sku] : [...this.pairs.keys()];
    const pairs: CrossSellPairView[] = [];
    for (const sku of anchors) {
      const anchorCount = this.skuBaskets.get(sku) ?? 0;
      const anchor = anchorCount >= MIN_ANCHOR_BASKETS ? findProduct(sku) : undefined;
      if (!anchor) continue;
      for (const [withSku, together] of this.pairs.get(sku) ?? []) {
        const withCount = this.skuBaskets.get(withSku) ?? 0;
        if (together < minTogether || withCount <= 0) continue;
        const other = findProduct(withSku);
        if (!other) continue;
        const confidence = together / anchorCount;
        const lift = confidence / (withCount / this.baskets);
        pairs.push({
          sku,
          name: anchor.name,
          withSku,
          withName: other.name,
          together,
          support: round(together / this.baskets),
          confidence: round(confidence),
          lift: round(lift),
        });
      }
    }
    // On the rounded figures, as shown (A->B and B->A often share a lift that floats apart in the
    // last digit); then the most evidence, then by SKU so the order is stable.
    pairs.sort(
      (a, b) =>
        b.lift - a.lift ||
        b.confidence - a.confidence ||
        b.together - a.together ||
        a.sku.localeCompare(b.sku) ||
        a.withSku.localeCompare(b.withSku),
    );
    return { baskets: this.baskets, pairs: pairs.slice(0, Math.max(0, options.limit)) };
  }
}

export interface BasketStatsData {
  baskets: number;
  skuBaskets: [string, number][];
  pairs: [string, [string, number][]][];
}
