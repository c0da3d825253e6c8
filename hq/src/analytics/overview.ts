/**
 * The chain overview: revenue (NT$, net of refunds), sales, average basket, members who bought and
 * who are new, per business day and per store, over a range of business days. Read from the
 * rollups (rollups.ts), not the sales: a year of a large chain answers within a second.
 */
import type { Database, Queryable } from '../db/database.js';
import { addDays, checked, DateRange, daysFrom, num, share } from './params.js';
import { firstOfMonth, memberPurchasesIn, PERSON_OF_ROLLUP_ROW, readRollups } from './rollups.js';

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

export async function overview(db: Database, params: DateRange): Promise<Overview> {
  const { from, to } = checked(OverviewParams, params);
  return readRollups(db, (tx) => overviewFromRollups(tx, from, to));
}

async function overviewFromRollups(db: Queryable, from: string, to: string): Promise<Overview> {
  // The chain's totals, each day's and each store's, from the stores' day totals.
  const groups = await db.query<{
    date: string | null;
    store_id: string | null;
    sales: string;
    revenue: string | null;
    member_revenue: string | null;
  }>(
    `SELECT to_char(business_date, 'YYYY-MM-DD') AS date, store_id, sum(sales) AS sales, sum(revenue) AS revenue,
            sum(member_revenue) AS member_revenue
     FROM store_days WHERE business_date BETWEEN $1 AND $2
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
  // Persons are not day sums: the range's member records (whole months, then the partial months'
  // days) resolved to their persons now, and whether any record of theirs bought before the range.
  const purchases = memberPurchasesIn(from, to, 3);
  const [persons] = await db.query<Record<string, string | null>>(
    `WITH active AS (
       SELECT DISTINCT ${PERSON_OF_ROLLUP_ROW} AS person_id
       FROM (${purchases.sql}) r LEFT JOIN members m ON m.store_id = r.store_id AND m.member_id = r.member_id),
     before AS (
       SELECT DISTINCT ${PERSON_OF_ROLLUP_ROW} AS person_id
       FROM member_months r LEFT JOIN members m ON m.store_id = r.store_id AND m.member_id = r.member_id
       WHERE r.month <= $2::date AND r.first_day < $1::date)
     SELECT count(*) AS active, count(before.person_id) AS returning
     FROM active LEFT JOIN before USING (person_id) WHERE active.person_id IS NOT NULL`,
    [from, firstOfMonth(from), ...purchases.params],
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
