-- Failed logins per username and per client address, for throttling password guessing
-- across every control-plane replica.
CREATE TABLE login_failures (
    key              text PRIMARY KEY,
    failures         integer NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    locked_until     timestamptz
);
