-- Several server processes on one database: a claimed notification names the process holding
-- its lease, and the OAuth connection names the process refreshing its tokens (until when), so
-- that a rotated refresh token is used once.
ALTER TABLE notifications ADD COLUMN claimed_by TEXT;
ALTER TABLE oauth_connection ADD COLUMN refresh_by TEXT;
ALTER TABLE oauth_connection ADD COLUMN refresh_until INTEGER;
