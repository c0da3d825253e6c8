-- Every event of every store, exactly once, and what HQ knows of each store's stream.
-- Kept to SQL that also runs on Citus with store_id as the distribution column: every table
-- that grows with events has store_id in its primary key, and no foreign keys cross stores.

CREATE TABLE events (
  store_id    text        NOT NULL,
  event_id    uuid        NOT NULL,
  chain_id    text        NOT NULL,
  epoch       uuid        NOT NULL,
  seq         bigint      NOT NULL,
  type        text        NOT NULL,
  at          timestamptz NOT NULL,
  -- When it happened in the store, where that is not when the hub recorded it (imported history).
  occurred_at timestamptz,
  data        jsonb       NOT NULL,
  link        jsonb,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store_id, event_id)
);
-- Not unique: two events with one seq (a store restored without a new epoch) are both kept.
CREATE INDEX events_by_seq ON events (store_id, epoch, seq);
CREATE INDEX events_by_type ON events (store_id, type, at);

-- One row per store and epoch: the highest seq up to which HQ holds everything, and the highest seen.
CREATE TABLE store_streams (
  store_id       text        NOT NULL,
  epoch          uuid        NOT NULL,
  chain_id       text        NOT NULL,
  contiguous_seq bigint      NOT NULL DEFAULT 0,
  max_seq        bigint      NOT NULL DEFAULT 0,
  event_count    bigint      NOT NULL DEFAULT 0,
  first_seen_at  timestamptz NOT NULL DEFAULT now(),
  last_event_at  timestamptz,
  last_received_at timestamptz,
  -- When the hole after contiguous_seq was first seen open (null: no hole).
  gap_since      timestamptz,
  PRIMARY KEY (store_id, epoch)
);

-- The same seq under two event ids: never summed silently, shown until someone looks.
CREATE TABLE seq_conflicts (
  store_id      text        NOT NULL,
  epoch         uuid        NOT NULL,
  seq           bigint      NOT NULL,
  event_id      uuid        NOT NULL,
  other_event_id uuid       NOT NULL,
  detected_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store_id, epoch, seq, event_id, other_event_id)
);

-- Messages HQ refused, with why; nothing a store sends is dropped without a trace.
CREATE TABLE quarantine (
  id          bigserial   PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  topic       text        NOT NULL,
  store_id    text,
  reason      text        NOT NULL,
  detail      text,
  payload     text        NOT NULL
);
CREATE INDEX quarantine_by_time ON quarantine (received_at);

-- Sales as the dashboard reads them; the order their events arrive in does not matter.
CREATE TABLE sales (
  store_id      text        NOT NULL,
  sale_id       text        NOT NULL,
  completed     boolean     NOT NULL DEFAULT false,
  business_date date,
  at            timestamptz,
  member_id     text,
  total         bigint      NOT NULL DEFAULT 0,
  refunded      bigint      NOT NULL DEFAULT 0,
  voided        boolean     NOT NULL DEFAULT false,
  line_count    integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (store_id, sale_id)
);
CREATE INDEX sales_by_day ON sales (business_date, store_id);

CREATE TABLE sale_lines (
  store_id  text    NOT NULL,
  sale_id   text    NOT NULL,
  line_no   integer NOT NULL,
  sku       text    NOT NULL,
  qty       integer NOT NULL,
  amount    bigint  NOT NULL,
  PRIMARY KEY (store_id, sale_id, line_no)
);

-- Refunds by their event, so a refund counted twice or before its sale still adds up once.
CREATE TABLE sale_refunds (
  store_id  text   NOT NULL,
  event_id  uuid   NOT NULL,
  sale_id   text   NOT NULL,
  amount    bigint NOT NULL,
  PRIMARY KEY (store_id, event_id)
);
