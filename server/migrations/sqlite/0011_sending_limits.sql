-- Sending limits per connection (`smtp:<host>`, `microsoft`, `google`): a preset, or the
-- administrator's numbers. No row: the automatic preset for that connection.
CREATE TABLE sending_limits (
    connection          TEXT    PRIMARY KEY,
    preset              TEXT    NOT NULL CHECK (preset IN ('automatic', 'exchange_online',
                            'microsoft_graph', 'gmail', 'custom', 'unlimited')),
    per_minute          INTEGER,
    per_day             INTEGER,
    recipients_per_day  INTEGER,
    updated_at          INTEGER NOT NULL,
    updated_by          TEXT    NOT NULL
);

-- The outbox learns the status `waiting` (held back by the limits until next_attempt_at), and
-- which connection each claim went out through, when, to how many recipients: the limits'
-- windows count those. SQLite cannot change a CHECK constraint, so the table is rebuilt.
CREATE TABLE notifications_new (
    id               TEXT    PRIMARY KEY,
    actor            TEXT    NOT NULL,
    idempotency_key  TEXT,
    template_id      TEXT,
    recipients       TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    message_id       TEXT    NOT NULL,
    status           TEXT    NOT NULL
        CHECK (status IN ('queued', 'waiting', 'sending', 'sent', 'retrying', 'failed',
                          'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_error_code  TEXT,
    last_error_step  TEXT,
    last_error_reply TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    claimed_by       TEXT,
    recipient_count  INTEGER NOT NULL DEFAULT 1,
    via              TEXT,
    claimed_at       INTEGER,
    UNIQUE (actor, idempotency_key)
);
INSERT INTO notifications_new (id, actor, idempotency_key, template_id, recipients, subject,
    body, message_id, status, attempts, next_attempt_at, lease_until, last_error_code,
    last_error_step, last_error_reply, created_at, updated_at, sent_at, claimed_by,
    recipient_count)
SELECT id, actor, idempotency_key, template_id, recipients, subject, body, message_id, status,
    attempts, next_attempt_at, lease_until, last_error_code, last_error_step, last_error_reply,
    created_at, updated_at, sent_at, claimed_by,
    COALESCE(json_array_length(CASE WHEN json_valid(recipients) THEN recipients END), 1)
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX notifications_via ON notifications (via, claimed_at);
