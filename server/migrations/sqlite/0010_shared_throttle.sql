-- Sign-in throttling shared by every server process on the database: one row per key
-- (`pair:<account>|<address>`, `account:<account>`: the limiter's theoretical arrival time;
-- `failed:<address>`: until when a failure counts as recent). Rows past their time are free to
-- delete (the retention sweep does).
CREATE TABLE throttle (
    key       TEXT    PRIMARY KEY,
    until_ms  INTEGER NOT NULL
);
CREATE INDEX throttle_until ON throttle (until_ms);
