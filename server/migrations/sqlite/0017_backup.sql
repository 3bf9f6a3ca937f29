-- The backup connection: an SMTP server used when the primary connection cannot deliver for a
-- reason that is not the recipient's (backup_on 0/1; its password is the sealed secret
-- `backup_smtp_password`).
ALTER TABLE mail_settings ADD COLUMN backup_on INTEGER NOT NULL DEFAULT 0
    CHECK (backup_on IN (0, 1));
ALTER TABLE mail_settings ADD COLUMN backup_smtp_server TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN backup_smtp_port INTEGER;
ALTER TABLE mail_settings ADD COLUMN backup_smtp_user TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN backup_smtp_ssl INTEGER NOT NULL DEFAULT 1
    CHECK (backup_smtp_ssl IN (0, 1));

-- Which connection delivered a notification ('backup'; NULL: the primary), for the delivery log.
ALTER TABLE notifications ADD COLUMN delivered_via TEXT;

-- When the backup last delivered, and why the primary could not.
ALTER TABLE queue_state ADD COLUMN backup_used_at INTEGER;
ALTER TABLE queue_state ADD COLUMN backup_reason TEXT;
