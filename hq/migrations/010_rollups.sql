-- Per-store, per-day totals the overview and the store comparison read instead of every sale.
-- Kept exact: whatever changes a day's counted sales (a sale, a void, a refund, a late copy, an
-- erasure) marks the (store, day) dirty in the transaction that changes it, and the totals of dirty
-- days are worked out again from the sales before a report reads them (refreshRollups). The
-- migration marks every day already held; migration 011's step works them out (the backfill).

-- The store's counted sales of the day (completed, not voided): revenue net of refunds, NT$.
CREATE TABLE store_days (
  store_id       text   NOT NULL,
  business_date  date   NOT NULL,
  sales          bigint NOT NULL,
  revenue        bigint NOT NULL,
  -- Of sales to a member record (erased members' sales included, as in counted_sales).
  member_revenue bigint NOT NULL,
  refunds        bigint NOT NULL,
  refunded_sales bigint NOT NULL,
  PRIMARY KEY (store_id, business_date)
);

-- Each member record's counted sales of the day at the store: the persons' figures (who bought,
-- who came back, who bought twice, whose last purchase was when) resolve the record to its person
-- when a report runs, so a merge or a phone link needs no rollup change.
CREATE TABLE member_days (
  store_id      text   NOT NULL,
  business_date date   NOT NULL,
  member_id     text   NOT NULL,
  sales         bigint NOT NULL,
  PRIMARY KEY (store_id, business_date, member_id)
);
-- A range's partial months, all stores at once.
CREATE INDEX member_days_by_day ON member_days (business_date);

-- member_days by calendar month: a range reads whole months here and only its partial months'
-- days from member_days. first_day and last_day: the record's first and last purchase day in the month.
CREATE TABLE member_months (
  store_id  text   NOT NULL,
  month     date   NOT NULL,
  member_id text   NOT NULL,
  sales     bigint NOT NULL,
  first_day date   NOT NULL,
  last_day  date   NOT NULL,
  PRIMARY KEY (store_id, month, member_id)
);
CREATE INDEX member_months_by_member ON member_months (store_id, member_id, month);

-- The (store, day)s whose totals are out of date.
CREATE TABLE rollup_dirty_days (
  store_id      text NOT NULL,
  business_date date NOT NULL,
  PRIMARY KEY (store_id, business_date)
);

INSERT INTO rollup_dirty_days (store_id, business_date)
SELECT DISTINCT store_id, business_date FROM sales WHERE business_date IS NOT NULL;
