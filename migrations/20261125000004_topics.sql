-- Topics managed through the control plane (desired state; applied over the Kafka protocol).
CREATE TABLE topics (
    id                  uuid PRIMARY KEY,
    cluster_id          uuid NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    name                text NOT NULL,
    partitions          integer NOT NULL CHECK (partitions > 0),
    replication_factor  integer NOT NULL CHECK (replication_factor > 0),
    configs             jsonb NOT NULL DEFAULT '{}',
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, name)
);
