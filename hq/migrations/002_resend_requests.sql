-- The last resend HQ asked a store for, per store and epoch: several workers (and a restart) do
-- not ask for one hole twice, and asking again backs off while the hole stays open.
CREATE TABLE resend_requests (
  store_id     text        NOT NULL,
  epoch        uuid        NOT NULL,
  from_seq     bigint      NOT NULL,
  request_id   text        NOT NULL,
  last_sent_at timestamptz NOT NULL,
  attempts     integer     NOT NULL,
  PRIMARY KEY (store_id, epoch)
);
