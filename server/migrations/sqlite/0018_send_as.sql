-- Delegated sending as another mailbox: a Microsoft shared mailbox (Mail.Send.Shared) or a
-- verified Gmail send-as alias of the connected account ('' = the account itself).
ALTER TABLE mail_settings ADD COLUMN oauth_send_as TEXT NOT NULL DEFAULT '';
