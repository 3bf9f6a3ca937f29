-- The PostgreSQL schema: the same tables as the SQLite migrations 0001-0011 end with, in one
-- step (a PostgreSQL database starts at this version). Every integer is BIGINT and every flag
-- an integer 0/1, so the server reads both databases with the same code. Times are Unix ms.

-- Usernames and token names compare without case, as SQLite's NOCASE does.
CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

-- Mail settings: one row. Secrets live in `secrets`, never here.
CREATE TABLE mail_settings (
    id              BIGINT  PRIMARY KEY CHECK (id = 1),
    auth            TEXT    NOT NULL CHECK (auth IN ('smtp', 'oauth')),
    smtp_server     TEXT    NOT NULL,
    smtp_port       BIGINT,
    smtp_user       TEXT    NOT NULL,
    smtp_ssl        BIGINT  NOT NULL CHECK (smtp_ssl IN (0, 1)),
    oauth_provider  TEXT    NOT NULL CHECK (oauth_provider IN ('microsoft', 'google')),
    oauth_client_id TEXT    NOT NULL,
    oauth_tenant_id TEXT    NOT NULL,
    manager_root    TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    updated_by      TEXT    NOT NULL,
    -- Microsoft: the day the client secret expires ('' = not given), for an early warning.
    oauth_secret_expires_on TEXT NOT NULL DEFAULT ''
);

-- The single place where secret values are kept (SMTP password, client secrets, tokens),
-- sealed with the server's key.
CREATE TABLE secrets (
    name       TEXT   PRIMARY KEY,
    value      BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Who changed which fields when. Field names only: never a secret's value.
CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    fields TEXT   NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Administrators of the console. Passwords as Argon2id PHC strings, never in clear.
CREATE TABLE admins (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT   NOT NULL UNIQUE COLLATE nocase,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Bearer tokens for scripts. Only a SHA-256 of the token is kept; the prefix finds the row.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT   NOT NULL COLLATE nocase,
    prefix       TEXT   NOT NULL UNIQUE,
    token_hash   BYTEA  NOT NULL,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    scope        TEXT   NOT NULL DEFAULT 'admin' CHECK (scope IN ('admin', 'notify')),
    expires_at   BIGINT
);
-- A live token's name is unique (it is the actor in the audit log and the outbox).
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- The connected OAuth account: one row. Its refresh and access tokens live in `secrets`.
CREATE TABLE oauth_connection (
    id                  BIGINT PRIMARY KEY CHECK (id = 1),
    provider            TEXT   NOT NULL CHECK (provider IN ('microsoft', 'google')),
    account             TEXT   NOT NULL,
    display_name        TEXT   NOT NULL,
    -- Microsoft `tid/oid`, Google `sub`: the account's immutable identity.
    account_id          TEXT   NOT NULL,
    scopes              TEXT   NOT NULL,
    connected_at        BIGINT NOT NULL,
    connected_by        TEXT   NOT NULL,
    refresh_token_at    BIGINT NOT NULL,
    access_expires_at   BIGINT NOT NULL,
    last_refresh_at     BIGINT,
    problem_code        TEXT,
    problem_detail      TEXT,
    problem_at          BIGINT,
    -- Each connect gives the connection a new random generation; a refresh stores its result
    -- only while the generation it started from is still the stored one.
    generation          TEXT   NOT NULL DEFAULT '',
    -- The server process refreshing the tokens now, and until when (one refresh at a time
    -- across every process: a rotated refresh token works once).
    refresh_by          TEXT,
    refresh_until       BIGINT
);

-- Notification templates: plain text with data replacement codes, checked when saved.
CREATE TABLE templates (
    id          TEXT   PRIMARY KEY,
    name        TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT   NOT NULL
);

-- The outbox: every accepted notification, rendered, until it is sent or given up. A row is
-- committed before the submitter gets its id, so nothing accepted is lost.
CREATE TABLE notifications (
    id               TEXT   PRIMARY KEY,
    actor            TEXT   NOT NULL,
    idempotency_key  TEXT,
    template_id      TEXT,
    recipients       TEXT   NOT NULL,
    subject          TEXT   NOT NULL,
    body             TEXT   NOT NULL,
    -- The same on every attempt, so a duplicate after a crash can be recognised.
    message_id       TEXT   NOT NULL,
    status           TEXT   NOT NULL
        CHECK (status IN ('queued', 'waiting', 'sending', 'sent', 'retrying', 'failed',
                          'cancelled')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    -- The server process holding the lease.
    claimed_by       TEXT,
    -- For the sending limits: how many recipients, which connection the last claim went out
    -- through (`smtp:<host>`, `microsoft`, `google`) and when.
    recipient_count  BIGINT NOT NULL DEFAULT 1,
    via              TEXT,
    claimed_at       BIGINT,
    last_error_code  TEXT,
    last_error_step  TEXT,
    last_error_reply TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    sent_at          BIGINT,
    UNIQUE (actor, idempotency_key)
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX notifications_via ON notifications (via, claimed_at);

-- Sending limits per connection: a preset, or the administrator's numbers. No row: the
-- automatic preset for that connection.
CREATE TABLE sending_limits (
    connection          TEXT   PRIMARY KEY,
    preset              TEXT   NOT NULL CHECK (preset IN ('automatic', 'exchange_online',
                            'microsoft_graph', 'gmail', 'custom', 'unlimited')),
    per_minute          BIGINT,
    per_day             BIGINT,
    recipients_per_day  BIGINT,
    updated_at          BIGINT NOT NULL,
    updated_by          TEXT   NOT NULL
);

-- Sending stops here when the transport's credentials are refused, until an administrator
-- has fixed them.
CREATE TABLE queue_state (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    paused_code   TEXT,
    paused_reply  TEXT,
    paused_at     BIGINT
);

-- Server processes using this database, each with a heartbeat.
CREATE TABLE server_instances (
    id          TEXT   PRIMARY KEY,
    host        TEXT   NOT NULL,
    pid         BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);

-- Sign-in throttling shared by every server process: one row per key (the limiter's
-- theoretical arrival time, or until when an address's failure counts as recent).
CREATE TABLE throttle (
    key       TEXT   PRIMARY KEY,
    until_ms  BIGINT NOT NULL
);
CREATE INDEX throttle_until ON throttle (until_ms);
