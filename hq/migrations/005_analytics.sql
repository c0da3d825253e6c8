-- What the chain's CRM analytics read beside the sales: each store's members, the person each one
-- is across stores, and the products' names. Projected from the events in the transaction that
-- stores them, whatever order they arrive in: each column that an event sets remembers the event
-- (UUIDv7, ordered by time) it came from, and only a newer one replaces it. Existing events are
-- projected once by the migration step (rebuildAnalytics).

-- One row per member record of a store. Nothing sealed is kept: only what member events carry in
-- clear (ids, consent flags, tiers) and the chain's keyed hash of the phone number.
CREATE TABLE members (
  store_id            text        NOT NULL,
  member_id           text        NOT NULL,
  registered          boolean     NOT NULL DEFAULT false,
  registered_at       timestamptz,
  -- The store-local day of the sign-up (member events carry no business date: Asia/Taipei).
  registered_date     date,
  phone_hash          text,
  link_event          uuid,
  -- The person this record is: from the phone hash, or the record itself without one; a record
  -- merged into another is the person of the one it was merged into.
  person_id           text        NOT NULL,
  merged_into         text,
  -- PDPA: the record is anonymous (member_id and person_id are its `erased-…` id), nothing else kept.
  erased              boolean     NOT NULL DEFAULT false,
  tier                text,
  tier_event          uuid,
  consent_sms         boolean,
  consent_sms_event   uuid,
  consent_line        boolean,
  consent_line_event  uuid,
  consent_email       boolean,
  consent_email_event uuid,
  PRIMARY KEY (store_id, member_id)
);
CREATE INDEX members_by_person ON members (person_id);
CREATE INDEX members_by_merge ON members (store_id, merged_into) WHERE merged_into IS NOT NULL;

-- People across stores: the member records that share a person (erased records are nobody).
CREATE VIEW persons AS
SELECT person_id,
       count(*)                                  AS member_records,
       count(DISTINCT store_id)                  AS stores,
       min(registered_date)                      AS first_registered_date,
       bool_or(phone_hash IS NOT NULL)           AS linked
FROM members
WHERE NOT erased
GROUP BY person_id;

-- Each store's catalog as its latest catalog.imported gave it: names and categories for reports.
CREATE TABLE products (
  store_id      text   NOT NULL,
  sku           text   NOT NULL,
  name          text   NOT NULL,
  category      text   NOT NULL,
  price         bigint NOT NULL,
  catalog_event uuid   NOT NULL,
  PRIMARY KEY (store_id, sku)
);

-- The sales the figures count (completed, not voided), net of refunds, with the person who bought:
-- null for a walk-in and for an erased member (their sales still add up, leading to nobody).
CREATE VIEW counted_sales AS
SELECT s.store_id, s.sale_id, s.business_date, s.at, s.member_id, s.total, s.refunded,
       s.total - s.refunded AS net,
       CASE WHEN s.member_id IS NULL OR s.member_id LIKE 'erased-%' OR m.erased THEN NULL
            ELSE COALESCE(m.person_id, s.store_id || '/' || s.member_id) END AS person_id
FROM sales s
LEFT JOIN members m ON m.store_id = s.store_id AND m.member_id = s.member_id
WHERE s.completed AND NOT s.voided;

CREATE INDEX sales_by_member ON sales (store_id, member_id) WHERE member_id IS NOT NULL;
