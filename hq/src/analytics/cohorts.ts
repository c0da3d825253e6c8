/**
 * Monthly cohorts of persons by the month of their first purchase anywhere in the chain, and the
 * share of each cohort who bought again in each month after it.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Queryable } from '../db/database.js';
import { BusinessDate, checked, num, share } from './params.js';

export const CohortsParams = Type.Object(
  {
    months: Type.Integer({
      minimum: 1,
      maximum: 36,
      description: 'How many monthly cohorts, up to the month of `to`.',
    }),
    to: Type.Optional({ ...BusinessDate, description: 'The last business day counted (default: today, UTC).' }),
  },
  { additionalProperties: false },
);
export type CohortsParams = Static<typeof CohortsParams>;

export interface Cohort {
  /** YYYY-MM: the month of these persons' first purchase. */
  month: string;
  persons: number;
  /** retained[k]: persons of the cohort who bought in the k-th month after it (retained[0] = persons). */
  retained: number[];
  retention: number[];
}

export async function cohorts(db: Queryable, params: CohortsParams): Promise<{ to: string; cohorts: Cohort[] }> {
  const { months, to = new Date().toISOString().slice(0, 10) } = checked(CohortsParams, params);
  const endYear = Number(to.slice(0, 4));
  const endMonth = Number(to.slice(5, 7)) - 1;
  const monthName = (offset: number) => {
    const d = new Date(Date.UTC(endYear, endMonth + offset, 1));
    return d.toISOString().slice(0, 7);
  };
  const first = `${monthName(1 - months)}-01`;
  const rows = await db.query<{ cohort: string; since: number | string; persons: string }>(
    `WITH pm AS (
       SELECT DISTINCT person_id, date_trunc('month', business_date)::date AS month
       FROM counted_sales WHERE person_id IS NOT NULL AND business_date <= $1),
     f AS (SELECT person_id, min(month) AS cohort FROM pm GROUP BY person_id)
     SELECT to_char(f.cohort, 'YYYY-MM') AS cohort,
            ((extract(year FROM pm.month) - extract(year FROM f.cohort)) * 12
              + extract(month FROM pm.month) - extract(month FROM f.cohort))::int AS since,
            count(*) AS persons
     FROM f JOIN pm USING (person_id)
     WHERE f.cohort >= $2::date
     GROUP BY 1, 2`,
    [to, first],
  );
  const count = new Map(rows.map((row) => [`${row.cohort} ${num(row.since)}`, num(row.persons)]));
  const list: Cohort[] = [];
  for (let i = 0; i < months; i++) {
    const month = monthName(i + 1 - months);
    const persons = count.get(`${month} 0`) ?? 0;
    const retained = Array.from({ length: months - i }, (_, k) => count.get(`${month} ${k}`) ?? 0);
    list.push({ month, persons, retained, retention: retained.map((kept) => share(kept, persons)) });
  }
  return { to, cohorts: list };
}
