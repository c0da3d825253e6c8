/**
 * Products across stores over a range of business days: the best sellers by revenue and by units,
 * totals per category, and the products bought together. Line amounts are NT$ after the order's
 * deductions and before refunds (a refund is not kept per line); voided sales are left out.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Queryable } from '../db/database.js';
import { checked, DateRange, num, StoreId } from './params.js';

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

// The lines of the counted sales in the range, with the product's newest name and category.
const LINES = `
  names AS (
    SELECT DISTINCT ON (sku) sku, name, category FROM products
    ORDER BY sku, (store_id = $3::text) DESC NULLS LAST, catalog_event DESC),
  lines AS (
    SELECT l.store_id, l.sale_id, l.sku, l.qty, l.amount,
           COALESCE(n.name, l.sku) AS name, COALESCE(n.category, '${UNCATEGORISED}') AS category
    FROM sale_lines l
    JOIN sales s ON s.store_id = l.store_id AND s.sale_id = l.sale_id
    LEFT JOIN names n ON n.sku = l.sku
    WHERE s.completed AND NOT s.voided AND s.business_date BETWEEN $1 AND $2
      AND ($3::text IS NULL OR s.store_id = $3::text))`;

export async function products(db: Queryable, params: ProductsParams): Promise<Products> {
  const { from, to, storeId = null, limit = 20 } = checked(ProductsParams, params);
  const rows = await db.query<{
    sku: string;
    name: string;
    category: string;
    revenue: string;
    qty: string;
    baskets: string;
  }>(
    `WITH ${LINES}
     SELECT sku, min(name) AS name, min(category) AS category, sum(amount) AS revenue, sum(qty) AS qty,
            count(DISTINCT (store_id, sale_id)) AS baskets
     FROM lines GROUP BY sku`,
    [from, to, storeId],
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
