-- Each connect gives the connection a new random generation; a token refresh stores its result
-- only while the generation it started from is still the stored one, so a reconnect during a
-- refresh is never overwritten by the refresh.
ALTER TABLE oauth_connection ADD COLUMN generation TEXT NOT NULL DEFAULT '';
