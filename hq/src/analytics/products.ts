/**
 * Products across stores over a range of business days: the best sellers by revenue and by units,
 * totals per category, the products bought together, the slow movers and the products not sold for
 * a number of days. Line amounts are NT$ after the order's deductions and before refunds (a refund
 * is not kept per line); voided sales are left out.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Database, Queryable } from '../db/database.js';
import { addDays, checked, DateRange, daysFrom, num, StoreId } from './params.js';
import { readRollups } from './rollups.js';

export const ProductsParams = Type.Object(
  {
    ...DateRange.properties,
    storeId: Type.Optional(StoreId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'How many products per list (20).' })),
  },
  { additionalProperties: false },
);
export type ProductsParams = Static<typeof ProductsParams>;

export interface ProductFigures {
  sku: string;
  /** From the newest catalog (the store's own first, when one store is asked for); the sku otherwise. */
  name: string;
  category: string;
  revenue: number;
  qty: number;
  /** Sales that had it. */
  baskets: number;
}

export interface Products {
  from: string;
  to: string;
  storeId: string | null;
  byRevenue: ProductFigures[];
  byQty: ProductFigures[];
  categories: { category: string; revenue: number; qty: number }[];
}

/** A product without a catalog entry falls in this category. */
export const UNCATEGORISED = '(uncategorised)';

// Each product's name and category from the newest catalog that has it (the store's own first).
const NAMES = `
  names AS (
    SELECT DISTINCT ON (sku) sku, name, category FROM products
    ORDER BY sku, (store_id = $3::text) DESC NULLS LAST, catalog_event DESC)`;

// The lines of the counted sales in the range, with the product's newest name and category.
const LINES = `${NAMES},
  lines AS (
    SELECT l.store_id, l.sale_id, l.sku, l.qty, l.amount,
           COALESCE(n.name, l.sku) AS name, COALESCE(n.category, '${UNCATEGORISED}') AS category
    FROM sale_lines l
    JOIN sales s ON s.store_id = l.store_id AND s.sale_id = l.sale_id
    LEFT JOIN names n ON n.sku = l.sku
    WHERE s.completed AND NOT s.voided AND s.business_date BETWEEN $1 AND $2
      AND ($3::text IS NULL OR s.store_id = $3::text))`;

export async function products(db: Database, params: ProductsParams): Promise<Products> {
  const { from, to, storeId = null, limit = 20 } = checked(ProductsParams, params);
  const rows = await readRollups(db, (tx) =>
    tx.query<{ sku: string; name: string; category: string; revenue: string; qty: string; baskets: string }>(
      `WITH ${NAMES},
         sold AS (
           SELECT sku, sum(revenue) AS revenue, sum(qty) AS qty, sum(baskets) AS baskets FROM product_days
           WHERE business_date BETWEEN $1 AND $2 AND ($3::text IS NULL OR store_id = $3::text)
           GROUP BY sku)
       SELECT d.sku, COALESCE(n.name, d.sku) AS name, COALESCE(n.category, '${UNCATEGORISED}') AS category,
              d.revenue, d.qty, d.baskets
       FROM sold d LEFT JOIN names n ON n.sku = d.sku`,
      [from, to, storeId],
    ),
  );
  const figures = rows.map((row): ProductFigures => ({
    sku: row.sku,
    name: row.name,
    category: row.category,
    revenue: num(row.revenue),
    qty: num(row.qty),
    baskets: num(row.baskets),
  }));
  const top = (key: 'revenue' | 'qty') =>
    [...figures].sort((a, b) => b[key] - a[key] || (a.sku < b.sku ? -1 : 1)).slice(0, limit);
  const categories = new Map<string, { category: string; revenue: number; qty: number }>();
  for (const product of figures) {
    const total = categories.get(product.category) ?? { category: product.category, revenue: 0, qty: 0 };
    total.revenue += product.revenue;
    total.qty += product.qty;
    categories.set(product.category, total);
  }
  return {
    from,
    to,
    storeId,
    byRevenue: top('revenue'),
    byQty: top('qty'),
    categories: [...categories.values()].sort((a, b) => b.revenue - a.revenue || (a.category < b.category ? -1 : 1)),
  };
}

export const PairsParams = Type.Object(
  {
    ...ProductsParams.properties,
    minBaskets: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Pairs in fewer baskets are left out (2).' }),
    ),
  },
  { additionalProperties: false },
);
export type PairsParams = Static<typeof PairsParams>;

export interface ProductPair {
  a: { sku: string; name: string };
  b: { sku: string; name: string };
  /** Sales with both. */
  baskets: number;
  /** baskets / all sales in the range. */
  support: number;
  /** How much likelier b is in a basket with a than in any basket: >1 they go together. */
  lift: number;
}

export async function productPairs(
  db: Queryable,
  params: PairsParams,
): Promise<{ from: string; to: string; storeId: string | null; baskets: number; pairs: ProductPair[] }> {
  const { from, to, storeId = null, limit = 20, minBaskets = 2 } = checked(PairsParams, params);
  const [all] = await db.query<{ n: string }>(
    `WITH ${LINES} SELECT count(DISTINCT (store_id, sale_id)) AS n FROM lines`,
    [from, to, storeId],
  );
  const rows = await db.query<Record<string, string>>(
    `WITH ${LINES},
     b AS (SELECT DISTINCT store_id, sale_id, sku, name FROM lines),
     single AS (SELECT sku, count(*) AS baskets FROM b GROUP BY sku),
     pair AS (
       SELECT x.sku AS a, y.sku AS b, min(x.name) AS a_name, min(y.name) AS b_name, count(*) AS baskets
       FROM b x JOIN b y ON x.store_id = y.store_id AND x.sale_id = y.sale_id AND x.sku < y.sku
       GROUP BY x.sku, y.sku HAVING count(*) >= $4)
     SELECT pair.*, sa.baskets AS a_baskets, sb.baskets AS b_baskets
     FROM pair JOIN single sa ON sa.sku = pair.a JOIN single sb ON sb.sku = pair.b
     ORDER BY pair.baskets DESC, pair.a, pair.b LIMIT $5`,
    [from, to, storeId, minBaskets, limit],
  );
  const baskets = num(all!.n);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    from,
    to,
    storeId,
    baskets,
    pairs: rows.map((row) => ({
      a: { sku: row.a!, name: row.a_name! },
      b: { sku: row.b!, name: row.b_name! },
      baskets: num(row.baskets),
      support: round(num(row.baskets) / baskets),
      lift: round((num(row.baskets) * baskets) / (num(row.a_baskets) * num(row.b_baskets))),
    })),
  };
}

export const SlowMoversParams = Type.Object(
  {
    ...DateRange.properties,
    storeId: Type.Optional(StoreId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 2000, description: 'How many products (50).' })),
  },
  { additionalProperties: false },
);
export type SlowMoversParams = Static<typeof SlowMoversParams>;

export const NotSoldParams = Type.Object(
  {
    ...SlowMoversParams.properties,
    days: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3650,
        description: 'Listed when the last sale is more than this many days before `to` (30).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type NotSoldParams = Static<typeof NotSoldParams>;

/** A product of the catalog with its sales: at one store, or across the chain. */
export interface ShelfProduct {
  sku: string;
  name: string;
  category: string;
  /** Units and NT$ in the range (0: not sold in it). */
  qty: number;
  revenue: number;
  /** The last business day it sold on, up to the range's end (at the store, or anywhere in the chain); null: never. */
  lastSold: string | null;
  /** Days from that sale to the range's end (null: never sold). */
  daysSinceSale: number | null;
  /** Stores whose catalog has it (1 when one store is asked for; 0: only in HQ's published catalog so far). */
  stores: number;
}

export interface NotSoldProduct extends ShelfProduct {
  /** Of `stores`, those that have not sold it for more than `days` days (or never). */
  storesNotSelling: number;
}

export interface SlowMovers {
  from: string;
  to: string;
  storeId: string | null;
  /** Products in the catalog asked about (the store's, or the chain's). */
  catalogProducts: number;
  products: ShelfProduct[];
  /** The stores HQ holds events of (for choosing one). */
  stores: string[];
}

export interface NotSold {
  from: string;
  to: string;
  storeId: string | null;
  days: number;
  /** Products whose last sale is before this day (or that never sold). */
  soldBefore: string;
  /** How many products are not sold for that long (`products` holds the first `limit`). */
  total: number;
  products: NotSoldProduct[];
  stores: string[];
}

/**
 * The catalog asked about, each product with its units and revenue in the range ($1..$2) and its
 * last sale up to $2 (from the per-day rollup, product_days: a caller reads it through readRollups). A store's catalog is its products as its latest catalog imports left them: a
 * version from HQ replaces the store's whole catalog, so what an older import had and that version
 * does not is no longer the store's. Chain-wide ($3 null), the chain's catalog is every store's
 * plus each chain's latest published version (products not yet at any store). $4: the days after
 * which a store counts as not selling a product it carries (null: not asked).
 */
const SHELF = `${NAMES},
  hq_imports AS (
    SELECT DISTINCT ON (store_id) store_id, event_id FROM events
    WHERE type = 'catalog.imported' AND data ->> 'source' = 'hq' AND ($3::text IS NULL OR store_id = $3::text)
    ORDER BY store_id, event_id DESC),
  catalog AS (
    SELECT p.store_id, p.sku FROM products p
    LEFT JOIN hq_imports h ON h.store_id = p.store_id
    WHERE ($3::text IS NULL OR p.store_id = $3::text) AND (h.event_id IS NULL OR p.catalog_event >= h.event_id)),
  published AS (
    SELECT DISTINCT ON (p ->> 'sku') p ->> 'sku' AS sku, p ->> 'name' AS name, p ->> 'category' AS category
    FROM (SELECT DISTINCT ON (chain_id) message FROM catalog_versions ORDER BY chain_id, version DESC) latest
    CROSS JOIN LATERAL jsonb_array_elements(latest.message -> 'products') AS p
    WHERE $3::text IS NULL
    ORDER BY p ->> 'sku'),
  sold AS (
    SELECT store_id, sku, max(business_date) AS last_sold,
           sum(qty) FILTER (WHERE business_date >= $1::date) AS qty,
           sum(revenue) FILTER (WHERE business_date >= $1::date) AS revenue
    FROM product_days
    WHERE business_date <= $2::date AND ($3::text IS NULL OR store_id = $3::text)
    GROUP BY store_id, sku),
  carried AS (
    SELECT c.sku, count(*) AS stores,
           count(*) FILTER (WHERE sold.last_sold IS NULL OR sold.last_sold < $2::date - $4::int) AS stores_not_selling
    FROM catalog c LEFT JOIN sold ON sold.store_id = c.store_id AND sold.sku = c.sku
    GROUP BY c.sku),
  chain_sold AS (
    SELECT sku, max(last_sold) AS last_sold, sum(qty) AS qty, sum(revenue) AS revenue FROM sold GROUP BY sku),
  shelf AS (
    SELECT k.sku, COALESCE(n.name, pub.name, k.sku) AS name,
           COALESCE(n.category, pub.category, '${UNCATEGORISED}') AS category,
           COALESCE(cs.qty, 0) AS qty, COALESCE(cs.revenue, 0) AS revenue, cs.last_sold,
           COALESCE(c.stores, 0) AS stores, COALESCE(c.stores_not_selling, 0) AS stores_not_selling
    FROM (SELECT sku FROM catalog UNION SELECT sku FROM published) k
    LEFT JOIN names n ON n.sku = k.sku
    LEFT JOIN published pub ON pub.sku = k.sku
    LEFT JOIN chain_sold cs ON cs.sku = k.sku
    LEFT JOIN carried c ON c.sku = k.sku)`;

interface ShelfRow {
  sku: string;
  name: string;
  category: string;
  qty: string;
  revenue: string;
  last_sold: string | null;
  stores: string;
  stores_not_selling: string;
  total: string;
}

const SHELF_COLUMNS = `sku, name, category, qty, revenue, to_char(last_sold, 'YYYY-MM-DD') AS last_sold, stores,
  stores_not_selling, count(*) OVER () AS total`;

function shelfProduct(row: ShelfRow, to: string): ShelfProduct {
  return {
    sku: row.sku,
    name: row.name,
    category: row.category,
    qty: num(row.qty),
    revenue: num(row.revenue),
    lastSold: row.last_sold,
    daysSinceSale: row.last_sold === null ? null : daysFrom(row.last_sold, to),
    stores: num(row.stores),
  };
}

/** The stores HQ holds events of. */
async function knownStores(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ store_id: string }>('SELECT DISTINCT store_id FROM store_streams ORDER BY 1');
  return rows.map((row) => row.store_id);
}

/**
 * The slow movers: the catalog's products with the fewest units sold in the range, those never
 * sold in it first (0 units), then by revenue and sku.
 */
export async function slowMovers(db: Database, params: SlowMoversParams): Promise<SlowMovers> {
  const { from, to, storeId = null, limit = 50 } = checked(SlowMoversParams, params);
  const rows = await readRollups(db, (tx) =>
    tx.query<ShelfRow>(`WITH ${SHELF} SELECT ${SHELF_COLUMNS} FROM shelf ORDER BY qty, revenue, sku LIMIT $5`, [
      from,
      to,
      storeId,
      null,
      limit,
    ]),
  );
  return {
    from,
    to,
    storeId,
    catalogProducts: rows.length > 0 ? num(rows[0]!.total) : 0,
    products: rows.map((row) => shelfProduct(row, to)),
    stores: await knownStores(db),
  };
}

/**
 * The catalog's products whose last sale (at the store, or anywhere in the chain) is more than
 * `days` days before the range's end, or that never sold: never sold first, then the longest unsold.
 */
export async function notSold(db: Database, params: NotSoldParams): Promise<NotSold> {
  const { from, to, storeId = null, days = 30, limit = 50 } = checked(NotSoldParams, params);
  const rows = await readRollups(db, (tx) =>
    tx.query<ShelfRow>(
      `WITH ${SHELF} SELECT ${SHELF_COLUMNS} FROM shelf
       WHERE last_sold IS NULL OR last_sold < $2::date - $4::int
       ORDER BY last_sold NULLS FIRST, sku LIMIT $5`,
      [from, to, storeId, days, limit],
    ),
  );
  return {
    from,
    to,
    storeId,
    days,
    soldBefore: addDays(to, -days),
    total: rows.length > 0 ? num(rows[0]!.total) : 0,
    products: rows.map((row) => ({ ...shelfProduct(row, to), storesNotSelling: num(row.stores_not_selling) })),
    stores: await knownStores(db),
  };
}
