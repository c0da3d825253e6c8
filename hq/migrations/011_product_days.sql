-- Each product's counted sales per store and day (completed, not voided): units, NT$ of its lines
-- and the sales that had it, so the products page (best sellers, categories, slow movers, products
-- not sold) reads a row per product and day instead of every sale line. Kept exact like the other
-- rollups (010_rollups.sql): a changed day is marked and worked out again before a report reads it.
-- The migration marks every day already held, and its step works them out (the backfill).
CREATE TABLE product_days (
  store_id      text   NOT NULL,
  business_date date   NOT NULL,
  sku           text   NOT NULL,
  qty           bigint NOT NULL,
  revenue       bigint NOT NULL,
  -- Sales with the product (a sale with two lines of it counts once).
  baskets       bigint NOT NULL,
  PRIMARY KEY (store_id, business_date, sku)
);
-- A range of all stores at once.
CREATE INDEX product_days_by_day ON product_days (business_date);

INSERT INTO rollup_dirty_days (store_id, business_date)
SELECT DISTINCT store_id, business_date FROM sales WHERE business_date IS NOT NULL
ON CONFLICT DO NOTHING;
