/**
 * How long HQ's dashboard figures take over a chain's year. One JSON line per metric on stdout,
 * {"metric","value","unit","baseline","ratio"}; progress on stderr.
 *
 *   hq_overview_ms         the median of AYI_BENCH_HQ_CALLS calls of the chain overview over the
 *                          year, read from the rollups (store_days, member_days, member_months).
 *                          Baseline: the same figures worked out from the sales themselves (the
 *                          counted_sales view, as the overview read them before the rollups), the
 *                          median of AYI_BENCH_HQ_NAIVE_CALLS calls. ratio = value / baseline.
 *   hq_stores_compare_ms   the same for the store comparison (members' activity included).
 *   hq_dashboard_ms        both together, as the overview and the stores pages ask them.
 *   hq_products_ms         the products page's best sellers and categories over the year, read from
 *                          product_days; baseline: the same figures from the sale lines (the query
 *                          before product_days), compared first: the bench fails if they differ.
 *   hq_rollup_backfill_s   working out the rollups of the whole year at once (what migration 010
 *                          does to an HQ upgraded in place). Baseline: one pass of the naive
 *                          overview over the same sales.
 *
 * The chain: AYI_BENCH_HQ_STORES stores, AYI_BENCH_HQ_MEMBERS (per store) members, some sharing a
 * phone number across stores, and AYI_BENCH_HQ_SALES sales over 2026, a third to members (a few
 * members buy most), 2 % refunded in part, 0.5 % voided, two lines each of 150 products. The rows
 * are written straight into the tables with SQL generate_series, not through ingest: 5,000,000 sales through ingest take hours
 * (ingest's own speed is hq-ingest.ts's). The figures never read the events table, so it stays empty.
 * The rollups are then worked out as the migration's backfill does, and the answers of both paths
 * are compared: the bench fails if they differ.
 *
 * Environment: AYI_BENCH_HQ_STORES (50), AYI_BENCH_HQ_SALES (200000), AYI_BENCH_HQ_MEMBERS (400),
 * AYI_BENCH_HQ_CALLS (7), AYI_BENCH_HQ_NAIVE_CALLS (3); AYI_BENCH_HQ_DATABASE_URL runs it on that
 * (empty) PostgreSQL database instead of PGlite in a temporary directory. The issue's size:
 * AYI_BENCH_HQ_STORES=200 AYI_BENCH_HQ_SALES=5000000 AYI_BENCH_HQ_MEMBERS=2000.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { overview, type Overview } from '../../hq/src/analytics/overview.ts';
import { products } from '../../hq/src/analytics/products.ts';
import { addDays, share } from '../../hq/src/analytics/params.ts';
import { refreshRollups } from '../../hq/src/analytics/rollups.ts';
import { ACTIVE_DAYS, CHURNED_DAYS, storesCompare, type StoresCompare } from '../../hq/src/analytics/stores-compare.ts';
import { openDatabase, type Database } from '../../hq/src/db/database.ts';
import { migrate } from '../../hq/src/db/migrations.ts';
import { emit, progress, removeUnlessKept, runBench } from './report.ts';

const env = process.env;
const STORES = Number(env.AYI_BENCH_HQ_STORES ?? 50);
const SALES = Number(env.AYI_BENCH_HQ_SALES ?? 200_000);
const MEMBERS = Number(env.AYI_BENCH_HQ_MEMBERS ?? 400);
const CALLS = Number(env.AYI_BENCH_HQ_CALLS ?? 7);
const NAIVE_CALLS = Number(env.AYI_BENCH_HQ_NAIVE_CALLS ?? 3);
const YEAR = { from: '2026-01-01', to: '2026-12-31' };

const storeId = (index: number) => `store-${String(index + 1).padStart(3, '0')}`;

/** Members and a year of sales, store by store, straight into the tables. */
async function fill(db: Database): Promise<void> {
  await db.query('SELECT setseed(0.2026)');
  const phones = Math.max(1, Math.round(STORES * MEMBERS * 0.8));
  const started = performance.now();
  for (let s = 0; s < STORES; s++) {
    const store = storeId(s);
    // Signed up over 2025 and 2026; about one in five phone numbers is a member in two stores.
    await db.query(
      `INSERT INTO members (store_id, member_id, registered, registered_at, registered_date, phone_hash, person_id)
       SELECT $1, 'm-' || k, true, d::timestamptz, d, h, 'p-' || md5(h)
       FROM (SELECT k, date '2025-01-01' + floor(random() * 700)::int AS d,
                    md5('phone-' || floor(random() * $2)::int) AS h
             FROM generate_series(0, $3 - 1) AS k) m`,
      [store, phones, MEMBERS],
    );
    const sales = Math.round(SALES / STORES);
    await db.query(
      `INSERT INTO sales (store_id, sale_id, completed, business_date, at, member_id, total, refunded, voided, line_count)
       SELECT $1, 's-' || i, true, d, d + time '12:00', m, total,
              CASE WHEN r_refund < 0.02 THEN total / 2 ELSE 0 END, r_refund > 0.995, 2
       FROM (SELECT i, date '2026-01-01' + ((i * 365) / $2)::int AS d,
                    CASE WHEN random() < 0.33 THEN 'm-' || floor(power(random(), 2) * $3)::int END AS m,
                    70 + floor(random() * 300)::bigint AS total, random() AS r_refund
             FROM generate_series(0, $2 - 1) AS i) g`,
      [store, sales, MEMBERS],
    );
    // Two lines a sale, of 150 products (a few sell most), each half the sale's total.
    await db.query(
      `INSERT INTO sale_lines (store_id, sale_id, line_no, sku, qty, amount)
       SELECT store_id, sale_id, n, 'P' || lpad(floor(power(random(), 2) * 150)::int::text, 3, '0'),
              1 + floor(random() * 3)::int, total / 2
       FROM sales CROSS JOIN generate_series(1, 2) AS n WHERE store_id = $1`,
      [store],
    );
    if ((s + 1) % 20 === 0) progress(`${s + 1} stores written (${Math.round((performance.now() - started) / 1000)} s)`);
  }
  await db.query(
    `INSERT INTO rollup_dirty_days (store_id, business_date)
     SELECT DISTINCT store_id, business_date FROM sales ON CONFLICT DO NOTHING`,
  );
}

const num = (value: unknown) => Number(value ?? 0);

/** The overview's figures straight from the sales: the queries the overview ran before the rollups. */
async function naiveOverview(db: Database, from: string, to: string) {
  const totals = await db.query<Record<string, string | null>>(
    `SELECT to_char(business_date, 'YYYY-MM-DD') AS date, store_id, count(*) AS sales, sum(net) AS revenue,
            sum(net) FILTER (WHERE member_id IS NOT NULL) AS member_revenue
     FROM counted_sales WHERE business_date BETWEEN $1 AND $2
     GROUP BY GROUPING SETS ((), (business_date), (store_id))`,
    [from, to],
  );
  const [persons] = await db.query<Record<string, string>>(
    `WITH p AS (
       SELECT person_id, min(business_date) AS first_day, bool_or(business_date >= $1) AS active
       FROM counted_sales WHERE person_id IS NOT NULL AND business_date <= $2 GROUP BY person_id)
     SELECT count(*) FILTER (WHERE active) AS active, count(*) FILTER (WHERE active AND first_day < $1) AS returning
     FROM p`,
    [from, to],
  );
  const whole = totals.find((t) => t.date === null && t.store_id === null)!;
  return {
    revenue: num(whole.revenue),
    sales: num(whole.sales),
    memberRevenue: num(whole.member_revenue),
    membersActive: num(persons!.active),
    returningMembers: num(persons!.returning),
    days: totals.filter((t) => t.date !== null).length,
  };
}

/** The store comparison's figures straight from the sales, members' activity included. */
async function naiveStoresCompare(db: Database, from: string, to: string) {
  const stores = await db.query<Record<string, string>>(
    `WITH g AS (
       SELECT store_id, person_id, GROUPING(person_id) AS whole_store, count(*) AS sales, sum(net) AS revenue,
              sum(net) FILTER (WHERE member_id IS NOT NULL) AS member_revenue
       FROM counted_sales WHERE business_date BETWEEN $1 AND $2
       GROUP BY GROUPING SETS ((store_id), (store_id, person_id))),
     r AS (
       SELECT store_id, count(*) AS buyers, count(*) FILTER (WHERE sales > 1) AS repeaters
       FROM g WHERE whole_store = 0 AND person_id IS NOT NULL GROUP BY store_id),
     last AS (
       SELECT store_id, person_id, max(business_date) AS last_day FROM counted_sales
       WHERE person_id IS NOT NULL AND business_date <= $2 GROUP BY store_id, person_id),
     a AS (
       SELECT k.store_id, count(*) FILTER (WHERE last.last_day >= $3) AS active,
              count(*) FILTER (WHERE last.last_day < $3 AND last.last_day >= $4) AS dormant
       FROM members k LEFT JOIN last ON last.store_id = k.store_id AND last.person_id = k.person_id
       WHERE k.registered AND NOT k.erased AND k.merged_into IS NULL AND k.registered_date <= $2
       GROUP BY k.store_id)
     SELECT g.store_id, g.sales, g.revenue, g.member_revenue, r.buyers, r.repeaters, a.active, a.dormant
     FROM g LEFT JOIN r USING (store_id) LEFT JOIN a USING (store_id) WHERE g.whole_store = 1
     ORDER BY g.store_id`,
    [from, to, addDays(to, -ACTIVE_DAYS), addDays(to, -CHURNED_DAYS)],
  );
  return stores.map((s) => ({
    storeId: s.store_id,
    sales: num(s.sales),
    revenue: num(s.revenue),
    memberShare: share(num(s.member_revenue), num(s.revenue)),
    repeatShare: share(num(s.repeaters), num(s.buyers)),
    activeMembers: num(s.active),
    dormantMembers: num(s.dormant),
  }));
}

/** The products page's best sellers straight from the sale lines: the query it ran before product_days. */
async function naiveProducts(db: Database, from: string, to: string) {
  const rows = await db.query<{ sku: string; revenue: string; qty: string; baskets: string }>(
    `SELECT l.sku, sum(l.amount) AS revenue, sum(l.qty) AS qty, count(DISTINCT (l.store_id, l.sale_id)) AS baskets
     FROM sale_lines l JOIN sales s ON s.store_id = l.store_id AND s.sale_id = l.sale_id
     WHERE s.completed AND NOT s.voided AND s.business_date BETWEEN $1 AND $2
     GROUP BY l.sku ORDER BY l.sku`,
    [from, to],
  );
  return rows.map((r) => ({ sku: r.sku, revenue: num(r.revenue), qty: num(r.qty), baskets: num(r.baskets) }));
}

/** The naive answers' figures as the rollups' answers give them, to check both agree. */
function sameFigures(
  rolled: [Overview, StoresCompare],
  naive: [Awaited<ReturnType<typeof naiveOverview>>, Awaited<ReturnType<typeof naiveStoresCompare>>],
): boolean {
  const [o, c] = rolled;
  const overviewAgrees = isDeepStrictEqual(
    {
      revenue: o.revenue,
      sales: o.sales,
      memberRevenue: o.memberRevenue,
      membersActive: o.membersActive,
      returningMembers: o.returningMembers,
      days: o.days.filter((d) => d.sales > 0).length,
    },
    naive[0],
  );
  const storesAgree = isDeepStrictEqual(
    c.stores
      .filter((s) => s.sales > 0)
      .map((s) => ({
        storeId: s.storeId,
        sales: s.sales,
        revenue: s.revenue,
        memberShare: s.memberShare,
        repeatShare: s.repeatShare,
        activeMembers: s.activeMembers,
        dormantMembers: s.dormantMembers,
      })),
    naive[1],
  );
  return overviewAgrees && storesAgree;
}

async function median(calls: number, work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  await work(); // the first call warms the caches; not counted
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await work();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

runBench(async () => {
  const url = env.AYI_BENCH_HQ_DATABASE_URL;
  const dir = url ? null : mkdtempSync(path.join(tmpdir(), 'ayi-hq-dashboard-'));
  const db = await openDatabase(url ? { url } : { dataDir: dir! });
  try {
    await migrate(db);
    progress(`writing ${SALES} sales and ${STORES * MEMBERS} members of ${STORES} stores (${db.kind})`);
    await fill(db);
    await db.exec('ANALYZE');
    let start = performance.now();
    await naiveOverview(db, YEAR.from, YEAR.to);
    const naivePass = performance.now() - start;
    start = performance.now();
    const days = await refreshRollups(db);
    const backfill = performance.now() - start;
    progress(`rollups of ${days} store days worked out in ${Math.round(backfill)} ms`);
    await db.exec('ANALYZE');
    const rolled: [Overview, StoresCompare] = [await overview(db, YEAR), await storesCompare(db, YEAR)];
    const naive = [
      await naiveOverview(db, YEAR.from, YEAR.to),
      await naiveStoresCompare(db, YEAR.from, YEAR.to),
    ] as const;
    if (!sameFigures(rolled, [...naive])) throw new Error('the rollups and the sales give different figures');
    const sold = await products(db, { ...YEAR, limit: 200 });
    const soldFigures = sold.byRevenue
      .map(({ sku, revenue, qty, baskets }) => ({ sku, revenue, qty, baskets }))
      .sort((a, b) => (a.sku < b.sku ? -1 : 1));
    if (!isDeepStrictEqual(soldFigures, await naiveProducts(db, YEAR.from, YEAR.to))) {
      throw new Error('product_days and the sale lines give different product figures');
    }
    const overviewMs = await median(CALLS, () => overview(db, YEAR));
    const compareMs = await median(CALLS, () => storesCompare(db, YEAR));
    const naiveOverviewMs = await median(NAIVE_CALLS, () => naiveOverview(db, YEAR.from, YEAR.to));
    const naiveCompareMs = await median(NAIVE_CALLS, () => naiveStoresCompare(db, YEAR.from, YEAR.to));
    emit('hq_overview_ms', overviewMs, 'ms', naiveOverviewMs, overviewMs / naiveOverviewMs);
    emit('hq_stores_compare_ms', compareMs, 'ms', naiveCompareMs, compareMs / naiveCompareMs);
    const both = overviewMs + compareMs;
    const naiveBoth = naiveOverviewMs + naiveCompareMs;
    emit('hq_dashboard_ms', both, 'ms', naiveBoth, both / naiveBoth);
    emit('hq_rollup_backfill_s', backfill / 1000, 's', naivePass / 1000, backfill / naivePass);
    const productsMs = await median(CALLS, () => products(db, { ...YEAR, limit: 20 }));
    const naiveProductsMs = await median(NAIVE_CALLS, () => naiveProducts(db, YEAR.from, YEAR.to));
    emit('hq_products_ms', productsMs, 'ms', naiveProductsMs, productsMs / naiveProductsMs);
  } finally {
    await db.close();
    if (dir) removeUnlessKept(dir);
  }
});
