-- Each store's link as HQ last heard it: its newest retained status (online, or offline by a clean
-- stop or its last will), the figures in it, and HQ's pings to a quiet store with the newest answer.
-- Written by every worker's store healer; a status replaces the held one only when it is newer (see
-- status_order), so several workers and redelivered retained statuses leave the newest one.
-- The status holds the hub's figures, its devices (printers, scanners, tablets by their paired names)
-- and problem codes: no member's or staff member's personal data.
CREATE TABLE store_status (
  store_id         text        PRIMARY KEY,
  chain_id         text        NOT NULL,
  online           boolean     NOT NULL,
  -- The status as the hub (or, for its last will, the broker) sent it.
  status           jsonb       NOT NULL,
  -- The hub's own times: when the status was written, and when the connection it belongs to was
  -- opened (the status's connectedAt; its `at` for hubs that do not send one).
  status_at        timestamptz NOT NULL,
  connected_at     timestamptz NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  epoch            uuid,
  last_seq         bigint,
  delivered_seq    bigint,
  version          text,
  -- ok (no problems), degraded (problems lists why); null in an offline status, which has none.
  health           text,
  problems         text[],
  -- The last cmd/ping HQ sent this store: one outstanding per store across workers, with backoff.
  ping_request_id  text,
  ping_sent_at     timestamptz,
  ping_attempts    integer     NOT NULL DEFAULT 0,
  -- The newest ping answer: when HQ received it and the hub's live figures in it.
  ping_answered_at timestamptz,
  ping_answer      jsonb
);
