/**
 * Chain-wide customers over a range of business days: RFM over persons (a person's purchases in
 * every store together), scored and named exactly as a store's hub scores its members, the persons
 * who buy in more than one store, and how concentrated the revenue is.
 */
import { quintiles, rfmSegment } from '../../../hub/src/domain/rfm.js';
import { RFM_SEGMENTS, type RfmSegmentName } from '../../../hub/src/protocol/crm.js';
import type { Queryable } from '../db/database.js';
import { checked, DateRange, daysFrom, num, share } from './params.js';

export const CustomersParams = DateRange;

export interface Customers {
  from: string;
  /** RFM is as of this day: recency counts days from a person's last purchase to it. */
  to: string;
  /** NT$, net of refunds, every sale in the range. */
  revenue: number;
  /** Of it, sales to members (erased members' included) and to walk-ins. */
  memberRevenue: number;
  walkInRevenue: number;
  /** Persons who bought in the range (erased members are nobody). */
  persons: number;
  segments: { segment: RfmSegmentName; persons: number; revenue: number; share: number }[];
  /** Quintile bounds as the hub gives them: days since, purchases, NT$. */
  thresholds: { r: number[]; f: number[]; m: number[] };
  /** Persons who bought in two stores or more in the range, and their share of the revenue. */
  crossStore: { persons: number; revenue: number; revenueShare: number };
  /** The share of the persons' revenue spent by the top 20 % of them. */
  top20Share: number;
}

export async function customers(db: Queryable, params: DateRange): Promise<Customers> {
  const { from, to } = checked(CustomersParams, params);
  const [totals] = await db.query<Record<string, string | null>>(
    `SELECT sum(net) AS revenue, sum(net) FILTER (WHERE member_id IS NOT NULL) AS member_revenue
     FROM counted_sales WHERE business_date BETWEEN $1 AND $2`,
    [from, to],
  );
  const persons = await db.query<{ last: string; purchases: string; spend: string | null; stores: string }>(
    `SELECT to_char(max(business_date), 'YYYY-MM-DD') AS last, count(*) AS purchases, sum(net) AS spend,
            count(DISTINCT store_id) AS stores
     FROM counted_sales WHERE person_id IS NOT NULL AND business_date BETWEEN $1 AND $2
     GROUP BY person_id`,
    [from, to],
  );
  const n = persons.length;
  const recency = new Float64Array(n);
  const frequency = new Float64Array(n);
  const monetary = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Negated so that for all three higher is better, as the hub scores them.
    recency[i] = 0 - daysFrom(persons[i]!.last, to);
    frequency[i] = num(persons[i]!.purchases);
    monetary[i] = num(persons[i]!.spend);
  }
  const r = quintiles(recency);
  const f = quintiles(frequency);
  const m = quintiles(monetary);
  const counts = new Map<RfmSegmentName, { persons: number; revenue: number }>(
    RFM_SEGMENTS.map((segment) => [segment, { persons: 0, revenue: 0 }]),
  );
  let crossPersons = 0;
  let crossRevenue = 0;
  for (let i = 0; i < n; i++) {
    const segment = rfmSegment({ r: r.scores[i]!, f: f.scores[i]!, m: m.scores[i]! }, frequency[i]!);
    const entry = counts.get(segment)!;
    entry.persons += 1;
    entry.revenue += monetary[i]!;
    if (num(persons[i]!.stores) >= 2) {
      crossPersons += 1;
      crossRevenue += monetary[i]!;
    }
  }
  const revenue = num(totals!.revenue);
  const memberRevenue = num(totals!.member_revenue);
  const spends = [...monetary].sort((a, b) => b - a);
  const personsRevenue = spends.reduce((sum, spend) => sum + spend, 0);
  const top = spends.slice(0, Math.ceil(n * 0.2)).reduce((sum, spend) => sum + spend, 0);
  return {
    from,
    to,
    revenue,
    memberRevenue,
    walkInRevenue: revenue - memberRevenue,
    persons: n,
    segments: RFM_SEGMENTS.map((segment) => ({
      segment,
      ...counts.get(segment)!,
      share: share(counts.get(segment)!.persons, n),
    })),
    thresholds: { r: r.bounds.map((days) => 0 - days), f: f.bounds, m: m.bounds },
    crossStore: { persons: crossPersons, revenue: crossRevenue, revenueShare: share(crossRevenue, revenue) },
    top20Share: share(top, personsRevenue),
  };
}
