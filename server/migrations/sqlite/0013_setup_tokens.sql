-- The one-time set-up links, shared by every server process on the database: a link printed
-- by one process works on any other behind the same load balancer. Only a SHA-256 of each
-- token is kept; every row goes once the first administrator exists.
CREATE TABLE setup_tokens (
    hash        BLOB    PRIMARY KEY,
    created_at  INTEGER NOT NULL
);
