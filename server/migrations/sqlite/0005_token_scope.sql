-- API token scopes and expiry. `admin`: settings, test mails, OAuth and submissions (what every
-- token could do before); `notify`: submissions only. Times are ISO 8601 UTC like the others.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin'
    CHECK (scope IN ('admin', 'notify'));
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;

-- A live token's name is unique (it is the actor in the audit log and the outbox). Earlier
-- duplicates keep working under a suffixed name.
UPDATE api_tokens SET name = name || ' (' || prefix || ')'
WHERE revoked_at IS NULL AND EXISTS (
    SELECT 1 FROM api_tokens older
    WHERE older.revoked_at IS NULL AND older.name = api_tokens.name COLLATE NOCASE
      AND older.id < api_tokens.id
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name COLLATE NOCASE)
    WHERE revoked_at IS NULL;
