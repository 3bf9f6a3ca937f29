-- Server processes using this database, each with a heartbeat (Unix ms). Operator commands
-- that must not run beside a server (rotate-key) look here; a row not seen for 30 s is stale.
CREATE TABLE server_instances (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL
);
