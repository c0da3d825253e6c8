/**
 * Stores side by side over a range of business days, with the chain's median of each figure: what
 * a store sells, how much of it to members, how many sign up, what goes back as refunds.
 */
import type { Queryable } from '../db/database.js';
import { checked, DateRange, isoTime, num, share } from './params.js';

export const StoresCompareParams = DateRange;

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
  /** The newest event HQ holds from the store (when the hub recorded it). */
  lastEventAt: string | null;
}

export interface StoresCompare {
  from: string;
  to: string;
  stores: StoreFigures[];
  median: Pick<StoreFigures, 'revenue' | 'sales' | 'averageBasket' | 'memberShare' | 'repeatShare' | 'newMembers'>;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function storesCompare(db: Queryable, params: DateRange): Promise<StoresCompare> {
  const { from, to } = checked(StoresCompareParams, params);
  const rows = await db.query<Record<string, string | Date | null>>(
    // One pass over the range's sales: each store's totals, and its buyers with their purchase counts.
    `WITH g AS (
       SELECT store_id, person_id, GROUPING(person_id) AS whole_store, count(*) AS sales, sum(net) AS revenue,
              sum(net) FILTER (WHERE member_id IS NOT NULL) AS member_revenue,
              sum(refunded) AS refunds, count(*) FILTER (WHERE refunded > 0) AS refunded_sales
       FROM counted_sales WHERE business_date BETWEEN $1 AND $2
       GROUP BY GROUPING SETS ((store_id), (store_id, person_id))),
     s AS (SELECT * FROM g WHERE whole_store = 1),
     r AS (
       SELECT store_id, count(*) AS buyers, count(*) FILTER (WHERE sales > 1) AS repeaters
       FROM g WHERE whole_store = 0 AND person_id IS NOT NULL GROUP BY store_id),
     n AS (
       SELECT store_id, count(*) AS new_members FROM members
       WHERE registered AND NOT erased AND merged_into IS NULL AND registered_date BETWEEN $1 AND $2
       GROUP BY store_id),
     l AS (SELECT store_id, max(last_event_at) AS last_event_at FROM store_streams GROUP BY store_id),
     ids AS (SELECT store_id FROM s UNION SELECT store_id FROM n UNION SELECT store_id FROM l)
     SELECT ids.store_id, s.sales, s.revenue, s.member_revenue, s.refunds, s.refunded_sales,
            r.buyers, r.repeaters, n.new_members, l.last_event_at
     FROM ids LEFT JOIN s USING (store_id) LEFT JOIN r USING (store_id) LEFT JOIN n USING (store_id)
     LEFT JOIN l USING (store_id)
     ORDER BY ids.store_id`,
    [from, to],
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
      lastEventAt: isoTime(row.last_event_at as Date | string | null),
    };
  });
  const medianOf = (pick: (s: StoreFigures) => number) => median(stores.map(pick));
  return {
    from,
    to,
    stores,
    median: {
      revenue: medianOf((s) => s.revenue),
      sales: medianOf((s) => s.sales),
      averageBasket: medianOf((s) => s.averageBasket),
      memberShare: medianOf((s) => s.memberShare),
      repeatShare: medianOf((s) => s.repeatShare),
      newMembers: medianOf((s) => s.newMembers),
    },
  };
}
