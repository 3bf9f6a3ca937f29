-- Microsoft certificate credential: how the app proves itself at the token endpoint (`secret`,
-- the default, or `certificate`) and the uploaded certificate (PEM, public). Its private key
-- is a sealed secret (`oauth_certificate_key`) like the client secret.
ALTER TABLE mail_settings ADD COLUMN oauth_credential TEXT NOT NULL DEFAULT 'secret'
    CHECK (oauth_credential IN ('secret', 'certificate'));
ALTER TABLE mail_settings ADD COLUMN oauth_certificate TEXT;
