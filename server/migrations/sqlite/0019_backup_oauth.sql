-- The backup connection may be a Microsoft 365 mailbox sent to through Graph with the app-only
-- flow (backup_kind 'oauth'), besides an SMTP server ('smtp'). Its client secret is the sealed
-- secret `backup_oauth_client_secret`.
ALTER TABLE mail_settings ADD COLUMN backup_kind TEXT NOT NULL DEFAULT 'smtp'
    CHECK (backup_kind IN ('smtp', 'oauth'));
ALTER TABLE mail_settings ADD COLUMN backup_oauth_tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN backup_oauth_client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN backup_oauth_secret_expires_on TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN backup_oauth_sender TEXT NOT NULL DEFAULT '';
