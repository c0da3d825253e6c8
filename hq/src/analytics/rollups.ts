/**
 * Per-store, per-day totals (store_days), each member record's purchases by day and by month
 * (member_days, member_months) and each product's sales by store and day (product_days), so the
 * overview, the store comparison and the products page read a row per store and day instead of
 * every sale. Exact by construction: ingest marks the (store, day)s whose counted
 * sales it changed, in the same transaction (markSaleDaysDirty, forgetMemberInRollups), and
 * refreshRollups works the marked days out again from the sales before a report reads them.
 */
import type { Database, Queryable } from '../db/database.js';
import type { IncomingEvent } from '../ingest/event-message.js';
import { addDays, daysFrom } from './params.js';

/** The advisory lock one refresh at a time holds (two would work out the same days together). */
const ROLLUP_LOCK = 0x41_59_49_52; // "AYIR"

const SALE_EVENTS = new Set(['sale.completed', 'sale.voided', 'sale.refunded']);

/**
 * Marks the business days of these events' sales for a refresh. Called after the sale projections
 * in the transaction that stores the events: a void or a refund lands on its sale's day, however
 * late it comes; one that comes before its sale waits in the sale's row until the sale marks it.
 */
export async function markSaleDaysDirty(tx: Queryable, events: IncomingEvent[]): Promise<void> {
  const sales = events.filter((e) => SALE_EVENTS.has(e.type));
  if (sales.length === 0) return;
  await tx.query(
    `INSERT INTO rollup_dirty_days (store_id, business_date)
     SELECT DISTINCT s.store_id, s.business_date
     FROM sales s JOIN unnest($1::text[], $2::text[]) AS e (store_id, sale_id)
       ON s.store_id = e.store_id AND s.sale_id = e.sale_id
     WHERE s.business_date IS NOT NULL
     ON CONFLICT DO NOTHING`,
    [sales.map((e) => e.storeId), sales.map((e) => (e.data as { saleId: string }).saleId)],
  );
}

/**
 * An erased member's id leaves the rollups with the erasure: their rows go and their days are
 * marked, to be worked out again under the anonymous id the sales now carry.
 */
export async function forgetMemberInRollups(tx: Queryable, memberId: string): Promise<void> {
  await tx.query(
    `WITH gone AS (DELETE FROM member_days WHERE member_id = $1 RETURNING store_id, business_date)
     INSERT INTO rollup_dirty_days (store_id, business_date)
     SELECT DISTINCT store_id, business_date FROM gone ON CONFLICT DO NOTHING`,
    [memberId],
  );
  await tx.query('DELETE FROM member_months WHERE member_id = $1', [memberId]);
}

/** Works out the marked days again from the sales; returns how many (store, day)s. */
export async function refreshRollupsIn(tx: Queryable): Promise<number> {
  await tx.query(`SELECT pg_advisory_xact_lock(${ROLLUP_LOCK})`);
  // Ingest marking a day meanwhile waits for this delete, or marks it again for the next refresh.
  const dirty = await tx.query<{ store_id: string; business_date: string }>(
    `DELETE FROM rollup_dirty_days RETURNING store_id, to_char(business_date, 'YYYY-MM-DD') AS business_date`,
  );
  if (dirty.length === 0) return 0;
  const days = [dirty.map((d) => d.store_id), dirty.map((d) => d.business_date)];
  const DIRTY = 'unnest($1::text[], $2::date[]) AS x (store_id, business_date)';
  const OF_DAY = 's.store_id = x.store_id AND s.business_date = x.business_date';
  await tx.query(`DELETE FROM store_days s USING ${DIRTY} WHERE ${OF_DAY}`, days);
  await tx.query(
    `INSERT INTO store_days (store_id, business_date, sales, revenue, member_revenue, refunds, refunded_sales)
     SELECT s.store_id, s.business_date, count(*), sum(s.net),
            COALESCE(sum(s.net) FILTER (WHERE s.member_id IS NOT NULL), 0),
            sum(s.refunded), count(*) FILTER (WHERE s.refunded > 0)
     FROM counted_sales s JOIN ${DIRTY} ON ${OF_DAY}
     GROUP BY s.store_id, s.business_date`,
    days,
  );
  await tx.query(`DELETE FROM member_days s USING ${DIRTY} WHERE ${OF_DAY}`, days);
  await tx.query(
    `INSERT INTO member_days (store_id, business_date, member_id, sales)
     SELECT s.store_id, s.business_date, s.member_id, count(*)
     FROM counted_sales s JOIN ${DIRTY} ON ${OF_DAY}
     WHERE s.member_id IS NOT NULL
     GROUP BY s.store_id, s.business_date, s.member_id`,
    days,
  );
  await tx.query(`DELETE FROM product_days s USING ${DIRTY} WHERE ${OF_DAY}`, days);
  await tx.query(
    `INSERT INTO product_days (store_id, business_date, sku, qty, revenue, baskets)
     SELECT s.store_id, s.business_date, l.sku, sum(l.qty), sum(l.amount), count(DISTINCT l.sale_id)
     FROM sales s JOIN ${DIRTY} ON ${OF_DAY}
     JOIN sale_lines l ON l.store_id = s.store_id AND l.sale_id = s.sale_id
     WHERE s.completed AND NOT s.voided
     GROUP BY s.store_id, s.business_date, l.sku`,
    days,
  );
  const MONTHS = `(SELECT DISTINCT store_id, date_trunc('month', business_date)::date AS month FROM ${DIRTY}) AS x`;
  await tx.query(
    `DELETE FROM member_months s USING ${MONTHS} WHERE s.store_id = x.store_id AND s.month = x.month`,
    days,
  );
  await tx.query(
    `INSERT INTO member_months (store_id, month, member_id, sales, first_day, last_day)
     SELECT s.store_id, x.month, s.member_id, sum(s.sales), min(s.business_date), max(s.business_date)
     FROM member_days s JOIN ${MONTHS}
       ON s.store_id = x.store_id AND s.business_date >= x.month
      AND s.business_date < (x.month + interval '1 month')::date
     GROUP BY s.store_id, x.month, s.member_id`,
    days,
  );
  return dirty.length;
}

/** `refreshRollupsIn` in a transaction of its own. */
export function refreshRollups(db: Database): Promise<number> {
  return db.transaction((tx) => refreshRollupsIn(tx));
}

/**
 * A report over the rollups: the marked days worked out first, then `read`. Without JIT: compiling
 * the plans of these few large hash joins took PostgreSQL longer than running them (seconds at
 * millions of member rows); PGlite has none, the setting changes nothing there.
 */
export async function readRollups<T>(db: Database, read: (tx: Queryable) => Promise<T>): Promise<T> {
  await refreshRollups(db);
  return db.transaction(async (tx) => {
    await tx.query('SET LOCAL jit = off');
    return read(tx);
  });
}

/** The first day of the date's month. */
export const firstOfMonth = (date: string) => `${date.slice(0, 8)}01`;
// A month has at most 31 days: 31 days after its first is in the next month.
const firstOfNextMonth = (date: string) => firstOfMonth(addDays(firstOfMonth(date), 31));

/**
 * Each member record's purchases per store in [from, to], as rows of (store_id, member_id, sales,
 * first_day, last_day) to be summed by the caller: the range's whole months from member_months,
 * the days of its partial months from member_days. `at` is the number of its first parameter: the
 * caller appends `params` to its own.
 */
export function memberPurchasesIn(from: string, to: string, at: number): { sql: string; params: string[] } {
  const wholeFrom = from === firstOfMonth(from) ? from : firstOfNextMonth(from);
  const afterTo = addDays(to, 1);
  const wholeEnd = afterTo === firstOfMonth(afterTo) ? afterTo : firstOfMonth(to);
  if (daysFrom(wholeFrom, wholeEnd) <= 0) {
    return {
      sql: `SELECT store_id, member_id, sales, business_date AS first_day, business_date AS last_day
            FROM member_days WHERE business_date BETWEEN $${at}::date AND $${at + 1}::date`,
      params: [from, to],
    };
  }
  // [from, wholeFrom) and [wholeEnd, to] by day; [wholeFrom, wholeEnd) by month.
  return {
    sql: `SELECT store_id, member_id, sales, first_day, last_day
          FROM member_months WHERE month >= $${at + 1}::date AND month < $${at + 2}::date
          UNION ALL
          SELECT store_id, member_id, sales, business_date, business_date FROM member_days
          WHERE (business_date >= $${at}::date AND business_date < $${at + 1}::date)
             OR (business_date >= $${at + 2}::date AND business_date <= $${at + 3}::date)`,
    params: [from, wholeFrom, wholeEnd, to],
  };
}

/**
 * The person a member record's purchases lead to, as counted_sales gives it: nobody for an erased
 * member; `m` is the record's row in members (left-joined: a sale may name a record HQ has not
 * heard of yet), `r` the rollup row.
 */
export const PERSON_OF_ROLLUP_ROW = `CASE WHEN r.member_id LIKE 'erased-%' OR m.erased THEN NULL
  ELSE COALESCE(m.person_id, r.store_id || '/' || r.member_id) END`;
