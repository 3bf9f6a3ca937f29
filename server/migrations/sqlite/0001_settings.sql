-- Mail settings: one row. Secrets live in `secrets`, never here.
CREATE TABLE mail_settings (
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
    updated_at      TEXT    NOT NULL,
    updated_by      TEXT    NOT NULL
);

-- The single place where secret values are kept (SMTP password, client secrets, tokens).
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

-- Who changed which fields when. Field names only: never a secret's value.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    fields TEXT NOT NULL
);
