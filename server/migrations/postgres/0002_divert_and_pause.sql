-- Divert and pause (staging and maintenance): every notification to one address instead of
-- its recipients (NULL = deliver normally), and a hold on all sending set by an administrator
-- (0/1; separate from the automatic pause after refused credentials in queue_state).
ALTER TABLE mail_settings ADD COLUMN divert_to TEXT;
ALTER TABLE mail_settings ADD COLUMN delivery_paused BIGINT NOT NULL DEFAULT 0
    CHECK (delivery_paused IN (0, 1));

-- The address a notification's last attempt went to instead of its recipients (divert was on
-- when it was claimed), for the delivery log.
ALTER TABLE notifications ADD COLUMN diverted_to TEXT;
