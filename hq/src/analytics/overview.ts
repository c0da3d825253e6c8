/**
 * The chain overview: revenue (NT$, net of refunds), sales, average basket, members who bought and
 * who are new, per business day and per store, over a range of business days.
 */
import type { Queryable } from '../db/database.js';
import { addDays, checked, DateRange, daysFrom, num, share } from './params.js';

export const OverviewParams = DateRange;

export interface Overview {
  from: string;
  to: string;
  /** NT$, whole dollars: completed sales not voided, less their refunds. */
  revenue: number;
  sales: number;
  /** revenue / sales, rounded to the dollar. */
  averageBasket: number;
  /** Revenue of sales to a member (erased members included: their sales stay member sales). */
  memberRevenue: number;
  memberShare: number;
  /** Persons (not member records) who bought in the range. */
  membersActive: number;
  /** Persons whose first registration in any store falls in the range. */
  newMembers: number;
  /** Active persons who had bought before the range. */
  returningMembers: number;
  returningShare: number;
  days: { date: string; revenue: number; sales: number }[];
  stores: { storeId: string; revenue: number; sales: number }[];
}

export async function overview(db: Queryable, params: DateRange): Promise<Overview> {
  const { from, to } = checked(OverviewParams, params);
  // One pass over the range's sales: the chain's totals, each day's and each store's.
  const groups = await db.query<{
    date: string | null;
    store_id: string | null;
    sales: string;
    revenue: string | null;
    member_revenue: string | null;
  }>(
    `SELECT to_char(business_date, 'YYYY-MM-DD') AS date, store_id, count(*) AS sales, sum(net) AS revenue,
            sum(net) FILTER (WHERE member_id IS NOT NULL) AS member_revenue
     FROM counted_sales WHERE business_date BETWEEN $1 AND $2
     GROUP BY GROUPING SETS ((), (business_date), (store_id))`,
    [from, to],
  );
  const totals = groups.find((g) => g.date === null && g.store_id === null) ?? {
    sales: '0',
    revenue: null,
    member_revenue: null,
  };
  const byDay = new Map(groups.filter((g) => g.date !== null).map((g) => [g.date!, g]));
  const stores = groups.filter((g) => g.store_id !== null).sort((a, b) => (a.store_id! < b.store_id! ? -1 : 1));
  const days: Overview['days'] = [];
  for (let day = 0; day <= daysFrom(from, to); day++) {
    const date = addDays(from, day);
    const group = byDay.get(date);
    days.push({ date, revenue: num(group?.revenue), sales: num(group?.sales) });
  }
  const [persons] = await db.query<Record<string, string | null>>(
    `WITH p AS (
       SELECT person_id, min(business_date) AS first_day, bool_or(business_date >= $1) AS active
       FROM counted_sales WHERE person_id IS NOT NULL AND business_date <= $2 GROUP BY person_id)
     SELECT count(*) FILTER (WHERE active) AS active, count(*) FILTER (WHERE active AND first_day < $1) AS returning
     FROM p`,
    [from, to],
  );
  const [joined] = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM persons WHERE first_registered_date BETWEEN $1 AND $2',
    [from, to],
  );
  const revenue = num(totals.revenue);
  const sales = num(totals.sales);
  const memberRevenue = num(totals.member_revenue);
  const active = num(persons!.active);
  const returning = num(persons!.returning);
  return {
    from,
    to,
    revenue,
    sales,
    averageBasket: sales > 0 ? Math.round(revenue / sales) : 0,
    memberRevenue,
    memberShare: share(memberRevenue, revenue),
    membersActive: active,
    newMembers: num(joined!.n),
    returningMembers: returning,
    returningShare: share(returning, active),
    days,
    stores: stores.map((s) => ({ storeId: s.store_id!, revenue: num(s.revenue), sales: num(s.sales) })),
  };
}
