-- The chain's catalog: each version HQ published to its stores (ayi/v1/{chain}/catalog, retained),
-- and the version each store says it runs (its retained status). Small tables: one row per version
-- and one per store.
CREATE TABLE catalog_versions (
  chain_id       text        NOT NULL,
  version        integer     NOT NULL,
  published_at   timestamptz NOT NULL,
  -- The dashboard user who published it.
  published_by   text        NOT NULL,
  product_count  integer     NOT NULL,
  -- The ayi.catalog/1 message as published: products and per-store prices.
  message        jsonb       NOT NULL,
  PRIMARY KEY (chain_id, version)
);

CREATE TABLE store_catalogs (
  store_id          text        NOT NULL,
  chain_id          text        NOT NULL,
  -- null: the store runs no version of HQ's catalog (yet), or its hub is older than catalogs.
  catalog_version   integer,
  -- A manager imported a CSV at the store since that version.
  local_changes     boolean     NOT NULL DEFAULT false,
  -- The last version the store refused, and why (null: none since its hub started).
  refused_version   integer,
  refused_reason    text,
  -- online or offline, and the time of the status it was read from.
  link_state        text        NOT NULL,
  reported_at       timestamptz NOT NULL,
  PRIMARY KEY (store_id, chain_id)
);
