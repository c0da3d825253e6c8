-- Members erased under the PDPA, and every record merged into them: by the SHA-256 of the member
-- id, so HQ keeps no trace of the id itself, yet an event of that member that arrives late (or is
-- resent) is recognised and anonymised before it is stored.
CREATE TABLE erasures (
  member_hash text        PRIMARY KEY,
  anon_id     text        NOT NULL,
  erased_at   timestamptz NOT NULL DEFAULT now()
);
