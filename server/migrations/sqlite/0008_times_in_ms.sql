-- One time representation in every table: INTEGER Unix milliseconds (UTC), as the outbox and
-- the server heartbeats already had. Text times (ISO 8601 UTC) and the OAuth connection's
-- seconds are converted; a calendar date the administrator typed (`oauth_secret_expires_on`)
-- stays a date. SQLite cannot change a column's type, so the text-time tables are rebuilt.

-- Text 'YYYY-MM-DDTHH:MM:SSZ' -> milliseconds.
-- (strftime('%s', …) reads the ISO form with its 'Z'.)

CREATE TABLE mail_settings_new (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    auth            TEXT    NOT NULL CHECK (auth IN ('smtp', 'oauth')),
    smtp_server     TEXT    NOT NULL,
    smtp_port       INTEGER,
    smtp_user       TEXT    NOT NULL,
    smtp_ssl        INTEGER NOT NULL CHECK (smtp_ssl IN (0, 1)),
    oauth_provider  TEXT    NOT NULL CHECK (oauth_provider IN ('microsoft', 'google')),
    oauth_client_id TEXT    NOT NULL,
    oauth_tenant_id TEXT    NOT NULL,
    manager_root    TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      TEXT    NOT NULL,
    oauth_secret_expires_on TEXT NOT NULL DEFAULT ''
);
INSERT INTO mail_settings_new
SELECT id, auth, smtp_server, smtp_port, smtp_user, smtp_ssl, oauth_provider, oauth_client_id,
       oauth_tenant_id, manager_root, version,
       COALESCE(CAST(strftime('%s', updated_at) AS INTEGER) * 1000, 0), updated_by,
       oauth_secret_expires_on
FROM mail_settings;
DROP TABLE mail_settings;
ALTER TABLE mail_settings_new RENAME TO mail_settings;

CREATE TABLE secrets_new (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO secrets_new
SELECT name, value, COALESCE(CAST(strftime('%s', updated_at) AS INTEGER) * 1000, 0)
FROM secrets;
DROP TABLE secrets;
ALTER TABLE secrets_new RENAME TO secrets;

CREATE TABLE audit_log_new (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    fields TEXT NOT NULL
);
INSERT INTO audit_log_new
SELECT id, COALESCE(CAST(strftime('%s', at) AS INTEGER) * 1000, 0), actor, action, fields
FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE admins_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
INSERT INTO admins_new
SELECT id, username, password_hash,
       COALESCE(CAST(strftime('%s', created_at) AS INTEGER) * 1000, 0),
       COALESCE(CAST(strftime('%s', updated_at) AS INTEGER) * 1000, 0)
FROM admins;
DROP TABLE admins;
ALTER TABLE admins_new RENAME TO admins;

CREATE TABLE api_tokens_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    token_hash   BLOB NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    scope        TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('admin', 'notify')),
    expires_at   INTEGER
);
INSERT INTO api_tokens_new
SELECT id, name, prefix, token_hash, created_by,
       COALESCE(CAST(strftime('%s', created_at) AS INTEGER) * 1000, 0),
       CAST(strftime('%s', last_used_at) AS INTEGER) * 1000,
       CASE WHEN revoked_at IS NULL THEN NULL
            ELSE COALESCE(CAST(strftime('%s', revoked_at) AS INTEGER) * 1000, 0) END,
       scope,
       CASE WHEN expires_at IS NULL THEN NULL
            ELSE COALESCE(CAST(strftime('%s', expires_at) AS INTEGER) * 1000, 0) END
FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name COLLATE NOCASE)
    WHERE revoked_at IS NULL;

CREATE TABLE templates_new (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL
);
INSERT INTO templates_new
SELECT id, name, subject, body, version,
       COALESCE(CAST(strftime('%s', updated_at) AS INTEGER) * 1000, 0), updated_by
FROM templates;
DROP TABLE templates;
ALTER TABLE templates_new RENAME TO templates;

-- The OAuth connection counted seconds.
UPDATE oauth_connection SET
    connected_at      = connected_at * 1000,
    refresh_token_at  = refresh_token_at * 1000,
    access_expires_at = access_expires_at * 1000,
    last_refresh_at   = last_refresh_at * 1000,
    problem_at        = problem_at * 1000;
