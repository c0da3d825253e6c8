-- Seqs a store's journal lost (damaged lines) and what HQ did about each: sent its copy back
-- (cmd/restore), the store restored it, refused it, or HQ does not hold it either (lost everywhere).
-- Several workers and a restart do not send one seq twice needlessly; the dashboard reads it.
CREATE TABLE store_restores (
  store_id      text        NOT NULL,
  epoch         uuid        NOT NULL,
  seq           bigint      NOT NULL,
  chain_id      text        NOT NULL,
  -- reported (not yet looked up), sending (claimed, being published), sent (cmd/restore sent, not yet
  -- confirmed), restored, refused (the store refused HQ's copy or the command: see reason), lost (HQ
  -- does not hold it either), not_restorable (HQ's copy was anonymised by an erasure).
  status        text        NOT NULL,
  reason        text,
  request_id    text,
  attempts      integer     NOT NULL DEFAULT 0,
  reported_at   timestamptz NOT NULL DEFAULT now(),
  last_sent_at  timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store_id, epoch, seq)
);
CREATE INDEX store_restores_by_status ON store_restores (status, store_id);
