-- Microsoft app-only sending: the flow (`delegated`, the default, or `app_only`) and, for
-- app-only, the mailbox every notification is sent as.
ALTER TABLE mail_settings ADD COLUMN oauth_flow TEXT NOT NULL DEFAULT 'delegated'
    CHECK (oauth_flow IN ('delegated', 'app_only'));
ALTER TABLE mail_settings ADD COLUMN oauth_sender TEXT NOT NULL DEFAULT '';
