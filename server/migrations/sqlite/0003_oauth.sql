-- Microsoft: the day the client secret expires ('' = not given), for an early warning.
ALTER TABLE mail_settings ADD COLUMN oauth_secret_expires_on TEXT NOT NULL DEFAULT '';

-- The connected OAuth account: one row. Its refresh and access tokens live in `secrets`
-- (`oauth_refresh_token`, `oauth_access_token`), never here. Times are Unix seconds (UTC).
CREATE TABLE oauth_connection (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    provider            TEXT    NOT NULL CHECK (provider IN ('microsoft', 'google')),
    account             TEXT    NOT NULL,
    display_name        TEXT    NOT NULL,
    -- Microsoft `tid/oid`, Google `sub`: the account's immutable identity.
    account_id          TEXT    NOT NULL,
    scopes              TEXT    NOT NULL,
    connected_at        INTEGER NOT NULL,
    connected_by        TEXT    NOT NULL,
    refresh_token_at    INTEGER NOT NULL,
    access_expires_at   INTEGER NOT NULL,
    last_refresh_at     INTEGER,
    problem_code        TEXT,
    problem_detail      TEXT,
    problem_at          INTEGER
);
