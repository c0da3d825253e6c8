/**
 * Stores side by side over a range of business days, with the chain's median of each figure: what
 * a store sells, how much of it to members, how many sign up, what goes back as refunds, and how
 * many of its members still come. Read from the rollups (rollups.ts), not the sales.
 */
import type { Database, Queryable } from '../db/database.js';
import { addDays, checked, DateRange, isoTime, num, share } from './params.js';
import { firstOfMonth, memberPurchasesIn, PERSON_OF_ROLLUP_ROW, readRollups } from './rollups.js';

export const StoresCompareParams = DateRange;

/**
 * A member's last purchase on or before the range's end at most this many days before it: active;
 * at most CHURNED_DAYS: dormant; older: churned. The hub's member report's defaults
 * (DEFAULT_ACTIVE_DAYS, DEFAULT_CHURNED_DAYS), so a store reads the same at HQ as on its own report.
 */
export const ACTIVE_DAYS = 90;
export const CHURNED_DAYS = 180;

export interface StoreFigures {
  storeId: string;
  /** NT$, net of refunds. */
  revenue: number;
  sales: number;
  averageBasket: number;
  /** Share of the store's revenue from sales to members. */
  memberShare: number;
  /** Of the persons who bought at the store in the range, the share who bought there twice or more. */
  repeatShare: number;
  /** Member records signed up at the store in the range (not merged away, not erased). */
  newMembers: number;
  /** NT$ refunded of the range's sales, and how many of them had a refund. */
  refunds: number;
  refundedSales: number;
  /**
   * The store's members at the range's end (signed up by then, not erased or merged away), by their
   * last purchase at the store on or before it (any record of the same person there counts):
   * active, dormant or churned (see ACTIVE_DAYS), or never bought.
   */
  activeMembers: number;
  dormantMembers: number;
  churnedMembers: number;
  neverBoughtMembers: number;
  /** The newest event HQ holds from the store (when the hub recorded it). */
  lastEventAt: string | null;
}

/** The figures the chain's median is given for. */
export const MEDIAN_FIGURES = [
  'revenue',
  'sales',
  'averageBasket',
  'memberShare',
  'repeatShare',
  'newMembers',
  'activeMembers',
  'dormantMembers',
  'churnedMembers',
] as const;
type MedianFigure = (typeof MEDIAN_FIGURES)[number];

export interface StoresCompare {
  from: string;
  to: string;
  /** The members' activity thresholds the figures used (ACTIVE_DAYS, CHURNED_DAYS). */
  activeDays: number;
  churnedDays: number;
  stores: StoreFigures[];
  median: Pick<StoreFigures, MedianFigure>;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function storesCompare(db: Database, params: DateRange): Promise<StoresCompare> {
  const { from, to } = checked(StoresCompareParams, params);
  return readRollups(db, (tx) => compareFromRollups(tx, from, to));
}

async function compareFromRollups(db: Queryable, from: string, to: string): Promise<StoresCompare> {
  const activeSince = addDays(to, -ACTIVE_DAYS);
  const dormantSince = addDays(to, -CHURNED_DAYS);
  // $1 from, $2 to, $3 activeSince, $4 dormantSince, $5 its month; then the two member purchase reads.
  const inRange = memberPurchasesIn(from, to, 6);
  const recent = memberPurchasesIn(dormantSince, to, 6 + inRange.params.length);
  const rows = await db.query<Record<string, string | Date | null>>(
    `WITH s AS (
       SELECT store_id, sum(sales) AS sales, sum(revenue) AS revenue, sum(member_revenue) AS member_revenue,
              sum(refunds) AS refunds, sum(refunded_sales) AS refunded_sales
       FROM store_days WHERE business_date BETWEEN $1 AND $2 GROUP BY store_id),
     -- Each store's buyers (persons) in the range with their purchase counts there.
     b AS (
       SELECT r.store_id, ${PERSON_OF_ROLLUP_ROW} AS person_id, sum(r.sales) AS sales
       FROM (${inRange.sql}) r LEFT JOIN members m ON m.store_id = r.store_id AND m.member_id = r.member_id
       GROUP BY 1, 2),
     rb AS (
       SELECT store_id, count(*) AS buyers, count(*) FILTER (WHERE sales > 1) AS repeaters
       FROM b WHERE person_id IS NOT NULL GROUP BY store_id),
     n AS (
       SELECT store_id, count(*) AS new_members FROM members
       WHERE registered AND NOT erased AND merged_into IS NULL AND registered_date BETWEEN $1 AND $2
       GROUP BY store_id),
     -- Each person's last purchase at a store within CHURNED_DAYS of the end, and who bought there before.
     lately AS (
       SELECT r.store_id, ${PERSON_OF_ROLLUP_ROW} AS person_id, max(r.last_day) AS last_day
       FROM (${recent.sql}) r LEFT JOIN members m ON m.store_id = r.store_id AND m.member_id = r.member_id
       GROUP BY 1, 2),
     earlier AS (
       SELECT DISTINCT r.store_id, ${PERSON_OF_ROLLUP_ROW} AS person_id
       FROM member_months r LEFT JOIN members m ON m.store_id = r.store_id AND m.member_id = r.member_id
       WHERE r.month <= $5::date AND r.first_day < $4::date),
     a AS (
       SELECT k.store_id,
              count(*) FILTER (WHERE lately.last_day >= $3::date) AS active,
              count(*) FILTER (WHERE lately.last_day < $3::date) AS dormant,
              count(*) FILTER (WHERE lately.last_day IS NULL AND earlier.person_id IS NOT NULL) AS churned,
              count(*) FILTER (WHERE lately.last_day IS NULL AND earlier.person_id IS NULL) AS never_bought
       FROM members k
       LEFT JOIN lately ON lately.store_id = k.store_id AND lately.person_id = k.person_id
       LEFT JOIN earlier ON earlier.store_id = k.store_id AND earlier.person_id = k.person_id
       WHERE k.registered AND NOT k.erased AND k.merged_into IS NULL AND k.registered_date <= $2
       GROUP BY k.store_id),
     l AS (SELECT store_id, max(last_event_at) AS last_event_at FROM store_streams GROUP BY store_id),
     ids AS (SELECT store_id FROM s UNION SELECT store_id FROM n UNION SELECT store_id FROM a
             UNION SELECT store_id FROM l)
     SELECT ids.store_id, s.sales, s.revenue, s.member_revenue, s.refunds, s.refunded_sales,
            rb.buyers, rb.repeaters, n.new_members, a.active, a.dormant, a.churned, a.never_bought, l.last_event_at
     FROM ids LEFT JOIN s USING (store_id) LEFT JOIN rb USING (store_id) LEFT JOIN n USING (store_id)
     LEFT JOIN a USING (store_id) LEFT JOIN l USING (store_id)
     ORDER BY ids.store_id`,
    [from, to, activeSince, dormantSince, firstOfMonth(dormantSince), ...inRange.params, ...recent.params],
  );
  const stores = rows.map((row): StoreFigures => {
    const revenue = num(row.revenue);
    const sales = num(row.sales);
    return {
      storeId: String(row.store_id),
      revenue,
      sales,
      averageBasket: sales > 0 ? Math.round(revenue / sales) : 0,
      memberShare: share(num(row.member_revenue), revenue),
      repeatShare: share(num(row.repeaters), num(row.buyers)),
      newMembers: num(row.new_members),
      refunds: num(row.refunds),
      refundedSales: num(row.refunded_sales),
      activeMembers: num(row.active),
      dormantMembers: num(row.dormant),
      churnedMembers: num(row.churned),
      neverBoughtMembers: num(row.never_bought),
      lastEventAt: isoTime(row.last_event_at as Date | string | null),
    };
  });
  return {
    from,
    to,
    activeDays: ACTIVE_DAYS,
    churnedDays: CHURNED_DAYS,
    stores,
    median: Object.fromEntries(
      MEDIAN_FIGURES.map((figure) => [figure, median(stores.map((store) => store[figure]))]),
    ) as StoresCompare['median'],
  };
}
