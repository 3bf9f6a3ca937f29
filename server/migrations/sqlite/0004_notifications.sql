-- Notification templates: plain text with data replacement codes ({rep_name} …), checked when
-- saved.
CREATE TABLE templates (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL
);

-- The outbox: every accepted notification, rendered, until it is sent or given up. A row is
-- committed before the submitter gets its id, so nothing accepted is lost. Times: Unix ms.
CREATE TABLE notifications (
    id               TEXT    PRIMARY KEY,
    actor            TEXT    NOT NULL,
    idempotency_key  TEXT,
    template_id      TEXT,
    recipients       TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    -- The same on every attempt, so a duplicate after a crash can be recognised.
    message_id       TEXT    NOT NULL,
    status           TEXT    NOT NULL
        CHECK (status IN ('queued', 'sending', 'sent', 'retrying', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_error_code  TEXT,
    last_error_step  TEXT,
    last_error_reply TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    UNIQUE (actor, idempotency_key)
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_created ON notifications (created_at);

-- Sending stops here when the transport's credentials are refused, until an administrator
-- has fixed them: retries would only burn attempts (and lock accounts).
CREATE TABLE queue_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    paused_code   TEXT,
    paused_reply  TEXT,
    paused_at     INTEGER
);
