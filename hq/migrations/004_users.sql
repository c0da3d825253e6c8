-- The people who sign in to HQ's dashboard, their sessions, and the failed sign-ins that slow down
-- password guessing. Kept in the database so every HQ process sees the same users, sessions and
-- failures. Nothing here holds a password or a session token in clear: passwords are argon2id
-- hashes, sessions are known by the SHA-256 of their token (the token lives only in the browser's
-- cookie), and failed sign-ins by the SHA-256 of the name that was typed (a password typed into
-- the name field is not kept either).
CREATE TABLE hq_users (
  username             text        PRIMARY KEY CHECK (username = lower(username) AND length(username) BETWEEN 2 AND 64),
  role                 text        NOT NULL CHECK (role IN ('analyst', 'operations', 'admin')),
  password_hash        text        NOT NULL,
  -- A password HQ made (a new user, a reset): the dashboard asks for the user's own at sign-in.
  must_change_password boolean     NOT NULL DEFAULT true,
  disabled_at          timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  password_changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hq_sessions (
  token_hash   text        PRIMARY KEY,
  username     text        NOT NULL REFERENCES hq_users (username) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  -- The absolute end (created_at + 7 days); the idle end is last_seen_at + 12 hours.
  expires_at   timestamptz NOT NULL,
  source_ip    text
);
CREATE INDEX hq_sessions_by_user ON hq_sessions (username);

-- One row per refused sign-in, counted over a sliding window per name and per client address.
-- A successful sign-in deletes nothing: the window only slides.
CREATE TABLE hq_login_failures (
  id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username_hash text        NOT NULL,
  address       text        NOT NULL,
  failed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hq_login_failures_by_name ON hq_login_failures (username_hash, failed_at);
CREATE INDEX hq_login_failures_by_address ON hq_login_failures (address, failed_at);
CREATE INDEX hq_login_failures_by_time ON hq_login_failures (failed_at);
