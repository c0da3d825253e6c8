/**
 * Reports (A2-A5): what sold on each store-local business day, in all and per SKU, and the member
 * metrics and product reports read from it. The projection holds day totals only, so a sale costs a
 * few map updates and a report over any range reads one entry per day (and per SKU and day), never
 * the sales themselves. Pure: ranges and the time zone are passed in.
 *
 * Money is whole NT$ net of every discount (a line's own and its share of the order-level ones) and
 * of refunds. A void takes the whole sale out of its day; a refund lowers the day the sale was made
 * on (not the day of the refund), so a day's figures always describe that day's sales.
 */
import {
  AGE_BANDS,
  type DailyPoint,
  type MemberMetrics,
  type ProductReport,
  type ProductRow,
} from '../protocol/crm.js';
import type { ProductData, SaleCompletedData, SaleLineData, SaleRefundedData } from '../protocol/events.js';
import { GENDERS } from '../protocol/members.js';
import { ageBand, type MemberBook } from './members.js';
import { daysAfter, daysBefore, daysBetween, localDayStart } from './time.js';

/** One business day's sales, all of them and those with a member; revenue is net NT$. */
export interface DayTotals {
  sales: number;
  revenue: number;
  memberSales: number;
  memberRevenue: number;
}

/** One SKU on one business day: units and net NT$ (after refunds), and the sales that had it. */
export interface SkuDayTotals {
  qty: number;
  revenue: number;
  sales: number;
}

/** What the book needs of a sale (StoreState's SaleRecord fits). */
export type ReportedSale = Pick<SaleCompletedData, 'businessDate' | 'memberId' | 'lines' | 'total'>;

/** A sale as it stands when it is voided: what was already refunded is already off its day. */
export interface ReportedSaleState extends ReportedSale {
  refundedQty: Record<number, number>;
  refundedAmount: number;
}

/** Plain JSON for snapshots; tuples keep a few years of days per SKU small. */
export interface ReportBookData {
  /** [date, sales, revenue, memberSales, memberRevenue], in date order. */
  days: [string, number, number, number, number][];
  skus: {
    sku: string;
    name: string;
    category: string;
    /** [date, qty, revenue, sales], in date order. */
    days: [string, number, number, number][];
  }[];
}

interface SkuTrack {
  /** As on the latest sale: a product dropped from the catalog is still reported by these. */
  name: string;
  category: string;
  /** The days it sold on, ascending: range sums and "last sold" binary-search them. */
  dates: string[];
  byDate: Map<string, SkuDayTotals>;
}

export class ReportBook {
  private readonly days = new Map<string, DayTotals>();
  private readonly skus = new Map<string, SkuTrack>();

  static fromData(data: ReportBookData): ReportBook {
    const book = new ReportBook();
    for (const [date, sales, revenue, memberSales, memberRevenue] of data.days) {
      book.days.set(date, { sales, revenue, memberSales, memberRevenue });
    }
    for (const { sku, name, category, days } of data.skus) {
      const track: SkuTrack = { name, category, dates: [], byDate: new Map() };
      for (const [date, qty, revenue, sales] of days) {
        track.dates.push(date);
        track.byDate.set(date, { qty, revenue, sales });
      }
      book.skus.set(sku, track);
    }
    return book;
  }

  toData(): ReportBookData {
    return {
      days: [...this.days]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([date, d]) => [date, d.sales, d.revenue, d.memberSales, d.memberRevenue]),
      skus: [...this.skus].map(([sku, track]) => ({
        sku,
        name: track.name,
        category: track.category,
        days: track.dates.map((date) => {
          const cell = track.byDate.get(date)!;
          return [date, cell.qty, cell.revenue, cell.sales];
        }),
      })),
    };
  }

  /** A completed sale joins its business day. */
  recordSale(sale: ReportedSale): void {
    const date = sale.businessDate;
    let day = this.days.get(date);
    if (!day) this.days.set(date, (day = { sales: 0, revenue: 0, memberSales: 0, memberRevenue: 0 }));
    day.sales += 1;
    day.revenue += sale.total;
    if (sale.memberId) {
      day.memberSales += 1;
      day.memberRevenue += sale.total;
    }
    const counted = new Set<string>();
    for (const line of sale.lines) {
      let track = this.skus.get(line.sku);
      if (!track)
        this.skus.set(line.sku, (track = { name: line.name, category: line.category, dates: [], byDate: new Map() }));
      track.name = line.name;
      track.category = line.category;
      let cell = track.byDate.get(date);
      if (!cell) {
        track.byDate.set(date, (cell = { qty: 0, revenue: 0, sales: 0 }));
        insertSorted(track.dates, date);
      }
      cell.qty += line.qty;
      cell.revenue += netOf(line);
      // Two lines of one SKU are still one sale of it.
      if (!counted.has(line.sku)) {
        counted.add(line.sku);
        cell.sales += 1;
      }
    }
  }

  /** A voided sale leaves its day entirely (what a refund already took off is not taken twice). */
  voidSale(sale: ReportedSaleState): void {
    const date = sale.businessDate;
    const day = this.days.get(date);
    if (!day) return;
    const left = sale.total - sale.refundedAmount;
    day.sales -= 1;
    day.revenue -= left;
    if (sale.memberId) {
      day.memberSales -= 1;
      day.memberRevenue -= left;
    }
    if (day.sales === 0 && day.revenue === 0 && day.memberSales === 0 && day.memberRevenue === 0)
      this.days.delete(date);
    const counted = new Set<string>();
    for (const line of sale.lines) {
      const track = this.skus.get(line.sku);
      const cell = track?.byDate.get(date);
      if (!track || !cell) continue;
      const refunded = sale.refundedQty[line.lineNo] ?? 0;
      cell.qty -= line.qty - refunded;
      cell.revenue -= netOf(line) - refundedNet(line, refunded);
      if (!counted.has(line.sku)) {
        counted.add(line.sku);
        cell.sales -= 1;
      }
      if (cell.sales === 0 && cell.qty === 0 && cell.revenue === 0) {
        track.byDate.delete(date);
        track.dates.splice(lowerBound(track.dates, date), 1);
      }
    }
  }

  /**
   * A refund lowers the revenue of the day the sale was made (and its member revenue), and each
   * refunded line's units and amount on that SKU and day; the sale still counts as a sale.
   */
  refundSale(sale: ReportedSale, refund: Pick<SaleRefundedData, 'lines' | 'amount'>): void {
    const date = sale.businessDate;
    const day = this.days.get(date);
    if (day) {
      day.revenue -= refund.amount;
      if (sale.memberId) day.memberRevenue -= refund.amount;
    }
    for (const back of refund.lines) {
      const line = sale.lines.find((l) => l.lineNo === back.lineNo);
      const cell = line && this.skus.get(line.sku)?.byDate.get(date);
      if (!cell) continue;
      cell.qty -= back.qty;
      cell.revenue -= back.amount;
    }
  }

  /** The day's totals; zeros for a day without sales. */
  day(date: string): DayTotals {
    const day = this.days.get(date);
    return day ? { ...day } : { sales: 0, revenue: 0, memberSales: 0, memberRevenue: 0 };
  }

  /** Every SKU ever sold (voided sales' SKUs included: they may have sold on other days). */
  skusSold(): IterableIterator<string> {
    return this.skus.keys();
  }

  /** The categories of the SKUs ever sold, each SKU's as on its latest sale. */
  categoriesSold(): Set<string> {
    const categories = new Set<string>();
    for (const track of this.skus.values()) categories.add(track.category);
    return categories;
  }

  /** Name and category from the SKU's latest sale line. */
  skuLabel(sku: string): { name: string; category: string } | undefined {
    const track = this.skus.get(sku);
    return track && { name: track.name, category: track.category };
  }

  /** A SKU's sums over [from, to] (inclusive). */
  skuTotals(sku: string, from: string, to: string): SkuDayTotals {
    const totals = { qty: 0, revenue: 0, sales: 0 };
    const track = this.skus.get(sku);
    if (!track) return totals;
    for (let i = lowerBound(track.dates, from); i < track.dates.length && track.dates[i]! <= to; i++) {
      const cell = track.byDate.get(track.dates[i]!)!;
      totals.qty += cell.qty;
      totals.revenue += cell.revenue;
      totals.sales += cell.sales;
    }
    return totals;
  }

  /**
   * The latest day on or before `onOrBefore` that the SKU sold on, net of refunds (a day whose units
   * all came back is not a sale day); null if never. Walks back only over such refunded days.
   */
  lastSold(sku: string, onOrBefore: string): string | null {
    const track = this.skus.get(sku);
    if (!track) return null;
    for (let i = lowerBound(track.dates, daysAfter(onOrBefore, 1)) - 1; i >= 0; i--) {
      const date = track.dates[i]!;
      if (track.byDate.get(date)!.qty > 0) return date;
    }
    return null;
  }
}

/** What the customer paid for a line: its total less its share of the order-level deductions. */
function netOf(line: SaleLineData): number {
  return line.lineTotal - line.orderDiscountShare;
}

/** What refunds of `qty` of a line's units gave back in all, rounded as computeRefund rounds it. */
function refundedNet(line: SaleLineData, qty: number): number {
  if (qty === 0) return 0;
  return qty === line.qty ? netOf(line) : Math.round((netOf(line) * qty) / line.qty);
}

/** The first index whose value is >= `value` in an ascending array. */
function lowerBound(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Sales come in date order, so this is almost always a push. */
function insertSorted(sorted: string[], value: string): void {
  if (sorted.length === 0 || sorted[sorted.length - 1]! < value) sorted.push(value);
  else sorted.splice(lowerBound(sorted, value), 0, value);
}

// ---- Member metrics (A2, A3, A5) ----

export interface MemberMetricsQuery {
  /** Store-local business dates, both inclusive. */
  from: string;
  to: string;
  activeDays: number;
  churnedDays: number;
  /** The store's IANA zone: a member's sign-up instant is counted on its local day. */
  timeZone: string;
}

const UNKNOWN = 'unknown';

interface Mix {
  members: number;
  revenue: number;
}

/**
 * Member metrics for the store-local dates [from, to]. The definitions:
 *
 * - newMembers: member records (erased ones included, records merged into another left out: the
 *   kept record carries the earlier sign-up) whose sign-up instant falls on a local day in the
 *   range. membersAtEnd: members who are not erased or merged away and signed up on or before `to`.
 * - The purchase figures come from the members' spend logs (one entry per sale, net of refunds,
 *   voided sales gone): buyingMembers bought at least once in the range; repurchaseRate is the
 *   share of them who bought at least twice; purchaseFrequency is purchases per buying member.
 *   Erased members' tombstones keep their spend, so they count here, with age and gender unknown.
 * - top20: the ceil(20%) buying members with the highest spend in the range, their spend and its
 *   share of all buying members' spend in the range. (Which of several equal spenders make the cut
 *   changes neither figure.)
 * - activity, for membersAtEnd: the latest purchase on or before `to` at most `activeDays` days
 *   before it is active, at most `churnedDays` dormant, older churned; no purchase on or before `to`
 *   is neverBought. The four add up to membersAtEnd. (A `churnedDays` below `activeDays` leaves no
 *   one dormant.) Spend logs reach about three years back; a member whose only purchases are older
 *   falls back on their last purchase date.
 * - averageOrderValue, memberAverageOrderValue, memberShare and daily come from the day totals of
 *   every sale (walk-in included): net revenue per sale, and the members' share of net revenue.
 * - ageMix (age on `to`, from the birthday) and genderMix list every band and gender, then unknown,
 *   with the buying members in each and their spend in the range.
 *
 * Shares and rates (and purchases per member) are rounded to 4 decimals, money to whole NT$.
 *
 * Cost: one pass over the members, reading each spend log backwards from `to` down to `from` only,
 * with text comparisons (no date parsing per member), then one numeric sort of the buyers' spend:
 * 100,000 members with 1,000,000 sales take well under a second. The time zone is consulted once
 * per day of the range, never per member.
 */
export function memberMetrics(reports: ReportBook, members: MemberBook, query: MemberMetricsQuery): MemberMetrics {
  const { from, to, timeZone } = query;
  const activeDays = Math.max(0, query.activeDays);
  const churnedDays = Math.max(activeDays, query.churnedDays);
  // A last purchase on or after these dates is within the thresholds.
  const activeSince = daysBefore(to, activeDays);
  const dormantSince = daysBefore(to, churnedDays);
  const dates: string[] = [];
  for (let date = from; date <= to; date = daysAfter(date, 1)) dates.push(date);
  // dayStarts[i] is when local day i begins (the last one ends `to`), as UTC text to the second:
  // `since` is the hub's ISO instant in UTC, so it compares with these as text.
  const dayStarts = [...dates, daysAfter(to, 1)].map((date) =>
    new Date(localDayStart(date, timeZone)).toISOString().slice(0, 19),
  );
  const rangeStart = dayStarts[0]!;
  const rangeEnd = dayStarts[dayStarts.length - 1]!;
  const newByDay = dates.map(() => 0);

  let membersAtEnd = 0;
  const activity = { activeDays, churnedDays, active: 0, dormant: 0, churned: 0, neverBought: 0 };
  let buyers = 0;
  let purchases = 0;
  let repeatBuyers = 0;
  let buyerSpend = 0;
  const spends = new Float64Array(members.members.size);
  const ageMix = new Map<string, Mix>([...AGE_BANDS, UNKNOWN].map((band) => [band, { members: 0, revenue: 0 }]));
  const genderMix = new Map<string, Mix>([...GENDERS, UNKNOWN].map((gender) => [gender, { members: 0, revenue: 0 }]));
  for (const record of members.members.values()) {
    if (record.mergedInto) continue;
    const since = record.since;
    if (since >= rangeStart && since < rangeEnd) newByDay[dayIndex(dayStarts, since)]! += 1;
    const current = !record.erased && since < rangeEnd;
    if (current) membersAtEnd += 1;

    // The log is in date order: walk back past sales after `to`, stop at the first before `from`.
    let count = 0;
    let spend = 0;
    let last: string | null = null;
    const log = record.spendLog;
    for (let i = log.length - 1; i >= 0; i--) {
      const entry = log[i]!;
      if (entry.date > to) continue;
      last ??= entry.date;
      if (entry.date < from) break;
      count += 1;
      spend += entry.amount;
    }
    if (current) {
      if (last === null && record.lastPurchase !== null && record.lastPurchase <= to) last = record.lastPurchase;
      if (last === null) activity.neverBought += 1;
      else if (last >= activeSince) activity.active += 1;
      else if (last >= dormantSince) activity.dormant += 1;
      else activity.churned += 1;
    }
    if (count === 0) continue;
    spends[buyers++] = spend;
    purchases += count;
    if (count >= 2) repeatBuyers += 1;
    buyerSpend += spend;
    const birthday = record.erased ? null : (members.profiles.get(record.memberId)?.birthday ?? null);
    const gender = (record.erased ? null : record.demographics.gender) ?? UNKNOWN;
    addBuyer(ageMix.get(ageBand(birthday, to) ?? UNKNOWN), spend);
    addBuyer(genderMix.get(gender), spend);
  }

  // Math.ceil(n / 5), not n * 0.2: 15 * 0.2 is 3.0000000000000004.
  const topCount = Math.ceil(buyers / 5);
  const ranked = spends.subarray(0, buyers).sort();
  let topRevenue = 0;
  for (let i = buyers - topCount; i < buyers; i++) topRevenue += ranked[i]!;

  const totals = { sales: 0, revenue: 0, memberSales: 0, memberRevenue: 0 };
  const daily: DailyPoint[] = dates.map((date, i) => {
    const day = reports.day(date);
    totals.sales += day.sales;
    totals.revenue += day.revenue;
    totals.memberSales += day.memberSales;
    totals.memberRevenue += day.memberRevenue;
    return { date, ...day, newMembers: newByDay[i]! };
  });

  return {
    from,
    to,
    newMembers: newByDay.reduce((sum, n) => sum + n, 0),
    membersAtEnd,
    buyingMembers: buyers,
    repurchaseRate: ratio(repeatBuyers, buyers),
    purchaseFrequency: ratio(purchases, buyers),
    averageOrderValue: perSale(totals.revenue, totals.sales),
    memberAverageOrderValue: perSale(totals.memberRevenue, totals.memberSales),
    activity,
    top20: { members: topCount, revenue: topRevenue, share: ratio(topRevenue, buyerSpend) },
    memberShare: { ...totals, shareOfRevenue: ratio(totals.memberRevenue, totals.revenue) },
    ageMix: [...ageMix].map(([band, mix]) => ({ band, ...mix })),
    genderMix: [...genderMix].map(([gender, mix]) => ({ gender, ...mix })),
    daily,
  };
}

function addBuyer(mix: Mix | undefined, spend: number): void {
  if (!mix) return;
  mix.members += 1;
  mix.revenue += spend;
}

/** A share or rate to 4 decimals; 0 when there is nothing to divide by. */
function ratio(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : 0;
}

/** Whole NT$ per sale; 0 without sales. */
function perSale(revenue: number, sales: number): number {
  return sales > 0 ? Math.round(revenue / sales) : 0;
}

/** The index of the local day an instant falls on, given the days' starts (ascending). */
function dayIndex(dayStarts: readonly string[], instant: string): number {
  let low = 0;
  let high = dayStarts.length - 1;
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (dayStarts[mid]! <= instant) low = mid;
    else high = mid;
  }
  return low;
}

// One definition of a store-local day's first instant (time.ts), shared with the member filter.
export { localDayStart };

// ---- Product reports (A4) ----

export interface ProductReportQuery {
  /** Store-local business dates, both inclusive. */
  from: string;
  to: string;
  idleDays: number;
  /** Only this category (the catalog's, or the sale line's for a product gone from the catalog). */
  category?: string;
  /** How many best sellers and slow movers. */
  limit: number;
}

/**
 * Product figures over [from, to], net of refunds and voids:
 *
 * - bestSellers: the `limit` products with the most revenue (then units, then SKU) among those with
 *   units sold in the range; products no longer in the catalog count, named as on their last sale.
 * - slowMovers: the `limit` catalog products with the fewest units in the range (none included),
 *   then the least revenue, then the longest since their last sale (never first), then SKU.
 * - idle: every catalog product whose last sale on or before `to` is more than `idleDays` days
 *   before it, or that never sold; never-sold first, then the longest idle.
 * - byCategory: per category (by revenue, then name), the sums of its products' rows; `sales` adds
 *   each product's sales, so a sale with two of the category's products counts twice; `products`
 *   is the catalog products in it.
 *
 * With a category, every list holds only that category's products. Rows' `lastSold` is the latest
 * sale day on or before `to`.
 */
export function productReport(
  reports: ReportBook,
  products: ReadonlyMap<string, ProductData>,
  query: ProductReportQuery,
): ProductReport {
  const { from, to, category, limit } = query;
  const rowOf = (sku: string, name: string, productCategory: string): ProductRow => ({
    sku,
    name,
    category: productCategory,
    ...reports.skuTotals(sku, from, to),
    lastSold: reports.lastSold(sku, to),
  });
  const catalog: ProductRow[] = [];
  for (const product of products.values()) {
    if (category !== undefined && product.category !== category) continue;
    catalog.push(rowOf(product.sku, product.name, product.category));
  }
  const gone: ProductRow[] = [];
  for (const sku of reports.skusSold()) {
    if (products.has(sku)) continue;
    const label = reports.skuLabel(sku)!;
    if (category !== undefined && label.category !== category) continue;
    const row = rowOf(sku, label.name, label.category);
    if (row.sales > 0) gone.push(row);
  }
  const all = [...catalog, ...gone];

  const bestSellers = all
    .filter((row) => row.qty > 0)
    .sort((a, b) => b.revenue - a.revenue || b.qty - a.qty || compareText(a.sku, b.sku))
    .slice(0, Math.max(0, limit));
  const slowMovers = [...catalog]
    .sort((a, b) => a.qty - b.qty || a.revenue - b.revenue || compareLastSold(a, b) || compareText(a.sku, b.sku))
    .slice(0, Math.max(0, limit));
  const idle = catalog
    .filter((row) => row.lastSold === null || daysBetween(row.lastSold, to) > query.idleDays)
    .sort((a, b) => compareLastSold(a, b) || compareText(a.sku, b.sku));

  const categories = new Map<string, ProductReport['byCategory'][number]>();
  for (const row of all) {
    let sums = categories.get(row.category);
    if (!sums)
      categories.set(row.category, (sums = { category: row.category, qty: 0, revenue: 0, sales: 0, products: 0 }));
    sums.qty += row.qty;
    sums.revenue += row.revenue;
    sums.sales += row.sales;
  }
  for (const row of catalog) categories.get(row.category)!.products += 1;
  const byCategory = [...categories.values()].sort(
    (a, b) => b.revenue - a.revenue || compareText(a.category, b.category),
  );

  return { from, to, bestSellers, slowMovers, idle, idleDays: query.idleDays, byCategory };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Never sold first, then the oldest last sale. */
function compareLastSold(a: ProductRow, b: ProductRow): number {
  if (a.lastSold === b.lastSold) return 0;
  if (a.lastSold === null) return -1;
  if (b.lastSold === null) return 1;
  return compareText(a.lastSold, b.lastSold);
}
