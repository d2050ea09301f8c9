-- Brokers placed on hosts by the reconciler (desired), and what agents report (observed).

CREATE TABLE brokers (
    id               uuid PRIMARY KEY,
    cluster_id       uuid NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    host_id          uuid NOT NULL REFERENCES hosts(id),
    node_id          integer NOT NULL CHECK (node_id >= 0),
    port             integer NOT NULL CHECK (port > 0 AND port < 65536),
    storage_backend  text NOT NULL,
    storage_bytes    bigint NOT NULL CHECK (storage_bytes > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, node_id),
    UNIQUE (host_id, port)
);
CREATE INDEX brokers_host ON brokers (host_id);

-- Rebuilt from heartbeats; a row older than the host's silence limit is stale.
CREATE TABLE broker_status (
    broker_id    uuid PRIMARY KEY REFERENCES brokers(id) ON DELETE CASCADE,
    running      boolean NOT NULL,
    answering    boolean NOT NULL,
    detail       text NOT NULL DEFAULT '',
    reported_at  timestamptz NOT NULL DEFAULT now()
);
