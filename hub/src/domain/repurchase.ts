/**
 * Repurchase prediction (A6): when each member will want a product or a category again, and why.
 * The member's own habit wins once it shows (two intervals); before that the product's cycle from
 * the catalog, else what the store's members typically do. Pure: `today` is passed in.
 */
import type { RepurchaseBasis, RepurchasePredictionView } from '../protocol/crm.js';
import type { ProductData } from '../protocol/events.js';
import type { MemberRecord, SkuHistory } from './members.js';
import { dateOfDay, dayNumber } from './time.js';

/** Intervals of the member's own needed before they beat the product's cycle or the store's habit. */
export const OWN_INTERVALS_NEEDED = 2;
/** Intervals across the store's members needed before their median says anything. */
export const STORE_INTERVALS_NEEDED = 5;

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The median, the mean of the middle two rounded for an even count. Sorts `values` in place. */
function medianInPlace(values: number[]): number {
  // Insertion sort: a member's own intervals are a dozen at most.
  for (let i = 1; i < values.length; i++) {
    const value = values[i]!;
    let j = i - 1;
    while (j >= 0 && values[j]! > value) values[j + 1] = values[j--]!;
    values[j + 1] = value;
  }
  const mid = values.length >> 1;
  return values.length % 2 ? values[mid]! : Math.round((values[mid - 1]! + values[mid]!) / 2);
}

/** The median, the mean of the middle two rounded for an even count. */
export function median(values: readonly number[]): number {
  return medianInPlace([...values]);
}

/** Kept purchase dates, oldest first (late-synced sales may have landed out of order). */
function datesOf(history: SkuHistory): string[] {
  const { dates } = history;
  for (let i = 1; i < dates.length; i++) if (dates[i]! < dates[i - 1]!) return [...dates].sort();
  return dates;
}

/** Day gaps between consecutive purchase dates (oldest first); two purchases on one day are not an interval. */
export function intervalsOf(dates: readonly string[]): number[] {
  const intervals: number[] = [];
  let previous = dates.length > 0 ? dayNumber(dates[0]!) : 0;
  for (let i = 1; i < dates.length; i++) {
    const day = dayNumber(dates[i]!);
    if (day > previous) intervals.push(day - previous);
    previous = day;
  }
  return intervals;
}

export interface StoreInterval {
  intervalDays: number;
  /** Intervals of the store's members it is the median of. */
  samples: number;
}

/**
 * The median interval between purchases per SKU and per category over the store's members. Built
 * once (the caller caches it and rebuilds it nightly); only keys with at least
 * STORE_INTERVALS_NEEDED intervals are kept.
 */
export class StoreIntervals {
  static readonly EMPTY = new StoreIntervals(new Map(), new Map());

  private constructor(
    private readonly bySku: ReadonlyMap<string, StoreInterval>,
    private readonly byCategory: ReadonlyMap<string, StoreInterval>,
  ) {}

  static empty(): StoreIntervals {
    return StoreIntervals.EMPTY;
  }

  /**
   * Records merged into another are skipped (their purchases live on in the kept member); erased
   * members' tombstones still count, as they keep only anonymous purchase facts.
   */
  static from(members: Iterable<MemberRecord>): StoreIntervals {
    const skuGaps = new Map<string, GapCounts>();
    const categoryGaps = new Map<string, GapCounts>();
    for (const record of members) {
      if (record.mergedInto) continue;
      countGaps(record.skus, skuGaps);
      countGaps(record.categories, categoryGaps);
    }
    return new StoreIntervals(medians(skuGaps), medians(categoryGaps));
  }

  forSku(sku: string): StoreInterval | undefined {
    return this.bySku.get(sku);
  }

  forCategory(category: string): StoreInterval | undefined {
    return this.byCategory.get(category);
  }
}

/** How many intervals of each length (in days) a key has: millions of intervals in little memory. */
interface GapCounts {
  byDays: number[];
  total: number;
}

function countGaps(histories: Record<string, SkuHistory>, into: Map<string, GapCounts>): void {
  for (const key in histories) {
    const dates = datesOf(histories[key]!);
    if (dates.length < 2) continue;
    let counts = into.get(key);
    if (!counts) into.set(key, (counts = { byDays: [], total: 0 }));
    const { byDays } = counts;
    let previous = dayNumber(dates[0]!);
    for (let i = 1; i < dates.length; i++) {
      const day = dayNumber(dates[i]!);
      const gap = day - previous;
      previous = day;
      if (gap <= 0) continue;
      while (byDays.length <= gap) byDays.push(0);
      byDays[gap]! += 1;
      counts.total += 1;
    }
  }
}

/** The value at a 0-based position of the sorted intervals. */
function nthGap(counts: GapCounts, position: number): number {
  let seen = 0;
  for (let days = 0; days < counts.byDays.length; days++) {
    seen += counts.byDays[days]!;
    if (seen > position) return days;
  }
  return counts.byDays.length - 1;
}

function medians(gapsByKey: Map<string, GapCounts>): Map<string, StoreInterval> {
  const out = new Map<string, StoreInterval>();
  for (const [key, counts] of gapsByKey) {
    if (counts.total < STORE_INTERVALS_NEEDED) continue;
    const mid = counts.total >> 1;
    const intervalDays =
      counts.total % 2 ? nthGap(counts, mid) : Math.round((nthGap(counts, mid - 1) + nthGap(counts, mid)) / 2);
    out.set(key, { intervalDays, samples: counts.total });
  }
  return out;
}

export interface RepurchaseContext {
  findProduct(sku: string): ProductData | undefined;
  storeIntervals: StoreIntervals;
}

const days = (n: number) => `${n} day${n === 1 ? '' : 's'}`;

/** The why of a prediction in plain English (the UI words its own from basis, interval and samples). */
export function explainRepurchase(basis: RepurchaseBasis, intervalDays: number, samples: number): string {
  switch (basis) {
    case 'own':
      return `median of ${samples} own intervals: ${days(intervalDays)}`;
    case 'product':
      return `product cycle: ${days(intervalDays)}`;
    case 'store':
      return `store median of ${samples} intervals: ${days(intervalDays)}`;
  }
}

interface Basis {
  intervalDays: number;
  basis: RepurchaseBasis;
  samples: number;
}

function predictOne(
  kind: RepurchasePredictionView['kind'],
  key: string,
  label: string,
  dates: string[],
  fallbacks: (Basis | null)[],
): RepurchasePredictionView | null {
  const lastBought = dates.at(-1);
  if (!lastBought) return null;
  const own = intervalsOf(dates);
  const chosen: Basis | null =
    own.length >= OWN_INTERVALS_NEEDED
      ? { intervalDays: medianInPlace(own), basis: 'own', samples: own.length }
      : (fallbacks.find((b) => b !== null) ?? null);
  if (!chosen) return null;
  return {
    kind,
    key,
    label,
    lastBought,
    dueOn: dateOfDay(dayNumber(lastBought) + chosen.intervalDays),
    intervalDays: chosen.intervalDays,
    basis: chosen.basis,
    samples: chosen.samples,
    explanation: explainRepurchase(chosen.basis, chosen.intervalDays, chosen.samples),
  };
}

const fromStore = (interval: StoreInterval | undefined): Basis | null =>
  interval ? { intervalDays: interval.intervalDays, basis: 'store', samples: interval.samples } : null;

/**
 * Every prediction for a member, per SKU (still in the catalog) and per category they bought, soonest
 * due first. Purchases dated after `today` are not known yet as of `today` and are left out.
 */
export function predictRepurchase(
  record: MemberRecord,
  today: string,
  ctx: RepurchaseContext,
): RepurchasePredictionView[] {
  const known = (history: SkuHistory) => {
    const dates = datesOf(history);
    return dates.length > 0 && dates[dates.length - 1]! > today ? dates.filter((date) => date <= today) : dates;
  };
  const predictions: RepurchasePredictionView[] = [];
  for (const [sku, history] of Object.entries(record.skus)) {
    const product = ctx.findProduct(sku);
    if (!product) continue;
    const cycle: Basis | null =
      product.repurchaseDays !== null && product.repurchaseDays > 0
        ? { intervalDays: product.repurchaseDays, basis: 'product', samples: 0 }
        : null;
    const prediction = predictOne('sku', sku, product.name, known(history), [
      cycle,
      fromStore(ctx.storeIntervals.forSku(sku)),
    ]);
    if (prediction) predictions.push(prediction);
  }
  for (const [category, history] of Object.entries(record.categories)) {
    const prediction = predictOne('category', category, category, known(history), [
      fromStore(ctx.storeIntervals.forCategory(category)),
    ]);
    if (prediction) predictions.push(prediction);
  }
  const kindOrder = (p: RepurchasePredictionView) => (p.kind === 'sku' ? 0 : 1);
  return predictions.sort((a, b) => compare(a.dueOn, b.dueOn) || kindOrder(a) - kindOrder(b) || compare(a.key, b.key));
}

/**
 * Due within `withinDays` days from today, or overdue by at most one interval: after that the habit
 * has likely moved on (bought elsewhere, or no longer needed).
 */
export function isDue(
  prediction: Pick<RepurchasePredictionView, 'dueOn' | 'intervalDays'>,
  today: string,
  withinDays: number,
): boolean {
  const daysLeft = dayNumber(prediction.dueOn) - dayNumber(today);
  return daysLeft <= withinDays && daysLeft >= -prediction.intervalDays;
}

/** Predictions due from `from` to `to` (both inclusive), soonest first: the "due this week" list. */
export function dueBetween<P extends Pick<RepurchasePredictionView, 'dueOn'>>(
  predictions: readonly P[],
  from: string,
  to: string,
): P[] {
  return predictions.filter((p) => p.dueOn >= from && p.dueOn <= to).sort((a, b) => compare(a.dueOn, b.dueOn));
}

/**
 * A member's predictions reduced to what "is anything due?" needs, in typed arrays: kept per member
 * between filter runs (a whole-store prediction pass takes about a second for 100,000 members; a
 * scan of these takes milliseconds).
 */
export interface DueFacts {
  /** 0: a SKU, 1: a category. */
  kinds: Uint8Array;
  keys: string[];
  dueDays: Int32Array;
  intervals: Int32Array;
}

export function dueFactsOf(predictions: readonly RepurchasePredictionView[]): DueFacts {
  const n = predictions.length;
  const facts: DueFacts = {
    kinds: new Uint8Array(n),
    keys: new Array<string>(n),
    dueDays: new Int32Array(n),
    intervals: new Int32Array(n),
  };
  predictions.forEach((p, i) => {
    facts.kinds[i] = p.kind === 'sku' ? 0 : 1;
    facts.keys[i] = p.key;
    facts.dueDays[i] = dayNumber(p.dueOn);
    facts.intervals[i] = p.intervalDays;
  });
  return facts;
}

/** isDue over compact facts: any prediction (of this SKU / category, if given) due within `withinDays`. */
export function anyDue(
  facts: DueFacts,
  today: string,
  test: { withinDays: number; sku?: string; category?: string },
): boolean {
  const todayDay = dayNumber(today);
  for (let i = 0; i < facts.kinds.length; i++) {
    if (test.sku !== undefined && (facts.kinds[i] !== 0 || facts.keys[i] !== test.sku)) continue;
    if (test.category !== undefined && (facts.kinds[i] !== 1 || facts.keys[i] !== test.category)) continue;
    const daysLeft = facts.dueDays[i]! - todayDay;
    if (daysLeft <= test.withinDays && daysLeft >= -facts.intervals[i]!) return true;
  }
  return false;
}

/** Whether any compact prediction falls due between two dates (both inclusive). */
export function anyDueBetween(facts: DueFacts, from: string, to: string): boolean {
  const first = dayNumber(from);
  const last = dayNumber(to);
  for (let i = 0; i < facts.dueDays.length; i++)
    if (facts.dueDays[i]! >= first && facts.dueDays[i]! <= last) return true;
  return false;
}
