-- Alerts without mail: a webhook (its address is a sealed secret, `alert_webhook_url`, like a
-- password; the host is kept in clear to recognise it by).
ALTER TABLE mail_settings ADD COLUMN alerts_enabled INTEGER NOT NULL DEFAULT 0
    CHECK (alerts_enabled IN (0, 1));
ALTER TABLE mail_settings ADD COLUMN alert_webhook_host TEXT NOT NULL DEFAULT '';

-- Alerts waiting for the webhook, being retried, delivered or given up (done_at set). At most
-- one per event kind an hour is queued (alert_kinds), so the table stays small; the retention
-- sweep deletes done rows after 30 days.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event       TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL,
    detail      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    done_at     INTEGER,
    delivered   INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    last_error  TEXT
);
CREATE INDEX alerts_due ON alerts (next_at) WHERE done_at IS NULL;

-- When each event kind was last queued: one alert per kind per window, across processes.
CREATE TABLE alert_kinds (
    event    TEXT    PRIMARY KEY,
    last_at  INTEGER NOT NULL
);
